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
import collections
import json
import logging

from uvicorn.protocols.http.h11_impl import H11Protocol as BaseH11Protocol

from lebrq.errors import error_body
from lebrq.http.admission import admits, counted, overload_body
from lebrq.http.deadlines import Deadlines, body_too_slow, head_progress
from lebrq.http.guards import send_json
from lebrq.sizes import human_size

logger = logging.getLogger("lebrq.admission")

#: Seconds an idle or fresh connection stays open once the server starts shutting down: a request already on its
#: way is still served (its response then closes the connection) instead of meeting a closed socket.
DRAIN_IDLE_GRACE = 2.0


class AdmissionGate:
    """ASGI wrapper counting requests in flight in one worker process and refusing those past ``limit``.

    A request counts from its start until its response starts or the application returns, whichever comes first
    (`lebrq.http.admission`). ``limit`` None admits everything; ``retry_after`` is seconds, sent both as the
    ``Retry-After`` header and in the body. A request past the limit waits up to ``queue_timeout`` seconds for a
    slot (first come, first served) before it is refused: a burst of a few milliseconds is absorbed rather than
    answered 503.
    """

    def __init__(self, app, limit: int | None, retry_after: int, queue_timeout: float = 0.0):
        self.app = app
        self.limit = limit
        self.retry_after = retry_after
        self.queue_timeout = queue_timeout
        self.in_flight = 0
        self.waiters: collections.deque[asyncio.Future] = collections.deque()

    async def wait_for_slot(self, path: str) -> bool:
        """Take a slot, waiting up to ``queue_timeout`` seconds for one; True when taken (``in_flight`` counts
        it), False when refused."""
        if admits(path, self.in_flight, self.limit) and not self.waiters:
            self.in_flight += 1
            return True
        if self.queue_timeout <= 0:
            return False
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.queue_timeout)
        except TimeoutError:
            pass
        finally:
            if waiter in self.waiters:
                self.waiters.remove(waiter)
        return waiter.done()  # resolved by `wake_next`, which counted the slot in

    async def refuse(self, scope, receive, send) -> None:
        """The JSON 503 ``overloaded`` with ``Retry-After``, and the CORS headers of an allowed ``Origin`` (the one
        helper of every layer: `lebrq.http.cors`)."""
        from lebrq.http.cors import CorsHeadersGuard  # django-cors-headers: Django is set up once requests arrive

        async def answer(scope, receive, send):
            await send_json(send, 503, overload_body(self.retry_after), {"Retry-After": str(self.retry_after)})

        await CorsHeadersGuard(answer)(scope, receive, send)

    def wake_next(self) -> None:
        """A slot was freed: hand it to the oldest waiter, counting it in on the waiter's behalf."""
        while self.waiters and admits("", self.in_flight, self.limit):
            waiter = self.waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not counted(scope["path"]):
            return await self.app(scope, receive, send)
        if not await self.wait_for_slot(scope["path"]):
            method, path = scope["method"], scope["path"]
            logger.warning("[Admission] 503 for %s %s: %d requests in flight", method, path, self.in_flight)
            return await self.refuse(scope, receive, send)
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.in_flight -= 1
                self.wake_next()

        async def counting_send(message):
            if message["type"] == "http.response.start":
                release()
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            release()


def gate_for(config, server_state) -> AdmissionGate:
    """The one `AdmissionGate` of a uvicorn server (kept on its ``server_state``), made on first use."""
    gate = getattr(server_state, "lebrq_admission", None)
    if gate is None:
        from django.conf import settings

        gate = AdmissionGate(
            config.loaded_app,
            config.limit_concurrency,
            settings.OVERLOAD_RETRY_AFTER,
            settings.ADMISSION_QUEUE_TIMEOUT,
        )
        server_state.lebrq_admission = gate
    return gate


def deadlines_for(server_state) -> Deadlines:
    """The `Deadlines` of a uvicorn server (read from Django's settings once, kept on its ``server_state``)."""
    deadlines = getattr(server_state, "lebrq_deadlines", None)
    if deadlines is None:
        from django.conf import settings

        deadlines = Deadlines.from_settings(settings)
        server_state.lebrq_deadlines = deadlines
    return deadlines


def json_error_response(status: int, reason: str, body: dict) -> bytes:
    """A complete HTTP/1.1 response carrying ``body`` as JSON, asking to close the connection."""
    payload = json.dumps(body).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(payload)}\r\n"
        "connection: close\r\n\r\n"
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
        self.head_seen, self.head_tail = 0, b""
        self.head_timer: asyncio.TimerHandle | None = None
        self.body_timer: asyncio.TimerHandle | None = None
        self.body_received = 0
        self.send_timer: asyncio.TimerHandle | None = None
        self.draining = False
        self.drain_timer: asyncio.TimerHandle | None = None

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
                return self.refuse_head(size)
        else:
            self.body_received += len(data)
        previous = self.cycle
        super().data_received(data)
        if self.cycle is not previous and self.cycle is not None:
            self.head_completed()

    def on_response_complete(self) -> None:
        previous = self.cycle
        super().on_response_complete()
        self.cancel_body_timer()
        if self.cycle is not previous:  # h11 started a pipelined request
            self.head_completed()
        elif not self.transport.is_closing():
            self.awaiting_head = True
            self.head_seen, self.head_tail = 0, b""
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
        self.head_seen, self.head_tail = 0, b""
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
        self.transport.write(json_error_response(400, "Bad Request", error_body(detail, "bad_request")))
        self.transport.close()

    def refuse_head(self, size: int) -> None:
        limit = self.deadlines.header_max_bytes
        logger.warning("[Deadline] 431 for %s: request head over %d bytes", self.client, limit)
        detail = f"The request head (request line and header fields) may be at most {human_size(limit)}."
        self.transport.write(
            json_error_response(431, "Request Header Fields Too Large", error_body(detail, "header_too_large"))
        )
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
                self.transport.write(json_error_response(408, "Request Timeout", error_body(detail, "request_timeout")))
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
    """uvicorn's h11 protocol with `LeBRQProtocolMixin`."""


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as BaseHttpToolsProtocol
except ImportError:  # httptools is not installed: h11 only
    HttpToolsProtocol = None
    AutoHTTPProtocol = H11Protocol
else:

    class HttpToolsProtocol(LeBRQProtocolMixin, BaseHttpToolsProtocol):
        """uvicorn's httptools protocol with `LeBRQProtocolMixin`."""

    AutoHTTPProtocol = HttpToolsProtocol
