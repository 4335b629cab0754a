"""Streamed file responses: one async chunk iterator, and `file_response()` which answers GET/HEAD for a file.

The body is an async iterator, so under ASGI Django streams it chunk by chunk. (FileResponse's sync iterator is
drained whole by `sync_to_async(list)`.) Each read of at most STREAM_CHUNK_SIZE bytes runs in a worker thread, so
memory stays flat and the event loop never waits on the disk.

With ``DOWNLOAD_OFFLOAD=x-accel`` (nginx in front, deploy/nginx/lebrq.conf), a 200/206 for a file below one of
DOWNLOAD_OFFLOAD_LOCATIONS' directories is answered with headers only and X-Accel-Redirect, and nginx sends the
bytes (see `x_accel_redirect_uri` and deploy/README.md, "Download offload").
"""

import asyncio
import logging
import os
import re
import secrets
import threading
import unicodedata
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from os import PathLike
from typing import BinaryIO
from urllib.parse import quote

from django.conf import settings
from django.http import HttpResponse, HttpResponseBase, HttpResponseNotModified, StreamingHttpResponse
from django.utils.http import content_disposition_header, http_date

from lebrq.errors import error_response
from lebrq.http import conditional

logger = logging.getLogger(__name__)

DEFAULT_CACHE_CONTROL = "public, max-age=0, must-revalidate"
#: Content-Security-Policy of every served file (CSP Level 3): no fetches, and a sandbox (no scripts, no
#: same-origin, no forms) for a file a browser would render, such as a polyglot opened as a document.
FILE_CONTENT_SECURITY_POLICY = "default-src 'none'; sandbox"
# preadv() flag (Linux >= 4.14): fail with EAGAIN rather than wait for the disk. None where it does not exist.
_RWF_NOWAIT = getattr(os, "RWF_NOWAIT", None)

Segment = bytes | conditional.ByteRange
"""A piece of a body: literal bytes (multipart framing) or an inclusive (first, last) byte range of the file."""


class FileRangeIterator:
    """Async iterator of the bytes of `segments` of the file at `path`, each range read in reads of at most
    `chunk_size` bytes. A read whose bytes are all in the page cache is done on the event loop without blocking
    (`preadv` with RWF_NOWAIT, Linux); any other — the first, which opens the file, and each that would wait for
    the disk — runs in a worker thread (asyncio.to_thread). A thread hop per chunk was the main cost of a download.

    `path` may also be a file open for binary reading (an unnamed temporary file): it is then read as it is.
    The file is opened on the first read (never, if no range is read) and closed when the last segment is done,
    when a read fails or is cancelled, or by `close()` — whichever comes first. `close()` is synchronous so that
    StreamingHttpResponse registers it as a resource closer and `HttpResponseBase.close()` runs it.
    A file shorter than a range raises OSError (the response already promised a Content-Length).
    """

    def __init__(self, path: str | PathLike | BinaryIO, segments: Iterable[Segment], chunk_size: int):
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1 byte, got {chunk_size}")
        opened = hasattr(path, "fileno")  # an open file (an unnamed spool): read from it, closed by close()
        self._path = path.name if opened and isinstance(path.name, str) else "a temporary file" if opened else path
        self._segments = deque(segments)
        self._chunk_size = chunk_size
        self._file = path if opened else None
        self._closed = False
        self._nowait = _RWF_NOWAIT is not None  # False once the platform or filesystem refuses RWF_NOWAIT
        # Held by each seek+read and by close(), so close() never races a read still running in a worker thread.
        self._lock = threading.Lock()

    def __aiter__(self):
        return self

    async def __anext__(self) -> bytes:
        try:
            while self._segments and not self._closed:
                segment = self._segments.popleft()
                if isinstance(segment, bytes):
                    if segment:
                        return segment
                    continue
                first, last = segment
                if first > last:
                    continue
                size = min(self._chunk_size, last - first + 1)
                chunk = self._read_cached(first, size) or await asyncio.to_thread(self._read, first, size)
                if not chunk:
                    raise OSError(f"{self._path} ended before byte {first}")
                if first + len(chunk) <= last:
                    self._segments.appendleft((first + len(chunk), last))
                return chunk
        except BaseException:
            self.close()  # waits for a read still running in its thread: at most one chunk
            raise
        self.close()
        raise StopAsyncIteration

    def _read_cached(self, position: int, size: int) -> bytes | None:
        """Up to `size` bytes at `position` if the file is open and they are in the page cache, read without
        blocking on the event loop (a short read returns what was cached); None if the caller must read in a
        thread: not open yet, nothing cached (EAGAIN), end of file, a close in progress, or no RWF_NOWAIT."""
        if not self._nowait or self._file is None or not self._lock.acquire(blocking=False):
            return None
        try:
            if self._closed:
                return None
            # A buffer per read, not per iterator: an idle stream (a slow client) then holds no memory.
            with memoryview(bytearray(size)) as view:
                try:
                    count = os.preadv(self._file.fileno(), [view], position, _RWF_NOWAIT)
                except BlockingIOError:
                    return None
                except OSError:  # EOPNOTSUPP and the like: this file cannot, so stop trying
                    self._nowait = False
                    return None
                return bytes(view[:count]) if count else None
        finally:
            self._lock.release()

    def _read(self, position: int, size: int) -> bytes:
        """Runs in a worker thread."""
        with self._lock:
            if self._closed:
                raise ValueError("read from a closed FileRangeIterator")
            if self._file is None:
                self._file = open(self._path, "rb")  # noqa: SIM115 -- closed by close()
            self._file.seek(position)
            return self._file.read(size)

    def close(self) -> None:
        """Close the file; idempotent, callable from any thread. Iteration then stops."""
        with self._lock:
            self._closed = True
            if self._file is not None:
                self._file.close()
                self._file = None

    async def aclose(self) -> None:
        """Same as `close()`, for `contextlib.aclosing`."""
        self.close()


