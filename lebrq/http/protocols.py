"""uvicorn's HTTP protocol classes with LeBRQ's admission control (`lebrq.http.admission`) and per-phase
deadlines and sizes (`lebrq.http.deadlines`).

uvicorn enforces ``--limit-concurrency`` inside its protocol classes, against open connections. These subclasses
turn that check off and apply the same number, through `AdmissionGate`, to requests being computed; a refused
request gets the project's JSON 503 with ``Retry-After`` instead of uvicorn's plain-text one.

Select them by import string, for uvicorn's command line (``--http`` or ``UVICORN_HTTP``) and for
`lebrq.workers.UvicornWorker` alike:

- ``lebrq.http.protocols:AutoHTTPProtocol``: httptools when it is installed, else h11 (uvicorn's "auto");
- ``lebrq.http.protocols:HttpToolsProtocol`` and ``lebrq.http.protocols:H11Protocol``: one parser explicitly.
"""

import asyncio
import json
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol as BaseH11Protocol

from lebrq.errors import error_body
from lebrq.http.deadlines import HEAD_END, Deadlines, body_too_slow, head_progress, head_request
from lebrq.http.gate import AdmissionGate, gate_for
from lebrq.sizes import human_size

logger = logging.getLogger("lebrq.admission")

__all__ = ["AdmissionGate", "AutoHTTPProtocol", "H11Protocol", "HttpToolsProtocol", "gate_for"]

#: Seconds an idle or fresh connection stays open once the server starts shutting down: a request already on its
#: way is still served (its response then closes the connection) instead of meeting a closed socket.
DRAIN_IDLE_GRACE = 2.0


def deadlines_for(server_state) -> Deadlines:
    """The `Deadlines` of a uvicorn server (read from Django's settings once, kept on its ``server_state``)."""
    deadlines = getattr(server_state, "lebrq_deadlines", None)
    if deadlines is None:
        from django.conf import settings

        deadlines = Deadlines.from_settings(settings)
        server_state.lebrq_deadlines = deadlines
    return deadlines


def json_error_response(status: int, reason: str, body: dict, request: tuple[str, str, str | None]) -> bytes:
    """A complete HTTP/1.1 response carrying ``body`` as JSON, asking to close the connection, with the CORS
    headers django-cors-headers gives ``request`` — ``(method, path, origin or None)`` — from an allowed origin
    (`lebrq.http.cors`), as every other answer of the service has them."""
    from lebrq.http.cors import cors_headers  # django-cors-headers: Django is set up once requests arrive

    method, path, origin = request
    extra = "".join(f"{name}: {value}\r\n" for name, value in cors_headers(method, path, origin)) if origin else ""
    payload = json.dumps(body).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(payload)}\r\n"
        f"{extra}connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + payload


