"""The threads that run the sync part of requests: a fixed, bounded set per worker process, each keeping its
database connection from one request to the next.

Django's `ASGIHandler` runs each request inside `asgiref.sync.ThreadSensitiveContext`, which makes a new
single-thread executor per request: a thread started, joined and shut down on every request. And because Django
keeps connections per async context, every request also opened a new database connection (SQLite: connect plus
registering its SQL functions; MariaDB: a pool checkout with a ping). `RequestThreads` replaces both:

- ``size`` long-lived threads (``DB_POOL_SIZE + DB_MAX_OVERFLOW``, 4 by default), started on first use and
  never replaced. A request waits at most ``wait_timeout`` seconds (``DB_POOL_TIMEOUT``) for one to come free,
  else `RequestThreadTimeout` (the handler answers 503 ``database_unavailable``, `lebrq.errors`).
- Work runs in the thread's own context (not a copy of the request's), so Django's connections — stored per
  context and tagged with the thread (`asgiref.local.Local`) — stay with the thread: at most one connection per
  thread and alias, so at most ``size`` per process. `CONN_MAX_AGE` (``DB_POOL_RECYCLE``) and
  `CONN_HEALTH_CHECKS` keep them (Django's "persistent connections"); `begin_request` does what Django's
  ``request_started`` receivers did, in the thread that owns the connections: clear the query log and close a
  connection that is past its age, left outside autocommit or failed (`close_if_unusable_or_obsolete`); a
  connection is then pinged before its first query (a database restart costs one reconnect, not a 500).
- The thread is given back as soon as the view has returned its response: nothing is held while the body is sent.
"""

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.handlers.asgi import get_script_prefix
from django.db import close_old_connections, connections, reset_queries
from django.urls import set_script_prefix

from lebrq.http.deferred import DeferredResponse, mark_deferrable, resolve

#: Paths whose views never touch the database (health.views.liveness): run in asgiref's one shared thread, not
#: in the request threads, so that liveness answers at once even when all of them are busy.
NO_DATABASE_PATHS = frozenset({"/health", "/api/health"})


class RequestThreadTimeout(TimeoutError):
    """No request thread came free within ``wait_timeout`` seconds (``DB_POOL_TIMEOUT``)."""


def begin_request() -> None:
    """Django's ``request_started`` database work, in the calling (request) thread: clear each open
    connection's query log and close one that is obsolete (``CONN_MAX_AGE``), outside autocommit or broken."""
    for conn in connections.all(initialized_only=True):
        conn.queries_log.clear()
        conn.close_if_unusable_or_obsolete()