#: Seconds an ASGI server's Date header may lag the clock: uvicorn refreshes it once a second (and both are
#: whole seconds).
DATE_HEADER_LAG = 2


def settled_mtime(mtime: float) -> float:
    """The Last-Modified time (epoch seconds) to announce for a file last modified at ``mtime``: `DATE_HEADER_LAG`
    seconds earlier. A Last-Modified must not be later than the response's Date (RFC 9110 §8.8.2.1), and the
    server's Date may lag the clock, so a file just written (an invoice just rendered, an upload just stored) would
    otherwise be dated in the future. A pure function of ``mtime``, so the validator is the same on every request
    (If-Modified-Since compares against it); the strong ETag decides first anyway (§13.2.2)."""
    return mtime - DATE_HEADER_LAG


def file_response(
    request,
    *,
    path: str | PathLike | None,
    representation: conditional.Representation,
    content_type: str,
    filename: str | None = None,
    as_attachment: bool = False,
    cache_control: str | None = DEFAULT_CACHE_CONTROL,
    on_close: Callable[[], object] | None = None,
    chunk_size: int | None = None,
    opener: Callable[[int, int], object] | None = None,
) -> HttpResponseBase:
    """Answer a GET or HEAD `request` for the file at `path`, already stat'ed into `representation`.

    A stored object without a local path is given as `opener` instead (`path` None): ``opener(first, last)``
    opens one byte range of it, and the body is a `lebrq.http.objects.ObjectRangeIterator` (see
    `lebrq.http.objects.stored_file_response`); it is never offloaded.

    Status per `conditional.evaluate` (RFC 9110 §13.2.2, §14.2): 200 or 206 streams an async `FileRangeIterator`
    in reads of `chunk_size` bytes (default settings.STREAM_CHUNK_SIZE) with an exact Content-Length,
    Accept-Ranges: bytes (§14.3), ETag, Last-Modified, Cache-Control (omitted when None), Content-Type,
    Content-Range for a single range (§14.4), or multipart/byteranges for several (§14.6). HEAD gets the same
    header fields and no body, without opening the file (§9.3.2). 304 carries ETag, Last-Modified, Cache-Control
    (§15.4.5); 412 nothing; 416 `Content-Range: bytes */size` (§15.5.17). `filename` sets Content-Disposition
    (RFC 6266, see `content_disposition`).

    Offload: with settings.DOWNLOAD_OFFLOAD == "x-accel", a 200 or 206 for a file that `x_accel_redirect_uri`
    maps is answered with headers only: X-Accel-Redirect, Content-Type, Content-Disposition, ETag and
    Cache-Control, which nginx keeps while it serves the file itself (ranges, sendfile, its own Last-Modified from
    the same mtime). 304, 412 and 416 are still answered here, from our validators. Not offloaded, so streamed as
    above: requests with If-Match (nginx would compare it with an ETag it does not have and answer 412) and
    responses with `on_close` (the file may be gone when nginx opens it).

    `on_close()` runs exactly once, after the file is closed: from `response.close()`, which Django's handlers call
    when the body was sent, when the client went away mid-body, and for bodiless responses alike; or, if the
    response is dropped without being closed, when it is garbage-collected; or at once if no response could be
    built. Its exceptions are logged.

    The body is sent on the event loop after the view's request thread was given back (`lebrq.http.executor`):
    a download in progress holds no request thread, so none of the database connections they keep.
    """
    try:
        response = _build_response(
            request,
            path=path,
            representation=representation,
            content_type=content_type,
            filename=filename,
            as_attachment=as_attachment,
            cache_control=cache_control,
            chunk_size=settings.STREAM_CHUNK_SIZE if chunk_size is None else chunk_size,
            offload=on_close is None and path is not None and settings.DOWNLOAD_OFFLOAD == "x-accel",
            opener=opener,
        )
    except BaseException:
        if on_close is not None:
            _call_logged(on_close)
        raise
    if on_close is not None:
        # HttpResponseBase.close() runs _resource_closers in order (the body's close() is already first) and
        # then clears them; a finalize object runs its callback at most once, on call or on garbage collection.
        response._resource_closers.append(weakref.finalize(response, _call_logged, on_close))
    return response


