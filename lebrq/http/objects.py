"""Stored files served like local ones: `stored_file_response` answers GET/HEAD for a file in a Django storage
with `lebrq.http.streaming.file_response` (the same RFC 9110 ranges, validators and header fields); for an object
store the body is an `ObjectRangeIterator`: each byte range one ranged GET, read in fixed chunks.
"""

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Iterable
from functools import partial

from django.core.files.storage import Storage

from lebrq import objectstore
from lebrq.http import conditional
from lebrq.http.streaming import Segment, file_response

Opener = Callable[[int, int], object]
"""``opener(first, last)`` → a body with ``read(size)`` and ``close()`` holding bytes first..last (inclusive)."""


class ObjectRangeIterator:
    """Async iterator of the bytes of ``segments`` (literal bytes, or inclusive byte ranges) of a stored object:
    each range is asked of the store once, ``opener(first, last)`` (a ranged GET: only those bytes travel), and
    its body read in reads of at most ``chunk_size`` bytes. Every call that waits on the store runs in a worker
    thread (asyncio.to_thread), so the event loop never does; no more than one chunk is held.

    The open body is closed when its range is done, when a read fails or is cancelled, or by `close()`
    (synchronous, so StreamingHttpResponse runs it as a resource closer; it never waits for a read in progress).
    A body shorter than its range raises OSError (the response already promised a Content-Length).
    """

    def __init__(self, opener: Opener, segments: Iterable[Segment], chunk_size: int):
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1 byte, got {chunk_size}")
        self._opener = opener
        self._segments = deque(segments)
        self._chunk_size = chunk_size
        self._body = None
        self._left = 0  # bytes of the open body's range not read yet
        self._closed = False
        self._lock = threading.Lock()  # each open and read, and close(): close never races a read in its thread

    def __aiter__(self):
        return self

    async def __anext__(self) -> bytes:
        try:
            while self._segments and not self._closed:
                segment = self._segments[0]
                if isinstance(segment, bytes):
                    self._segments.popleft()
                    if segment:
                        return segment
                    continue
                first, last = segment
                if first > last:
                    self._segments.popleft()
                    continue
                chunk = await asyncio.to_thread(self._read, first, last)
                if self._left == 0:
                    self._segments.popleft()
                return chunk
        except BaseException:
            self.close()
            raise
        self.close()
        raise StopAsyncIteration

    def _read(self, first: int, last: int) -> bytes:
        """Runs in a worker thread: the next chunk of the range (first, last), opening it first if needed."""
        with self._lock:
            try:
                if self._closed:
                    raise ValueError("read from a closed ObjectRangeIterator")
                if self._body is None:
                    self._body = self._opener(first, last)
                    self._left = last - first + 1
                chunk = self._body.read(min(self._chunk_size, self._left))
                if not chunk:
                    raise OSError(f"the stored object ended {self._left} bytes before byte {last}")
                self._left -= len(chunk)
                if self._left == 0:
                    self._close_body()
                return chunk
            finally:
                if self._closed:  # closed while this read waited on the store: the body is closed here
                    self._close_body()

    def _close_body(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self) -> None:
        """Close the open body, if any; idempotent, callable from any thread, and never waits: while a read is
        waiting on the store (up to STORAGE_TIMEOUT), that read closes the body when it returns. Iteration then
        stops."""
        self._closed = True
        if self._lock.acquire(blocking=False):
            try:
                self._close_body()
            finally:
                self._lock.release()

    async def aclose(self) -> None:
        """Same as `close()`, for `contextlib.aclosing`."""
        self.close()


def stored_file_response(
    request, *, storage: Storage, name: str, representation: conditional.Representation, **options
):
    """`file_response` for the file ``name`` of ``storage``: by its local path when it has one (so also the
    X-Accel-Redirect offload), else streamed from the object store by ranged GETs (`objectstore.open_range`):
    a single range asks for just that range, multipart/byteranges makes one request per range. ``options`` are
    `file_response`'s (content_type, filename, as_attachment, cache_control, on_close, chunk_size)."""
    path = objectstore.local_path(storage, name)
    if path is not None:
        return file_response(request, path=path, representation=representation, **options)
    opener = partial(objectstore.open_range, storage, name)
    return file_response(request, path=None, opener=opener, representation=representation, **options)
