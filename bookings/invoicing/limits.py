"""Limits on invoice renders in a process: `RenderLimiter` (render slots, one render per revision and per owner,
in threads), `OwnerTurns` (one render per owner among renders awaited on the event loop) and `render_threads`
(the render executor). Renders are CPU-bound and take up to seconds; these keep them bounded and fair.
"""

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import Iterator

from django.conf import settings

from lebrq.exceptions import InvoiceBusy
from lebrq.http.executor import RequestThreads


class RenderLimiter:
    """At most ``slots`` invoice renders at once in this process, at most one render (running or waiting) per
    owner, and one render per revision at a time.

    Every wait is a context manager bounded by one ``deadline`` (a `time.monotonic()` value) and raises
    `InvoiceBusy` when it passes: `owner()` waits while a render for the same owner (a customer) is running or
    waiting, so one customer cannot hold more than one slot and the others stay free for other customers;
    `revision()` waits while another thread renders the same revision (the caller then finds it cached); `slot()`
    waits for one of the ``slots``. Note that xhtml2pdf itself runs one conversion at a time per process, so a
    second slot only lets one render queue inside xhtml2pdf rather than at this gate.
    """

    def __init__(self, slots: int, retry_after: int = 1):
        if slots < 1:
            raise ValueError(f"INVOICE_MAX_CONCURRENT_RENDERS must be >= 1, got {slots}")
        self.slots = slots
        self.retry_after = retry_after
        self._semaphore = threading.BoundedSemaphore(slots)
        self._guard = threading.Lock()
        self._revisions: dict[str, list] = {}  # revision -> [lock, number of threads using it]
        self._owners: dict[object, list] = {}  # owner -> [lock, number of threads using it]

    @contextlib.contextmanager
    def _keyed(self, table: dict, key, deadline: float) -> Iterator[bool]:
        """Hold the lock of ``key`` in ``table`` (made on first use, dropped after last); yields whether it had
        to wait for it; `InvoiceBusy` if it is not free by ``deadline``."""
        with self._guard:
            entry = table.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        try:
            waited = not entry[0].acquire(blocking=False)
            if waited and not entry[0].acquire(timeout=max(deadline - time.monotonic(), 0)):
                raise InvoiceBusy(self.retry_after)
            try:
                yield waited
            finally:
                entry[0].release()
        finally:
            with self._guard:
                entry[1] -= 1
                if not entry[1]:
                    del table[key]

    def owner(self, owner, deadline: float):
        """Hold ``owner``'s turn (one render at a time per owner); the context value says whether it waited
        (then what to render may have changed meanwhile); `InvoiceBusy` if it is not free by ``deadline``."""
        return self._keyed(self._owners, owner, deadline)

    def revision(self, revision: str, deadline: float):
        """Hold ``revision`` (one thread at a time); `InvoiceBusy` if it is not free by ``deadline``."""
        return self._keyed(self._revisions, revision, deadline)

    @contextlib.contextmanager
    def slot(self, deadline: float) -> Iterator[None]:
        """Hold one of the ``slots``; `InvoiceBusy` if none is free by ``deadline``."""
        if not self._semaphore.acquire(timeout=max(deadline - time.monotonic(), 0)):
            raise InvoiceBusy(self.retry_after)
        try:
            yield
        finally:
            self._semaphore.release()


_limiters: dict[tuple[int, int], RenderLimiter] = {}
_limiters_guard = threading.Lock()


def render_limiter() -> RenderLimiter:
    """The process's `RenderLimiter` for settings.INVOICE_MAX_CONCURRENT_RENDERS slots, whose `InvoiceBusy`
    says to retry after settings.INVOICE_RENDER_WAIT seconds (rounded up, at least 1)."""
    slots, retry_after = settings.INVOICE_MAX_CONCURRENT_RENDERS, max(1, math.ceil(settings.INVOICE_RENDER_WAIT))
    with _limiters_guard:
        if (slots, retry_after) not in _limiters:
            _limiters[slots, retry_after] = RenderLimiter(slots, retry_after)
        return _limiters[slots, retry_after]


_render_threads_guard = threading.Lock()
_render_threads: dict[tuple[int, float], RequestThreads] = {}


def render_threads() -> RequestThreads:
    """The process's render executor: settings.INVOICE_MAX_CONCURRENT_RENDERS long-lived threads of its own (no
    database connection), apart from the request threads so that reads never queue behind a render."""
    key = (settings.INVOICE_MAX_CONCURRENT_RENDERS, settings.INVOICE_RENDER_WAIT)
    with _render_threads_guard:
        if key not in _render_threads:
            _render_threads[key] = RequestThreads(*key, name="lebrq-render")
        return _render_threads[key]


class OwnerTurns:
    """One render at a time per owner (a customer) among the renders awaited on this event loop, waited for on the
    loop, so that a customer's queued renders hold no render thread (`render_threads`) while they wait."""

    def __init__(self):
        self._turns: dict[object, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def turn(self, owner, deadline: float):
        """Hold ``owner``'s turn; the context value says whether it waited; `InvoiceBusy` after ``deadline``."""
        lock, users = self._turns.get(owner, (None, 0))
        lock = lock or asyncio.Lock()
        self._turns[owner] = (lock, users + 1)
        waited = lock.locked()
        try:
            try:
                await asyncio.wait_for(lock.acquire(), max(deadline - time.monotonic(), 0))
            except TimeoutError:
                raise InvoiceBusy(render_limiter().retry_after) from None
            try:
                yield waited
            finally:
                lock.release()
        finally:
            lock, users = self._turns[owner]
            if users == 1:
                del self._turns[owner]
            else:
                self._turns[owner] = (lock, users - 1)


_owner_turns: dict[asyncio.AbstractEventLoop, OwnerTurns] = {}


def owner_turns() -> OwnerTurns:
    """The `OwnerTurns` of the running event loop (call from a coroutine)."""
    return _owner_turns.setdefault(asyncio.get_running_loop(), OwnerTurns())
