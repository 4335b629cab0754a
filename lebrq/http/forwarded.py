"""The client's address behind proxies: X-Forwarded-For read only as far as trusted hops go.

Each proxy appends the address it received the request from to ``X-Forwarded-For`` (de-facto standard; RFC 7239
§5.2 describes the same chain for ``Forwarded: for=``). Only hops added by proxies we run can be believed: the
client can put anything at the left of the header. So the chain is walked from the right, starting with the peer
of the TCP connection, and the first address that is not a trusted proxy is the client.
"""

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """``["127.0.0.1", "10.0.0.0/8", "::1"]`` → networks (a bare address is a /32 or /128).

    Raises ValueError for an entry that is neither an address nor a network."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def address_in(address: str, networks: Iterable[Network]) -> bool:
    """Whether ``address`` (IPv4 or IPv6 text; an IPv4-mapped IPv6 address counts as IPv4) lies in one of
    ``networks``; False for text that is not an address."""
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip.version == network.version and ip in network for network in networks)


def client_address(peer: str, forwarded_for: str | None, trusted: Iterable[Network]) -> str:
    """The client's address: ``peer`` (the TCP peer, Django's ``REMOTE_ADDR``) unless it is a trusted proxy, in
    which case the right-most ``forwarded_for`` hop that is not a trusted proxy (or the left-most hop, when every
    hop is trusted). A hop that is not an IP address ends the walk: it was not written by a proxy of ours."""
    trusted = tuple(trusted)
    if not address_in(peer, trusted) or not forwarded_for:
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    current = peer
    for hop in reversed(hops):
        current = hop
        if not address_in(hop, trusted):
            break
    return current


def request_client_address(meta: dict, trusted: Iterable[Network]) -> str:
    """`client_address` of a Django request's ``META`` (``REMOTE_ADDR``, ``HTTP_X_FORWARDED_FOR``)."""
    return client_address(meta.get("REMOTE_ADDR") or "", meta.get("HTTP_X_FORWARDED_FOR"), trusted)
