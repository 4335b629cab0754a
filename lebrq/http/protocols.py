"""uvicorn's HTTP protocol classes with LeBRQ's admission control (`lebrq.http.admission`).

uvicorn enforces ``--limit-concurrency`` inside its protocol classes, against open connections. These subclasses
turn that check off and apply the same number, through `AdmissionGate`, to requests being computed; a refused
request gets the project's JSON 503 with ``Retry-After`` instead of uvicorn's plain-text one.

Select them by import string, for uvicorn's command line (``--http`` or ``UVICORN_HTTP``) and for
`lebrq.workers.UvicornWorker` alike:

- ``lebrq.http.protocols:AutoHTTPProtocol``: httptools when it is installed, else h11 (uvicorn's "auto");
- ``lebrq.http.protocols:HttpToolsProtocol`` and ``lebrq.http.protocols:H11Protocol``: one parser explicitly.
"""

import asyncio
import logging

from uvicorn.protocols.http.h11_impl import H11Protocol as BaseH11Protocol

from lebrq.http.admission import admits, counted, overload_body
from lebrq.http.guards import send_json

logger = logging.getLogger("lebrq.admission")


class AdmissionGate:
    """ASGI wrapper counting requests in flight in one worker process and refusing those past ``limit``.

    A request counts from its start until its response starts or the application returns, whichever comes first
    (`lebrq.http.admission`). ``limit`` None admits everything; ``retry_after`` is seconds, sent both as the
    ``Retry-After`` header and in the body.
    """

    def __init__(self, app, limit: int | None, retry_after: int):
        self.app = app
        self.limit = limit
        self.retry_after = retry_after
        self.in_flight = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not counted(scope["path"]):
            return await self.app(scope, receive, send)
        if not admits(scope["path"], self.in_flight, self.limit):
            method, path = scope["method"], scope["path"]
            logger.warning("[Admission] 503 for %s %s: %d requests in flight", method, path, self.in_flight)
            headers = {"Retry-After": str(self.retry_after)}
            return await send_json(send, 503, overload_body(self.retry_after), headers)
        self.in_flight += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.in_flight -= 1

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

        gate = AdmissionGate(config.loaded_app, config.limit_concurrency, settings.OVERLOAD_RETRY_AFTER)
        server_state.lebrq_admission = gate
    return gate


class AdmissionMixin:
    """Replaces uvicorn's per-connection ``limit_concurrency`` check by the server's `AdmissionGate`."""

    def __init__(self, config, server_state, app_state, _loop: asyncio.AbstractEventLoop | None = None):
        super().__init__(config, server_state, app_state, _loop)
        self.app = gate_for(config, server_state)
        self.limit_concurrency = None  # uvicorn's socket count: off; the gate counts requests


class H11Protocol(AdmissionMixin, BaseH11Protocol):
    """uvicorn's h11 protocol with `AdmissionMixin`."""


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as BaseHttpToolsProtocol
except ImportError:  # httptools is not installed: h11 only
    HttpToolsProtocol = None
    AutoHTTPProtocol = H11Protocol
else:

    class HttpToolsProtocol(AdmissionMixin, BaseHttpToolsProtocol):
        """uvicorn's httptools protocol with `AdmissionMixin`."""

    AutoHTTPProtocol = HttpToolsProtocol
