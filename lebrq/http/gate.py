"""`AdmissionGate`: the ASGI wrapper that applies `lebrq.http.admission` in each uvicorn server (one per worker
process), made by `gate_for` from uvicorn's ``--limit-concurrency`` and Django's settings; the protocol classes of
`lebrq.http.protocols` put it in front of the application."""

import asyncio
import collections
import logging

from lebrq.http.admission import admits, counted, overload_body
from lebrq.http.guards import send_json

logger = logging.getLogger("lebrq.admission")

#: The ASGI scope key under which a deferred gate hands itself to the application's `AdmissionPoint`.
SCOPE_KEY = "lebrq.admission"


class AdmissionGate:
    """ASGI wrapper counting requests in flight in one worker process and refusing those past ``limit``.

    A request counts from its start until its response starts or the application returns, whichever comes first
    (`lebrq.http.admission`); with ``deferred``, from the moment it reaches the application's `AdmissionPoint`
    instead (the gate puts itself in the scope under `SCOPE_KEY`). ``limit`` None admits everything; ``retry_after``
    is seconds, sent both as the ``Retry-After`` header and in the body. A request past the limit waits up to
    ``queue_timeout`` seconds for a slot (first come, first served) before it is refused: a short burst is served
    rather than answered 503.
    """

    def __init__(self, app, limit: int | None, retry_after: int, queue_timeout: float = 0.0, deferred: bool = False):
        self.app = app
        self.limit = limit
        self.retry_after = retry_after
        self.queue_timeout = queue_timeout
        self.deferred = deferred
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
        if self.deferred:  # counted where the application's `AdmissionPoint` is
            scope[SCOPE_KEY] = self
            return await self.app(scope, receive, send)
        await self.admit(self.app, scope, receive, send)

    async def admit(self, app, scope, receive, send) -> None:
        """Run ``app`` for the request once it has a slot (counted until its response starts), or refuse it."""
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
            await app(scope, receive, counting_send)
        finally:
            release()


class AdmissionPoint:
    """Where a deferred `AdmissionGate` (the one `gate_for` makes) counts a request: `lebrq.asgi` puts it behind
    the guards that answer from the request head alone (memory shedding; for a request that declares a body,
    `lebrq.http.early.HeadGuard`'s 404/401/405/413/411/429 and the per-kind upload limits), so that those answers
    — microseconds each, no thread, no database — never take a slot nor wait for one. Measured with
    `bench/abuse.py`: 60 clients sending anonymous uploads, answered 401 and back 0.2 s later, filled the 30 slots
    whenever the event loop fell behind. Without a gate in the scope (another server, a test) the request passes
    through; a process that never builds one keeps a gate that counts by itself (`gate_for`)."""

    #: Whether this process has built one (`gate_for` defers to it only then).
    built = False

    def __init__(self, app):
        self.app = app
        AdmissionPoint.built = True

    async def __call__(self, scope, receive, send):
        gate = scope.get(SCOPE_KEY) if scope["type"] == "http" else None
        if gate is None:
            return await self.app(scope, receive, send)
        await gate.admit(self.app, scope, receive, send)


def gate_for(config, server_state) -> AdmissionGate:
    """The one `AdmissionGate` of a uvicorn server (kept on its ``server_state``), made on first use (the first
    connection, after the application is loaded): deferred to the application's `AdmissionPoint` when the process
    has built one (`lebrq.asgi` does), else counting requests from their head."""
    gate = getattr(server_state, "lebrq_admission", None)
    if gate is None:
        from django.conf import settings

        gate = AdmissionGate(
            config.loaded_app,
            config.limit_concurrency,
            settings.OVERLOAD_RETRY_AFTER,
            settings.ADMISSION_QUEUE_TIMEOUT,
            deferred=AdmissionPoint.built,  # counted at the application's `AdmissionPoint`, if it has one
        )
        if not gate.deferred:
            logger.warning("[Admission] the application has no AdmissionPoint: requests count from their head")
        server_state.lebrq_admission = gate
    return gate