class RequestThreads:
    """At most ``size`` long-lived threads running sync callables for the event loop (module docstring).

    ``size`` ≥ 1 threads, all started on first use; ``wait_timeout`` seconds a caller waits for a free one
    before `RequestThreadTimeout`. One instance serves one event loop at a time (uvicorn runs one per process).
    The hand-over is one `queue.SimpleQueue` put and one ``call_soon_threadsafe`` back: no `concurrent.futures`
    future, lock or condition per call.
    """

    def __init__(self, size: int, wait_timeout: float, name: str = "lebrq-request"):
        if size < 1:
            raise ValueError(f"request threads must be >= 1, got {size}")
        self.size = size
        self.wait_timeout = wait_timeout
        self.name = name
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._free: asyncio.Semaphore | None = None
        #: Calls running in a thread right now (0..size); read by the readiness check.
        self.busy = 0

    @property
    def thread_idents(self) -> list[int]:
        """The threads' identifiers (empty before first use)."""
        return [thread.ident for thread in self._threads]

    def busy_elsewhere(self) -> int:
        """`busy`, not counting the calling thread's own call when it is one of the threads."""
        return self.busy - (threading.get_ident() in self.thread_idents)

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # first use, or a new loop (tests): nothing of the old one is in flight
            self._loop, self._free = loop, asyncio.Semaphore(self.size)
        if not self._threads:
            for number in range(self.size):
                thread = threading.Thread(target=self._work, name=f"{self.name}-{number}", daemon=True)
                thread.start()
                self._threads.append(thread)
        return self._free

    async def run(self, func: Callable[..., Any], *args: Any, outlive_cancel: bool = False) -> Any:
        """``func(*args)`` in one of the threads, after `begin_request`; its result or exception.

        Raises `RequestThreadTimeout` when no thread came free within ``wait_timeout`` seconds. If the caller is
        cancelled (client gone), the thread finishes ``func`` and only then counts as free again; with
        ``outlive_cancel`` the caller also waits for that end before its `CancelledError` goes on, so that what it
        cleans up next (a temporary file ``func`` works on) is no longer in use (a cancel while waiting for a
        thread stops at once: ``func`` has not started).
        """
        free = self._semaphore()
        if free.locked():
            try:
                await asyncio.wait_for(free.acquire(), self.wait_timeout)
            except TimeoutError:
                raise RequestThreadTimeout(f"no request thread came free within {self.wait_timeout:g} s") from None
        else:
            await free.acquire()
        self.busy += 1
        future = self._loop.create_future()
        self._jobs.put((self._loop, future, func, args))
        if not outlive_cancel:
            return await future
        future.add_done_callback(_retrieve)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            await asyncio.wait([future])
            raise

    def _work(self) -> None:
        """A thread's loop: run jobs until `shutdown` puts None."""
        while (job := self._jobs.get()) is not None:
            loop, future, func, args = job
            try:
                begin_request()
                outcome = (func(*args), None)
            except StopIteration as exc:  # a Future cannot carry StopIteration (asyncio's rule, as in to_thread)
                outcome = (None, RuntimeError(f"StopIteration raised in a request thread: {exc!r}"))
            except BaseException as exc:  # handed to the caller, as an executor would
                outcome = (None, exc)
            loop.call_soon_threadsafe(self._finish, future, *outcome)
            del job, future, func, args, outcome  # hold nothing of the request while idle

    def _finish(self, future: asyncio.Future, result: Any, error: BaseException | None) -> None:
        """On the loop: the thread is free again; the caller (unless cancelled) gets the outcome."""
        self.busy -= 1
        self._free.release()
        if future.cancelled():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def shutdown(self) -> None:
        """Stop the threads once their current work is done (tests)."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()
        self._threads = []


def _retrieve(future: asyncio.Future) -> None:
    """Mark the outcome of a job whose caller was cancelled as seen (asyncio would log it as never retrieved)."""
    if not future.cancelled():
        future.exception()


_lock = threading.Lock()
_request_threads: RequestThreads | None = None


def request_threads() -> RequestThreads:
    """The process's `RequestThreads`: ``DB_POOL_SIZE + DB_MAX_OVERFLOW`` threads, ``DB_POOL_TIMEOUT`` wait."""
    global _request_threads
    with _lock:
        if _request_threads is None:
            _request_threads = RequestThreads(
                settings.DB_POOL_SIZE + settings.DB_MAX_OVERFLOW, settings.DB_POOL_TIMEOUT
            )
        return _request_threads


def take_over_request_signals() -> None:
    """Disconnect Django's per-request database receivers, whose work `begin_request` now does in the thread
    that owns the connections (run on the loop they would only add a thread hop per request and see none of
    them). Idempotent."""
    signals.request_started.disconnect(reset_queries)
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)


class RequestThreadsMixin:
    """For an `ASGIHandler` subclass: no per-request `ThreadSensitiveContext` (and so no thread per request).

    The handler's sync middleware chain runs through `run_in_request_threads`: behind an async outermost
    middleware by `adapt_method_mode`, else by the handler's `load_middleware` (lebrq/http/asgi_handler.py). A
    thread-sensitive `sync_to_async` call made on the loop outside it (Django closing the response) runs in
    asgiref's one shared thread instead of a new one.
    """

    def __init__(self, *args, **kwargs):
        take_over_request_signals()
        super().__init__(*args, **kwargs)

    def run_in_request_threads(self, chain: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """Django's sync middleware chain as an async callable running in `request_threads()`; a request that
        found no free thread within ``DB_POOL_TIMEOUT`` gets the 503 ``database_unavailable`` response. A
        `lebrq.http.deferred.DeferredResponse` is finished on the loop once the thread is free (`resolve`)."""
        threads = request_threads()

        def in_thread(request):
            set_script_prefix(get_script_prefix(request.scope))  # the handler set it on the loop's context only
            return chain(request)

        async def run_chain(request):
            if request.path in NO_DATABASE_PATHS:  # liveness answers even when every request thread is busy
                return await sync_to_async(in_thread, thread_sensitive=True)(request)
            mark_deferrable(request)
            try:
                response = await threads.run(in_thread, request)
            except RequestThreadTimeout as exc:
                from lebrq.errors import database_unavailable_response  # imports DRF: only once Django is set up

                return database_unavailable_response(request.path, exc)
            if isinstance(response, DeferredResponse):  # the thread is free: finish on the loop
                response = await resolve(request, response)
            return response

        return run_chain

    def adapt_method_mode(self, is_async, method, method_is_async=None, debug=False, name=None):
        """Django's, except that the sync chain behind an async middleware (ServeStatic) runs in the request
        threads instead of `sync_to_async(thread_sensitive=True)`."""
        if method_is_async is None:
            method_is_async = iscoroutinefunction(method)
        if is_async and not method_is_async:
            return self.run_in_request_threads(method)
        return super().adapt_method_mode(is_async, method, method_is_async, debug, name)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)
