"""Django's ASGI handler with the request body spooled into FILE_UPLOAD_TEMP_DIR.

Django's `ASGIHandler.read_body` receives the whole body into a `SpooledTemporaryFile` before any view or
middleware runs: in memory up to FILE_UPLOAD_MAX_MEMORY_SIZE bytes, then in an unnamed file in the *system*
temp dir (``$TMPDIR``, usually /tmp). Where /tmp is a tmpfs (Debian 13, Fedora, Arch, systemd's PrivateTmp)
that file is memory: a 2 GiB video upload would take 2 GiB of RAM. `TempDirASGIHandler` spools into
FILE_UPLOAD_TEMP_DIR instead (on disk, beside MEDIA_ROOT), and closes — so removes — the spool on any failure: a
client that goes away mid-body, a cancelled task, a write error. A spool that fills the disk (ENOSPC) is
answered 507 ``insufficient_storage`` in the API's JSON error shape.

A rendered response body over 256 KiB is sent from an unnamed temporary file beside the spool
(`spool_response`), so that a client slow to read it holds no more than a chunk of memory.

It also builds Django's middleware chain so that a request enters a thread once (`load_middleware`).

The spool is a `tempfile.TemporaryFile`: unnamed (O_TMPFILE) or unlinked at once, so even a SIGKILL leaves
nothing in the directory (where a name is needed for a moment, it is `lebrq.tempfiles.REQUEST_SPOOL`'s).
"""

import asyncio
import contextlib
import contextvars
import errno
import logging
import tempfile

import django
from asgiref.sync import AsyncToSync
from django.conf import settings
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler
from django.http import StreamingHttpResponse

from lebrq.errors import domain_error, error_body
from lebrq.exceptions import InsufficientStorage
from lebrq.http.executor import RequestThreadsMixin
from lebrq.http.guards import send_json
from lebrq.http.streaming import FileRangeIterator
from lebrq.tempfiles import REQUEST_SPOOL, RESPONSE_SPOOL

SPOOL_FULL_DETAIL = "The server has no room to receive this request body."
#: Bytes of a rendered response body above which it is sent from a temporary file (`spool_response`).
SPOOL_RESPONSE_OVER = 256 * 1024

logger = logging.getLogger(__name__)

#: The method of the request being handled (`TempDirASGIHandler.handle`), read by `spool_response`.
REQUEST_METHOD: contextvars.ContextVar[str] = contextvars.ContextVar("lebrq_request_method", default="")


class TempDirASGIHandler(RequestThreadsMixin, ASGIHandler):
    """`ASGIHandler` whose `read_body` spools into FILE_UPLOAD_TEMP_DIR (see the module docstring)."""

    def load_middleware(self, is_async=False):
        """Build the middleware chain synchronously, then enter it once: one thread switch per request.

        Django's ASGI handler builds an async chain around `_get_response_async`; every sync-only middleware
        (`MiddlewareMixin`: security, sessions, CSRF, auth, messages, ...) is then entered through `sync_to_async`
        and the view through another, with switches back to the event loop in between. Built sync (as under
        WSGI), the middleware, URL resolution and the (sync) view all run in one of the process's request
        threads (`lebrq.http.executor`: long-lived, each keeping its DB connection). An async-only middleware
        must come first in ``MIDDLEWARE`` (ServeStatic does): it then runs on the loop, in front of that one
        switch. An async view would still work (Django runs it with `async_to_sync`). Responses stream as
        before, on the loop (`ASGIHandler.send_response`). Measured on a uvicorn worker: about 1 ms of CPU less
        per request than Django's async chain with the sync middleware grouped behind one switch.
        """
        super().load_middleware(is_async=False)
        chain = self._middleware_chain
        if isinstance(chain, AsyncToSync):  # the outermost middleware is async (ServeStatic): run it on the loop
            self._middleware_chain = chain.awaitable
        else:
            self._middleware_chain = self.run_in_request_threads(chain)

    async def handle(self, scope, receive, send):
        REQUEST_METHOD.set(scope.get("method", ""))  # this request's task and the tasks it starts
        try:
            await super().handle(scope, receive, send)
        except InsufficientStorage as exc:
            status, code, detail, headers = domain_error(exc)
            await send_json(send, status, error_body(detail, code), headers)

    async def listen_for_disconnect(self, receive):
        """Django's, ending by returning rather than raising `RequestAborted` when the client disconnects.

        `ASGIHandler.handle` keeps its two tasks in a local list and calls ``result()`` on this one: the raised
        exception, stored on the task, carries a traceback through ``handle``'s own frame, which holds the list
        and so the task — a reference cycle, and with it the request, the transport and whatever was still to be
        written (a slow reader's whole JSON answer), alive until a full garbage collection, which an idle worker
        may never run (measured: +77 MiB per 8 clients that asked for a 5 MB list and left without reading it).
        ``handle`` does the same for both endings: it cancels the response task.
        """
        with contextlib.suppress(RequestAborted):
            await super().listen_for_disconnect(receive)

    async def send_response(self, response, send):
        """Django's, with a rendered body over `SPOOL_RESPONSE_OVER` bytes sent from an unnamed temporary file
        (`spool_response`); then — sent, failed or cancelled by a client that left — the response lets go of its
        body.

        A DRF `Response` is in a reference cycle (its ``renderer_context`` holds the view, the view holds the
        response), so it is freed by the garbage collector, not when the last reference goes. A response that
        stays alive long — written to a client that reads slowly or not at all — gets promoted to the oldest
        generation, collected rarely (never in an idle worker): with it its rendered body and serialized data
        (measured: +77 MiB kept per 8 clients that asked for a 5 MB list and left). Dropping them here frees that
        memory at once; the small cycle is left to the collector.
        """
        spooled = None
        try:
            spooled = await spool_response(response)
            await super().send_response(spooled or response, send)
        finally:
            release_body(response)
            if spooled is not None:
                for close in spooled._resource_closers:  # the spool's iterator (not close(): no second signal)
                    close()

    async def read_body(self, receive):
        """The request body as a file positioned at 0; raises `RequestAborted` if the client disconnects."""
        body_file = tempfile.SpooledTemporaryFile(  # noqa: SIM115 -- returned open; closed here on failure
            max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE,
            mode="w+b",
            dir=settings.FILE_UPLOAD_TEMP_DIR,
            prefix=REQUEST_SPOOL.prefix,
            suffix=REQUEST_SPOOL.suffix,
        )
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise RequestAborted()
                if "body" in message:
                    body_file.write(message["body"])
                if not message.get("more_body", False):
                    break
        except OSError as exc:
            body_file.close()
            if exc.errno == errno.ENOSPC:
                raise InsufficientStorage(SPOOL_FULL_DETAIL) from exc
            raise
        except BaseException:
            body_file.close()
            raise
        body_file.seek(0)
        return body_file


