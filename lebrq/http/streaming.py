"""Streamed file responses: one async chunk iterator, and `file_response()` which answers GET/HEAD for a file.

The body is an async iterator, so under ASGI Django streams it chunk by chunk. (FileResponse's sync iterator is
drained whole by `sync_to_async(list)`.) Each read of at most STREAM_CHUNK_SIZE bytes runs in a worker thread, so
memory stays flat and the event loop never waits on the disk.
"""

import asyncio
import logging
import secrets
import threading
import unicodedata
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from os import PathLike

from django.conf import settings
from django.http import HttpResponse, HttpResponseBase, HttpResponseNotModified, StreamingHttpResponse
from django.utils.http import content_disposition_header, http_date

from lebrq.http import conditional

logger = logging.getLogger(__name__)

DEFAULT_CACHE_CONTROL = "public, max-age=0, must-revalidate"

Segment = bytes | conditional.ByteRange
"""A piece of a body: literal bytes (multipart framing) or an inclusive (first, last) byte range of the file."""


class FileRangeIterator:
    """Async iterator of the bytes of `segments` of the file at `path`, each range read in reads of at most
    `chunk_size` bytes, each read in a worker thread (asyncio.to_thread).

    The file is opened on the first read (never, if no range is read) and closed when the last segment is done,
    when a read fails or is cancelled, or by `close()` — whichever comes first. `close()` is synchronous so that
    StreamingHttpResponse registers it as a resource closer and `HttpResponseBase.close()` runs it.
    A file shorter than a range raises OSError (the response already promised a Content-Length).
    """

    def __init__(self, path: str | PathLike, segments: Iterable[Segment], chunk_size: int):
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1 byte, got {chunk_size}")
        self._path = path
        self._segments = deque(segments)
        self._chunk_size = chunk_size
        self._file = None
        self._closed = False
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
                chunk = await asyncio.to_thread(self._read, first, min(self._chunk_size, last - first + 1))
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


def file_response(
    request,
    *,
    path: str | PathLike,
    representation: conditional.Representation,
    content_type: str,
    filename: str | None = None,
    as_attachment: bool = False,
    cache_control: str | None = DEFAULT_CACHE_CONTROL,
    on_close: Callable[[], object] | None = None,
    chunk_size: int | None = None,
) -> HttpResponseBase:
    """Answer a GET or HEAD `request` for the file at `path`, already stat'ed into `representation`.

    Status per `conditional.evaluate` (RFC 9110 §13.2.2, §14.2): 200 or 206 streams an async `FileRangeIterator`
    in reads of `chunk_size` bytes (default settings.STREAM_CHUNK_SIZE) with an exact Content-Length,
    Accept-Ranges: bytes (§14.3), ETag, Last-Modified, Cache-Control (omitted when None), Content-Type,
    Content-Range for a single range (§14.4), or multipart/byteranges for several (§14.6). HEAD gets the same
    header fields and no body, without opening the file (§9.3.2). 304 carries ETag, Last-Modified, Cache-Control
    (§15.4.5); 412 nothing; 416 `Content-Range: bytes */size` (§15.5.17). `filename` sets Content-Disposition
    (RFC 6266, see `content_disposition`).

    `on_close()` runs exactly once, after the file is closed: from `response.close()`, which Django's handlers call
    when the body was sent, when the client went away mid-body, and for bodiless responses alike; or, if the
    response is dropped without being closed, when it is garbage-collected; or at once if no response could be
    built. Its exceptions are logged.
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


def _build_response(
    request, *, path, representation, content_type, filename, as_attachment, cache_control, chunk_size
) -> HttpResponseBase:
    decision = conditional.evaluate(request.method, request.headers, representation)
    headers = {"ETag": representation.etag, "Last-Modified": http_date(representation.last_modified)}
    if cache_control:
        headers["Cache-Control"] = cache_control
    if decision.status == 304:
        # Django's CommonMiddleware would add "Content-Length: 0"; a 304 may only carry the 200's (§8.6).
        response = HttpResponseNotModified(headers={**headers, "Content-Length": str(representation.size)})
    elif decision.status in (412, 416):
        response = HttpResponse(status=decision.status)
        if decision.content_range:
            response.headers["Content-Range"] = decision.content_range
    else:
        headers["Accept-Ranges"] = "bytes"
        disposition = content_disposition(as_attachment, filename)
        if disposition:
            headers["Content-Disposition"] = disposition
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
            body = FileRangeIterator(path, segments, chunk_size)
            response = StreamingHttpResponse(body, status=decision.status, content_type=content_type, headers=headers)
    return response


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
    (RFC 6266 §4.3) for clients that ignore filename*: accents stripped, other characters replaced by "_".
    """
    value = content_disposition_header(as_attachment, filename)
    if value is None:
        return None
    disposition, _, extended = value.partition("; ")
    if not extended.startswith("filename*="):
        return value
    fallback = "".join(
        char if " " <= char <= "~" and char not in '"\\' else "_"
        for char in unicodedata.normalize("NFKD", filename)
        if not unicodedata.category(char).startswith("M")
    )
    return f'{disposition}; filename="{fallback}"; {extended}'