class LeBRQProtocolMixin:
    """Admission by `AdmissionGate` instead of uvicorn's socket count, and the `Deadlines` of each phase.

    State per connection: ``awaiting_head`` from the connection's start, and again from the end of each
    response, until the parser completes a request head (uvicorn then makes a new request cycle).
    """

    def __init__(self, config, server_state, app_state, _loop: asyncio.AbstractEventLoop | None = None):
        self.deadlines = deadlines_for(server_state)
        if config.h11_max_incomplete_event_size is None and self.deadlines.header_max_bytes:
            # h11 answers a plain-text 400 past its own limit (16 KiB): keep it above ours, which answers 431.
            config.h11_max_incomplete_event_size = self.deadlines.header_max_bytes + 1024
        super().__init__(config, server_state, app_state, _loop)
        self.app = gate_for(config, server_state)
        self.limit_concurrency = None  # uvicorn's socket count: off; the gate counts requests
        self.awaiting_head = True
        self.head_seen, self.head_tail, self.head_start = 0, b"", b""
        self.head_timer: asyncio.TimerHandle | None = None
        self.body_timer: asyncio.TimerHandle | None = None
        self.body_received = 0
        self.send_timer: asyncio.TimerHandle | None = None
        self.draining = False
        self.drain_timer: asyncio.TimerHandle | None = None
        self.refused_head_size = 0  # a pipelined head over the limit, refused once the response before it ends
        self.refused_head_request: tuple[str, str, str | None] = ("GET", "/", None)

    # --- connection events -----------------------------------------------------------------------------------

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.arm_head_timer()

    def connection_lost(self, exc) -> None:
        for timer in (self.head_timer, self.body_timer, self.send_timer, self.drain_timer):
            if timer is not None:
                timer.cancel()
        self.head_timer = self.body_timer = self.send_timer = self.drain_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        limit = self.deadlines.header_max_bytes
        if self.awaiting_head:
            size, complete, self.head_tail = head_progress(self.head_seen, self.head_tail, data)
            self.head_seen = 0 if complete else size
            if limit and size > limit:
                return self.refuse_head(size, head_request(self.head_start + data))
            # The head's first bytes, kept while it spans pieces: the request line and Origin of a 431.
            self.head_start = b"" if complete else (self.head_start + data)[:limit]
        else:
            self.body_received += len(data)
        previous = self.cycle
        super().data_received(data)
        if self.cycle is not previous and self.cycle is not None:
            self.head_completed()

    def on_response_complete(self) -> None:
        if self.refused_head_size:  # a pipelined head over the limit waited for this response to end
            return self.refuse_head(self.refused_head_size, self.refused_head_request)
        previous = self.cycle
        super().on_response_complete()
        self.cancel_body_timer()
        if self.cycle is not previous or not self.cycle.response_complete:
            self.head_completed()  # a pipelined request started (h11: a new cycle; httptools: the queued one)
        elif not self.transport.is_closing():
            self.awaiting_head = True
            self.head_seen, self.head_tail, self.head_start = 0, b"", b""
            self.arm_head_timer()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.deadlines.send_timeout and self.send_timer is None:
            self.send_timer = self.loop.call_later(self.deadlines.send_timeout, self.send_timed_out)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.send_timer is not None:
            self.send_timer.cancel()
            self.send_timer = None

    def shutdown(self) -> None:
        """Called by the server when it starts shutting down (SIGTERM, SIGHUP, ``max_requests``).

        uvicorn closes idle connections at once; a request whose bytes are already on the way then meets a
        closed socket (a reset when they had arrived unread). Here an idle or fresh connection gets
        `DRAIN_IDLE_GRACE` seconds: a request arriving meanwhile is served and its response closes the
        connection; otherwise the connection is closed as idle. A request in progress finishes, then closes.
        """
        self.draining = True
        if self.cycle is None or self.cycle.response_complete:
            if self.drain_timer is None:
                self.drain_timer = self.loop.call_later(DRAIN_IDLE_GRACE, self.close_if_idle)
        else:
            super().shutdown()

    def close_if_idle(self) -> None:
        self.drain_timer = None
        if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
            self.timeout_keep_alive_handler()  # uvicorn's close of an idle connection (h11: its state, too)

    # --- the request head ------------------------------------------------------------------------------------

    def arm_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
        self.head_timer = None
        if self.deadlines.header_timeout:
            self.head_timer = self.loop.call_later(self.deadlines.header_timeout, self.head_timed_out)

    def head_completed(self) -> None:
        if self.draining:
            self.cycle.keep_alive = False  # served, then the connection closes
        self.awaiting_head = False
        self.head_seen, self.head_tail, self.head_start = 0, b"", b""
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
        self.cancel_body_timer()
        if self.deadlines.body_min_rate and self.cycle.more_body:
            self.body_received = 0
            self.body_timer = self.loop.call_later(self.deadlines.body_grace, self.check_body_rate, True)

    def head_timed_out(self) -> None:
        self.head_timer = None
        idle = self.cycle is None or self.cycle.response_complete
        if self.awaiting_head and idle and not self.transport.is_closing():
            logger.info(
                "[Deadline] closing %s: no complete request head in %ss", self.client, self.deadlines.header_timeout
            )
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """A request the HTTP parser cannot read (uvicorn answers it in plain text): 400 ``bad_request``."""
        detail = "The request is not valid HTTP/1.1."
        body = error_body(detail, "bad_request")
        self.transport.write(json_error_response(400, "Bad Request", body, ("", "", None)))
        self.transport.close()

    def head_over_limit(self, size: int, request: tuple[str, str, str | None]) -> None:
        """A head of ``size`` bytes (over the limit) was found by the parser: 431 now, or — when it was pipelined
        behind a request still being answered — once that response has ended (reading stops meanwhile).
        ``request``: its ``(method, path, origin)`` as far as known, for the CORS headers."""
        if self.cycle is None or self.cycle.response_complete:
            return self.refuse_head(size, request)
        self.refused_head_size, self.refused_head_request = size, request
        self.flow.pause_reading()

    def refuse_head(self, size: int, request: tuple[str, str, str | None]) -> None:
        self.refused_head_size = size
        limit = self.deadlines.header_max_bytes
        logger.warning("[Deadline] 431 for %s: request head over %d bytes", self.client, limit)
        detail = f"The request head (request line and header fields) may be at most {human_size(limit)}."
        body = error_body(detail, "header_too_large")
        self.transport.write(json_error_response(431, "Request Header Fields Too Large", body, request))
        self.transport.close()

    # --- the request body ------------------------------------------------------------------------------------

    def cancel_body_timer(self) -> None:
        if self.body_timer is not None:
            self.body_timer.cancel()
            self.body_timer = None

    def check_body_rate(self, first: bool = False) -> None:
        """Every ``body_window`` seconds while the body is arriving: drop it when it came too slowly."""
        self.body_timer = None
        cycle = self.cycle
        if cycle is None or not cycle.more_body or cycle.response_complete or self.transport.is_closing():
            return
        waiting = self.flow.read_paused or getattr(cycle, "waiting_for_100_continue", False)
        slow = not first and not waiting
        slow = slow and body_too_slow(self.body_received, self.deadlines.body_window, self.deadlines.body_min_rate)
        if slow:
            logger.warning(
                "[Deadline] 408 for %s %s: %d body bytes in %ss",
                cycle.scope["method"],
                cycle.scope["path"],
                self.body_received,
                self.deadlines.body_window,
            )
            if not cycle.response_started:
                detail = f"The request body arrived slower than {self.deadlines.body_min_rate} bytes per second."
                scope = cycle.scope
                origin = next((value for name, value in scope["headers"] if name == b"origin"), None)
                request = (scope["method"], scope["path"], origin.decode("latin-1") if origin is not None else None)
                body = error_body(detail, "request_timeout")
                self.transport.write(json_error_response(408, "Request Timeout", body, request))
            self.transport.close()
            return
        self.body_received = 0
        self.body_timer = self.loop.call_later(self.deadlines.body_window, self.check_body_rate)

    # --- the response ----------------------------------------------------------------------------------------

    def send_timed_out(self) -> None:
        self.send_timer = None
        if not self.transport.is_closing():
            logger.warning(
                "[Deadline] disconnecting %s: read nothing for %ss", self.client, self.deadlines.send_timeout
            )
            self.transport.abort()


