"""Deadlines and sizes for each phase of a request on one connection, as plain values and decisions.

`lebrq.http.protocols` applies them in uvicorn's protocol classes:

- the request head (request line and header fields) must be complete within ``header_timeout`` seconds of the
  connection opening or of the previous response ending, else the connection is closed; a head larger than
  ``header_max_bytes`` is answered 431 (RFC 6585 §5) and the connection closed — on both HTTP parsers;
- a request body must arrive at ``body_min_rate`` bytes/s or faster, measured over ``body_window``-second
  windows once ``body_grace`` seconds have passed since the head (nginx's ``client_body_timeout`` in spirit),
  else it is answered 408 (RFC 9110 §15.5.9) if no response has started, and dropped;
- a client that reads nothing of the response for ``send_timeout`` seconds (the server's write buffer stays
  full) is disconnected.
"""

import re
from dataclasses import dataclass

HEAD_END = b"\r\n\r\n"
REQUEST_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}) ([^ \r\n]{1,8192}) HTTP/")
ORIGIN_FIELD = re.compile(rb"\r\norigin:[ \t]*([^\r\n]{1,2048})", re.IGNORECASE)


@dataclass(frozen=True)
class Deadlines:
    """Per-connection limits: seconds, bytes and bytes/s (0 turns a limit off). Defaults are the settings'."""

    header_timeout: float = 10.0
    header_max_bytes: int = 16 * 1024
    body_min_rate: int = 1024
    body_window: float = 10.0
    body_grace: float = 10.0
    send_timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings) -> "Deadlines":
        """The limits named ``REQUEST_HEADER_TIMEOUT``, ``REQUEST_HEADER_MAX_BYTES``, ``REQUEST_BODY_MIN_RATE``,
        ``REQUEST_BODY_RATE_WINDOW``, ``REQUEST_BODY_GRACE`` and ``SEND_TIMEOUT`` in Django's ``settings``."""
        return cls(
            header_timeout=settings.REQUEST_HEADER_TIMEOUT,
            header_max_bytes=settings.REQUEST_HEADER_MAX_BYTES,
            body_min_rate=settings.REQUEST_BODY_MIN_RATE,
            body_window=settings.REQUEST_BODY_RATE_WINDOW,
            body_grace=settings.REQUEST_BODY_GRACE,
            send_timeout=settings.SEND_TIMEOUT,
        )


def head_progress(seen: int, tail: bytes, data: bytes) -> tuple[int, bool, bytes]:
    """Track the size of a request head arriving in pieces.

    ``seen``: head bytes received before ``data``; ``tail``: the last (up to 3) of them, so that a ``CRLF CRLF``
    split across pieces is found. Returns ``(size, complete, tail)``: the head's size so far in bytes — its
    whole size, terminator included, when ``complete`` — and the tail to pass with the next piece.
    """
    buffer = tail + data
    end = buffer.find(HEAD_END)
    if end >= 0:
        return seen - len(tail) + end + len(HEAD_END), True, b""
    return seen + len(data), False, buffer[-3:]


def head_request(head: bytes) -> tuple[str, str, str | None]:
    """``(method, path, origin)`` read from the start of a request head that will not be parsed (too large): the
    request line's method and path (query dropped; ``("GET", "/")`` when it is unreadable) and the first
    ``Origin`` field's value (None without one), for the CORS headers of the answer (RFC 9112 §3, RFC 6454 §7)."""
    line = REQUEST_LINE.match(head)
    method, path = (line[1].decode("ascii"), line[2].split(b"?", 1)[0].decode("latin-1")) if line else ("GET", "/")
    origin = ORIGIN_FIELD.search(head)
    return method, path, origin[1].strip().decode("latin-1") if origin else None


def body_too_slow(received: int, window: float, min_rate: int) -> bool:
    """Whether ``received`` bytes in one ``window`` (seconds) is below ``min_rate`` bytes/s."""
    return min_rate > 0 and received < min_rate * window
