"""lebrq.http.forwarded: the client address behind trusted proxies."""

import pytest

from lebrq.http.forwarded import address_in, client_address, parse_networks

LOCAL = parse_networks(["127.0.0.1", "::1"])
PROXIES = parse_networks(["127.0.0.1", "10.0.0.0/8"])


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "trusted", "expected"),
    [
        ("203.0.113.5", None, LOCAL, "203.0.113.5"),
        ("203.0.113.5", "1.2.3.4", LOCAL, "203.0.113.5"),  # untrusted peer: its header is ignored
        ("127.0.0.1", None, LOCAL, "127.0.0.1"),
        ("127.0.0.1", "198.51.100.7", LOCAL, "198.51.100.7"),
        ("127.0.0.1", "6.6.6.6, 198.51.100.7", LOCAL, "198.51.100.7"),  # the client's own hop is not believed
        ("127.0.0.1", "198.51.100.7, 10.1.2.3", PROXIES, "198.51.100.7"),  # two proxies of ours
        ("127.0.0.1", "10.1.2.3, 10.4.5.6", PROXIES, "10.1.2.3"),  # all trusted: the left-most
        ("127.0.0.1", "unknown, 198.51.100.7", LOCAL, "198.51.100.7"),
        ("127.0.0.1", "198.51.100.7, garbage", LOCAL, "garbage"),  # not written by a proxy of ours: stop there
        ("::1", "2001:db8::1", LOCAL, "2001:db8::1"),
        ("127.0.0.1", " , ", LOCAL, "127.0.0.1"),
        ("127.0.0.1", "198.51.100.7", (), "127.0.0.1"),
    ],
)
def test_client_address(peer, forwarded_for, trusted, expected):
    assert client_address(peer, forwarded_for, trusted) == expected


def test_address_in():
    assert address_in("10.200.0.1", PROXIES)
    assert address_in("::ffff:127.0.0.1", LOCAL)  # IPv4-mapped IPv6
    assert address_in("[::1]", LOCAL)
    assert not address_in("11.0.0.1", PROXIES)
    assert not address_in("not an address", PROXIES)
    assert not address_in("", PROXIES)


def test_parse_networks_refuses_garbage():
    assert parse_networks(["127.0.0.1", " ", "10.0.0.0/8"]) == PROXIES
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 network"):
        parse_networks(["localhost"])