class H11Protocol(LeBRQProtocolMixin, BaseH11Protocol):
    """uvicorn's h11 protocol with `LeBRQProtocolMixin`.

    h11 holds a pipelined request's bytes in its own buffer until the response before it has ended, then parses
    them at once: the head limit is checked on that buffer whenever h11 waits for a new request head.
    """

    def handle_events(self) -> None:
        limit = self.deadlines.header_max_bytes
        if limit and self.conn.their_state is h11.IDLE and not self.refused_head_size:
            buffered, _ = self.conn.trailing_data
            end = buffered.find(HEAD_END, 0, limit + len(HEAD_END))
            size = end + len(HEAD_END) if end >= 0 else len(buffered)
            if size > limit:
                return self.head_over_limit(size, head_request(buffered[: limit + len(HEAD_END)]))
        super().handle_events()


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as BaseHttpToolsProtocol
except ImportError:  # httptools is not installed: h11 only
    HttpToolsProtocol = None
    AutoHTTPProtocol = H11Protocol
else:

    class HeadTooLarge(Exception):
        """Raised from a parser callback to stop httptools at a head over the limit."""

    class HttpToolsProtocol(LeBRQProtocolMixin, BaseHttpToolsProtocol):
        """uvicorn's httptools protocol with `LeBRQProtocolMixin`.

        httptools parses a pipelined request's head while the request before it is still being answered, where
        `LeBRQProtocolMixin` counts bytes as body: each head is measured from the parser's callbacks too — the
        request target and header fields parsed so far, and the pieces received whole while the head is open
        (httptools buffers a header field until it ends) — so no head passes the limit by more than one piece.
        """

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.parsing_head = self.head_open = False
            self.parsed_head_bytes = self.head_piece_bytes = 0

        def data_received(self, data: bytes) -> None:
            if self.refused_head_size:
                return
            if self.head_open:  # a head begun in an earlier piece: this whole piece belongs to it so far
                self.head_piece_bytes += len(data)
                if self.over_limit(self.head_piece_bytes):
                    return self.head_over_limit(self.head_piece_bytes, self.parsed_request())
            super().data_received(data)
            self.head_open = self.parsing_head and not self.refused_head_size

        def over_limit(self, size: int) -> bool:
            return bool(self.deadlines.header_max_bytes) and size > self.deadlines.header_max_bytes

        def count_head(self, size: int) -> None:
            self.parsed_head_bytes += size
            if self.over_limit(self.parsed_head_bytes):
                self.head_over_limit(max(self.parsed_head_bytes, self.head_piece_bytes), self.parsed_request())
                raise HeadTooLarge  # stops the parser (uvicorn's 400 for it is skipped: send_400_response)

        def parsed_request(self) -> tuple[str, str, str | None]:
            """``(method, path, origin)`` of the head being parsed, as far as parsed."""
            try:
                method = self.parser.get_method().decode("ascii")
            except Exception:  # the request line is not parsed yet
                method = "GET"
            path = self.url.split(b"?", 1)[0].decode("latin-1") or "/"
            origin = next((value for name, value in self.headers if name == b"origin"), None)
            return method, path, origin.decode("latin-1") if origin is not None else None

        def send_400_response(self, msg: str) -> None:
            if not self.refused_head_size:
                super().send_400_response(msg)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.parsing_head = True
            self.parsed_head_bytes = self.head_piece_bytes = 0

        def on_url(self, url: bytes) -> None:
            super().on_url(url)
            self.count_head(len(url))

        def on_header(self, name: bytes, value: bytes) -> None:
            super().on_header(name, value)
            self.count_head(len(name) + len(value) + 4)  # "name: value\r\n"

        def on_headers_complete(self) -> None:
            self.parsing_head = False
            super().on_headers_complete()

    AutoHTTPProtocol = HttpToolsProtocol