#: The error body (`lebrq.errors`) of a download whose conditions or range cannot be met: status → (detail, code).
UNSATISFIED = {
    412: ("A precondition of the request (If-Match or If-Unmodified-Since) does not hold.", "precondition_failed"),
    416: ("The requested range selects no byte of the file.", "range_not_satisfiable"),
}


def _build_response(
    request, *, path, representation, content_type, filename, as_attachment, cache_control, chunk_size, offload, opener
) -> HttpResponseBase:
    decision = conditional.evaluate(request.method, request.headers, representation)
    headers = {"ETag": representation.etag, "Last-Modified": http_date(representation.last_modified)}
    headers["Content-Security-Policy"] = FILE_CONTENT_SECURITY_POLICY
    if cache_control:
        headers["Cache-Control"] = cache_control
    if decision.status == 304:
        # No Content-Length (§8.6); lebrq.middleware.NotModifiedMiddleware removes the "0" CommonMiddleware adds.
        response = HttpResponseNotModified(headers=headers)
    elif decision.status in UNSATISFIED:
        response = error_response(decision.status, *UNSATISFIED[decision.status])
        if decision.content_range:
            response.headers["Content-Range"] = decision.content_range
    else:
        headers["Accept-Ranges"] = "bytes"
        disposition = content_disposition(as_attachment, filename)
        if disposition:
            headers["Content-Disposition"] = disposition
        uri = x_accel_redirect_uri(path) if offload and "if-match" not in request.headers else None
        if uri is not None:
            # nginx re-evaluates Range (and If-Range, against this ETag) and sets Last-Modified and Accept-Ranges.
            del headers["Last-Modified"], headers["Accept-Ranges"]
            return HttpResponse(content_type=content_type, headers={**headers, "X-Accel-Redirect": uri})
        segments: list[Segment]
        if decision.multipart:
            layout = conditional.multipart_byteranges(
                decision.ranges, representation.size, content_type, secrets.token_hex(16)
            )
            segments = [*_interleave(layout), layout.closing]
            content_type, length = layout.content_type, layout.content_length
        else:
            segments, length = list(decision.ranges), decision.length
            if decision.content_range:
                headers["Content-Range"] = decision.content_range
        headers["Content-Length"] = str(length)
        if request.method == "HEAD":
            response = HttpResponse(status=decision.status, content_type=content_type, headers=headers)
        else:
            if opener is not None:
                from lebrq.http.objects import ObjectRangeIterator

                body = ObjectRangeIterator(opener, segments, chunk_size)
            else:
                body = FileRangeIterator(path, segments, chunk_size)
            response = StreamingHttpResponse(body, status=decision.status, content_type=content_type, headers=headers)
    return response


