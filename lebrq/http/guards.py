"""Pure-ASGI guards in front of Django: they decide from the request line and headers alone, before any of the
body is read, so a refused upload costs nothing (with ``Expect: 100-continue`` the client never sends it).

- `UploadLimitGuard`: ``POST /api/uploads/<kind>`` with a ``Content-Length`` above ``UPLOAD_MAX_BYTES[kind]``
  → 413; without a ``Content-Length`` (chunked) → 411, since Django's multipart parser would silently see no file.
- `MemoryGuard`: sheds load with 503 + ``Retry-After`` when memory use is high, in two stages with hysteresis
  (modelled on Envoy's overload manager), and turns a `MemoryError` into a 503 after a full collection.
"""

import gc
import json
import logging
import re
from collections.abc import Awaitable, Callable

from lebrq.errors import error_body, memory_pressure_body
from lebrq.memory import MemorySampler
from lebrq.sizes import upload_too_large_detail
from lebrq.upload_kinds import UPLOAD_PATH

logger = logging.getLogger("lebrq.memory")

Scope = dict
ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]

#: Paths never shed: liveness/readiness/memory reports and the admin login page.
EXEMPT_PATHS = re.compile(r"^/(api/)?health(/|$)|^/admin/login/")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def send_json(send, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
    """Send a complete JSON response (``body`` is small) through ASGI ``send``."""
    payload = json.dumps(body).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw_headers += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    # Nothing of the request body was read: ask the server to close rather than drain it.
    raw_headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of request header ``name`` (lowercase bytes) as str, or None."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class UploadLimitGuard:
    """413/411 for upload requests by their headers alone; ``limits`` maps kind → maximum bytes."""

    def __init__(self, app: ASGIApp, limits: dict[str, int]):
        self.app = app
        self.limits = limits

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST":
            match = UPLOAD_PATH.match(scope["path"])
            if match:
                kind = match.group(1)
                length = header(scope, b"content-length")
                if length is None:
                    detail = "Uploads need a Content-Length header; chunked request bodies are not accepted."
                    return await send_json(send, 411, error_body(detail, "length_required"))
                if not length.isdigit():
                    return await send_json(send, 400, error_body("Invalid Content-Length header.", "bad_request"))
                if int(length) > self.limits[kind]:
                    detail = upload_too_large_detail(kind, self.limits[kind])
                    return await send_json(send, 413, error_body(detail, "payload_too_large"))
        await self.app(scope, receive, send)


class MemoryGuard:
    """Load shedding by memory use, read from a `MemorySampler`'s cached reading (no I/O per request).

    Stages (percent of the container's or host's memory, see `lebrq.memory`): at ``threshold`` unsafe methods
    and uploads are shed; at ``critical`` everything but `EXEMPT_PATHS` is shed and a full `gc.collect()` runs
    once on entering the stage. A stage is left only when usage falls ``hysteresis`` points below its entry
    level. A shed request gets 503 ``memory_pressure`` (`lebrq.errors.memory_pressure_body`) with ``Retry-After``
    (seconds) and ``X-Memory-Usage`` headers. A `MemoryError` raised before the response started also becomes a 503.
    """

    NORMAL, SHED_UNSAFE, SHED_ALL = "normal", "shedding-unsafe", "shedding-all"
    #: The guard serving this process (read by the memory health report), if any.
    active: "MemoryGuard | None" = None

    def __init__(
        self,
        app: ASGIApp,
        sampler: MemorySampler,
        threshold: float = 85.0,
        critical: float = 90.0,
        hysteresis: float = 5.0,
        retry_after: int = 5,
    ):
        self.app = app
        self.sampler = sampler
        self.threshold = threshold
        self.critical = critical
        self.hysteresis = hysteresis
        self.retry_after = retry_after
        self.state = self.NORMAL
        MemoryGuard.active = self

    def _stage_for(self, percent: float, margin: float) -> int:
        levels = (self.threshold - margin, self.critical - margin)
        return sum(percent >= level for level in levels)

    def update_state(self, percent: float) -> str:
        """Move between stages for a usage of ``percent``: up at once, down only ``hysteresis`` points lower."""
        stages = (self.NORMAL, self.SHED_UNSAFE, self.SHED_ALL)
        current = stages.index(self.state)
        up = self._stage_for(percent, 0.0)
        new = up if up >= current else min(current, self._stage_for(percent, self.hysteresis))
        if new != current:
            previous, self.state = self.state, stages[new]
            logger.warning("[Memory Protection] %s -> %s at %.1f%%", previous, self.state, percent)
            if new > current and self.state == self.SHED_ALL:
                logger.warning("[Memory Protection] Collected %d objects entering critical stage", gc.collect())
        return self.state

    def sheds(self, method: str, path: str) -> bool:
        """Whether a request is refused in the current stage."""
        if self.state == self.NORMAL or EXEMPT_PATHS.match(path):
            return False
        if self.state == self.SHED_ALL:
            return True
        return method not in SAFE_METHODS or bool(UPLOAD_PATH.match(path))

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            self.sampler.start()
            return await self.app(scope, receive, send)
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        self.sampler.start()
        percent = self.sampler.latest.used_percent
        self.update_state(percent)
        if self.sheds(scope["method"], scope["path"]):
            logger.warning(
                "[Memory Protection] Rejecting %s %s - Memory usage: %.1f%%", scope["method"], scope["path"], percent
            )
            return await self.reject(send, percent, "Server is under memory pressure; retry shortly.")

        started = False

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except MemoryError:
            collected = gc.collect()
            logger.error("[Memory Protection] Collected %d objects after MemoryError", collected)
            if started:
                raise
            await self.reject(send, self.sampler.latest.used_percent, "The server ran out of memory; retry shortly.")

    async def reject(self, send, percent: float, message: str) -> None:
        body = memory_pressure_body(message, self.retry_after)
        headers = {"Retry-After": str(self.retry_after), "X-Memory-Usage": f"{percent:.1f}%"}
        await send_json(send, 503, body, headers)