async def spool_response(response) -> StreamingHttpResponse | None:
    """``response`` as a streaming response read from an unnamed temporary file (`RESPONSE_SPOOL`, in
    FILE_UPLOAD_TEMP_DIR) if its rendered body is over `SPOOL_RESPONSE_OVER` bytes, else None.

    A rendered body is held in memory until the client has taken it all; a client that reads slowly, or not at
    all until SEND_TIMEOUT (30 s) cuts it off, would hold it that long — 8 such clients asking for a 5 MB booking
    list held 8 × ~10 MB (body and serialized data), and the worker's RSS swung by that much. Written to the file
    (in a thread) and released (`release_body`), the body then costs one STREAM_CHUNK_SIZE read at a time, and the
    file goes with the descriptor, however the request ends. Status, headers (Content-Length among them) and
    cookies are the response's. A body that cannot be written (a full disk: OSError) is sent from memory, and so is
    the body of an answer to HEAD (never sent). A client that leaves while the body is written cancels the wait;
    the file is closed when the writing thread is done.
    """
    if REQUEST_METHOD.get() == "HEAD" or response.streaming:  # a HEAD's body is never sent (the server drops it)
        return None
    if sum(map(len, response._container)) <= SPOOL_RESPONSE_OVER:
        return None
    writing = asyncio.ensure_future(asyncio.to_thread(_write_spool, response._container))
    try:
        spool, size = await asyncio.shield(writing)
    except asyncio.CancelledError:  # the client left: close the file once the thread has written it
        writing.add_done_callback(_close_written_spool)
        raise
    except OSError as exc:
        logger.warning("Response body sent from memory: it could not be spooled (%s).", exc)
        return None
    release_body(response)
    body = FileRangeIterator(spool, [(0, size - 1)], settings.STREAM_CHUNK_SIZE)
    spooled = StreamingHttpResponse(
        body, status=response.status_code, reason=response.reason_phrase, headers=response.headers
    )
    spooled.cookies = response.cookies
    return spooled


def _close_written_spool(writing: asyncio.Future) -> None:
    if not writing.cancelled() and writing.exception() is None:
        writing.result()[0].close()


def _write_spool(parts: list[bytes]):
    """(an unnamed temporary file holding ``parts``, positioned anywhere; their total size in bytes)."""
    spool = tempfile.TemporaryFile(  # noqa: SIM115 -- returned open; closed by the response's iterator
        dir=settings.FILE_UPLOAD_TEMP_DIR, prefix=RESPONSE_SPOOL.prefix, suffix=RESPONSE_SPOOL.suffix
    )
    try:
        for part in parts:
            spool.write(part)
        spool.flush()
    except BaseException:
        spool.close()
        raise
    return spool, spool.tell()


def release_body(response) -> None:
    """Drop what ``response`` holds of its body once it has been sent (`TempDirASGIHandler.send_response`): the
    content of an `HttpResponse`, and a DRF response's ``data`` and ``renderer_context``. Streaming and file
    responses hold only their iterator, which Django closes."""
    if not getattr(response, "streaming", True):
        response._container = []  # HttpResponse's content, a list of bytes (Django's own attribute)
    for name in ("data", "renderer_context"):
        if name in response.__dict__:
            setattr(response, name, None)


def get_asgi_application() -> TempDirASGIHandler:
    """Like `django.core.asgi.get_asgi_application`: set Django up and return a `TempDirASGIHandler`."""
    django.setup(set_prefix=False)
    return TempDirASGIHandler()