def offload_locations() -> dict[str, str]:
    """Directory → nginx internal URI prefix for offloaded downloads: settings.DOWNLOAD_OFFLOAD_LOCATIONS, or when
    that is empty MEDIA_ROOT → "/_protected/media/" and INVOICE_CACHE_DIR (if set) → "/_protected/invoices/"
    (the `internal` locations of deploy/nginx/lebrq.conf)."""
    if settings.DOWNLOAD_OFFLOAD_LOCATIONS:
        return dict(settings.DOWNLOAD_OFFLOAD_LOCATIONS)
    locations = {str(settings.MEDIA_ROOT): "/_protected/media/"}
    if getattr(settings, "INVOICE_CACHE_DIR", None):
        locations[str(settings.INVOICE_CACHE_DIR)] = "/_protected/invoices/"
    return locations


def x_accel_redirect_uri(path: str | PathLike) -> str | None:
    """The X-Accel-Redirect value for the file at `path`: the internal prefix of the `offload_locations()` directory
    it lies below, then its path relative to that directory, percent-encoded (nginx decodes it once). Symbolic
    links are resolved on both sides first, so a link out of a directory is not below it. None when the file is
    below none of them (e.g. a temporary file): it is then streamed.
    """
    real = os.path.realpath(path)
    for directory, prefix in offload_locations().items():
        root = os.path.realpath(directory)
        if real != root and os.path.commonpath([real, root]) == root:
            relative = os.path.relpath(real, root).replace(os.sep, "/")
            return prefix.rstrip("/") + "/" + quote(relative)
    return None


def _interleave(layout: conditional.MultipartLayout) -> Iterable[Segment]:
    for head, byte_range in layout.parts:
        yield from (head, byte_range, conditional.PART_END)


def _call_logged(callback: Callable[[], object]) -> None:
    try:
        callback()
    except Exception:
        logger.exception("on_close callback %r failed", callback)


def content_disposition(as_attachment: bool, filename: str | None) -> str | None:
    """Content-Disposition (RFC 6266 §4) for `filename`, or None when there is neither filename nor attachment.

    Django's `content_disposition_header` gives `filename="…"` for a quotable ASCII name and only
    `filename*=utf-8''…` (RFC 8187) otherwise; for the latter, an ASCII `filename="…"` fallback is added before it
    (RFC 6266 §4.3) for clients that ignore filename*: accents stripped, other characters (and "/", "\\")
    replaced by "_", runs of dots collapsed to one, so the fallback never holds a path.
    """
    value = content_disposition_header(as_attachment, filename)
    if value is None:
        return None
    disposition, _, extended = value.partition("; ")
    if not extended.startswith("filename*="):
        return value
    fallback = "".join(
        char if " " <= char <= "~" and char not in '"\\/' else "_"
        for char in unicodedata.normalize("NFKD", filename)
        if not unicodedata.category(char).startswith("M")
    )
    fallback = re.sub(r"\.{2,}", ".", fallback)  # NFKD can make ".." of a fullwidth "．．"
    return f'{disposition}; filename="{fallback}"; {extended}'
