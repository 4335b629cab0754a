"""`lebrq.http.streaming`: exact bodies, header fields and cleanup of file responses, consumed asynchronously the way
Django's ASGI handler consumes them (and, at the end, through the ASGI handler itself)."""

import asyncio
import contextlib
import email.parser
import email.policy
import gc
import json
import logging
import os
import random
import types
import urllib.parse
import warnings

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.http import StreamingHttpResponse
from django.test import AsyncRequestFactory, RequestFactory
from django.urls import path as url_path
from django.utils.http import http_date

from lebrq.http.conditional import Representation
from lebrq.http.streaming import FileRangeIterator, content_disposition, file_response

# A file object left for the garbage collector to close is a failure, not a warning.
pytestmark = [
    pytest.mark.filterwarnings("error::ResourceWarning"),
    pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning"),
]

SIZE = 300_000  # bytes: four full 64 KiB chunks and a short one
CHUNK = 64 * 1024
DATA = random.Random(9110).randbytes(SIZE)
CONTENT_TYPE = "application/octet-stream"


@pytest.fixture(autouse=True)
def _no_database_signals():
    """response.close() and the ASGI handler send request_started/request_finished, whose close_old_connections
    would touch a database connection an earlier test left behind; keep them off as Django's test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    return path


def representation_of(path) -> Representation:
    stat = path.stat()
    return Representation(
        size=stat.st_size, etag=f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"', last_modified=stat.st_mtime
    )


def fds_on(path) -> int:
    """How many of this process's file descriptors are open on `path`."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the fd of the listdir itself, gone by now
            count += os.readlink(f"/proc/self/fd/{fd}") == str(path)
    return count


class Calls:
    """An on_close callback that counts its calls and notes the open descriptors on `path` at each."""

    def __init__(self, path=None):
        self.path = path
        self.fds_at_call = []

    def __call__(self):
        self.fds_at_call.append(fds_on(self.path) if self.path else None)

    @property
    def count(self):
        return len(self.fds_at_call)


def respond(path, method="GET", headers=None, representation=None, content_type=CONTENT_TYPE, **kwargs):
    request = RequestFactory().generic(method, "/file", headers=headers or {})
    return file_response(
        request,
        path=path,
        representation=representation or representation_of(path),
        content_type=content_type,
        **kwargs,
    )


async def consume(response) -> list[bytes]:
    """Iterate the response as ASGIHandler.send_response does: `aiter(response)` inside `aclosing`."""
    async with contextlib.aclosing(aiter(response)) as content:
        return [chunk async for chunk in content]


def read_chunks(response) -> list[bytes]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "StreamingHttpResponse must consume synchronous iterators"
        return asyncio.run(consume(response))


def expected_headers(path, **extra):
    representation = representation_of(path)
    return {
        "Content-Type": CONTENT_TYPE,
        "ETag": representation.etag,
        "Last-Modified": http_date(representation.last_modified),
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "public, max-age=0, must-revalidate",
        "Accept-Ranges": "bytes",
        **extra,
    }


# --- bodies -----------------------------------------------------------------------------------------------------


def test_full_get_streams_the_file_in_64_kib_chunks(data_file):
    response = respond(data_file)
    assert isinstance(response, StreamingHttpResponse)
    assert response.is_async
    assert response.status_code == 200
    assert dict(response.items()) == expected_headers(data_file, **{"Content-Length": str(SIZE)})
    chunks = read_chunks(response)
    assert b"".join(chunks) == DATA
    assert [len(chunk) for chunk in chunks] == [CHUNK] * 4 + [SIZE - 4 * CHUNK]
    assert fds_on(data_file) == 0  # closed when the last range was read


def test_chunk_size_comes_from_settings(data_file, settings):
    settings.STREAM_CHUNK_SIZE = 1000
    chunks = read_chunks(respond(data_file))
    assert b"".join(chunks) == DATA
    assert {len(chunk) for chunk in chunks} == {1000}


def test_chunk_size_argument(data_file):
    chunks = read_chunks(respond(data_file, headers={"Range": "bytes=10-29"}, chunk_size=7))
    assert chunks == [DATA[10:17], DATA[17:24], DATA[24:30]]
    with pytest.raises(ValueError):
        respond(data_file, chunk_size=0)


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=1000-70999", 1000, 70999),  # spans a chunk boundary
        ("bytes=0-0", 0, 0),
        ("bytes=-500", SIZE - 500, SIZE - 1),
        ("bytes=299990-", 299990, SIZE - 1),
        ("bytes=123-999999999", 123, SIZE - 1),
    ],
)
def test_single_range(data_file, header, first, last):
    response = respond(data_file, headers={"Range": header})
    assert response.status_code == 206
    assert dict(response.items()) == expected_headers(
        data_file, **{"Content-Range": f"bytes {first}-{last}/{SIZE}", "Content-Length": str(last - first + 1)}
    )
    assert b"".join(read_chunks(response)) == DATA[first : last + 1]


def test_multipart_byteranges(data_file):
    response = respond(data_file, headers={"Range": "bytes=0-9, 100000-170000, 299000-, 5-20"})
    assert response.status_code == 206
    content_type = response["Content-Type"]
    boundary = content_type.removeprefix("multipart/byteranges; boundary=")
    assert boundary != content_type
    assert len(boundary) == 32
    assert "Content-Range" not in response
    body = b"".join(read_chunks(response))
    assert len(body) == int(response["Content-Length"])

    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    assert message.is_multipart()
    parts = list(message.iter_parts())
    expected = [(0, 20), (100000, 170000), (299000, SIZE - 1)]  # 0-9 and 5-20 coalesced
    assert [part["Content-Range"] for part in parts] == [f"bytes {a}-{b}/{SIZE}" for a, b in expected]
    assert [part["Content-Type"] for part in parts] == [CONTENT_TYPE] * 3
    assert [part.get_payload(decode=True) for part in parts] == [DATA[a : b + 1] for a, b in expected]
    assert body.startswith(f"--{boundary}\r\n".encode())
    assert body.endswith(DATA[299000:] + f"\r\n--{boundary}--\r\n".encode())


def test_each_multipart_response_gets_its_own_boundary(data_file):
    headers = {"Range": "bytes=0-0,2-2"}
    assert respond(data_file, headers=headers)["Content-Type"] != respond(data_file, headers=headers)["Content-Type"]


def test_async_request_is_served_too(data_file):
    request = AsyncRequestFactory().get("/file", headers={"Range": "bytes=-3"})
    response = file_response(
        request, path=data_file, representation=representation_of(data_file), content_type=CONTENT_TYPE
    )
    assert b"".join(read_chunks(response)) == DATA[-3:]


def test_empty_file(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    response = respond(path)
    assert response["Content-Length"] == "0"
    assert read_chunks(response) == []
    assert respond(path, headers={"Range": "bytes=0-0"}).status_code == 416


# --- bodiless responses -------------------------------------------------------------------------------------------


def test_head_has_the_get_headers_and_no_body_and_never_opens_the_file(data_file):
    representation = representation_of(data_file)
    get_headers = dict(respond(data_file, representation=representation).items())
    data_file.unlink()  # opening it now would fail
    for headers in ({}, {"Range": "bytes=0-0"}):  # Range applies to GET only
        response = respond(data_file, "HEAD", headers=headers, representation=representation)
        assert response.status_code == 200
        assert not response.streaming
        assert response.content == b""
        assert dict(response.items()) == get_headers


def test_not_modified(data_file):
    representation = representation_of(data_file)
    response = respond(data_file, headers={"If-None-Match": representation.etag, "Range": "bytes=0-0"})
    assert response.status_code == 304
    assert not response.streaming
    assert response.content == b""
    assert dict(response.items()) == {
        "ETag": representation.etag,
        "Last-Modified": http_date(representation.last_modified),
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "public, max-age=0, must-revalidate",
    }  # no Content-Length (RFC 9110 §8.6)


def test_not_modified_since(data_file):
    representation = representation_of(data_file)
    headers = {"If-Modified-Since": http_date(representation.last_modified)}
    assert respond(data_file, headers=headers).status_code == 304


def test_precondition_failed(data_file):
    response = respond(data_file, headers={"If-Match": '"another"'})
    assert response.status_code == 412
    assert not response.streaming
    detail = "A precondition of the request (If-Match or If-Unmodified-Since) does not hold."
    assert (response["Content-Type"], json.loads(response.content)) == (
        "application/json",
        {"detail": detail, "success": False, "message": detail, "code": "precondition_failed"},
    )
    assert "Content-Range" not in response


def test_range_not_satisfiable(data_file):
    response = respond(data_file, headers={"Range": f"bytes={SIZE}-"})
    assert response.status_code == 416
    assert not response.streaming
    assert response["Content-Range"] == f"bytes */{SIZE}"
    detail = "The requested range selects no byte of the file."
    assert (response["Content-Type"], json.loads(response.content)) == (
        "application/json",
        {"detail": detail, "success": False, "message": detail, "code": "range_not_satisfiable"},
    )


def test_cache_control_can_be_changed_or_left_out(data_file):
    assert respond(data_file, cache_control="private, no-cache")["Cache-Control"] == "private, no-cache"
    assert "Cache-Control" not in respond(data_file, cache_control=None)


# --- Content-Disposition ------------------------------------------------------------------------------------------


def test_unicode_filename_gets_an_ascii_fallback_and_an_rfc_8187_name(data_file):
    name = "Rechnung März — बुकिंग 2024.pdf"
    value = respond(data_file, filename=name, as_attachment=True)["Content-Disposition"]
    fallback, encoded = value.removeprefix("attachment; ").split("; ")
    assert fallback == 'filename="Rechnung Marz _ ___ 2024.pdf"'
    assert encoded.startswith("filename*=utf-8''")
    assert urllib.parse.unquote(encoded.removeprefix("filename*=utf-8''"), errors="strict") == name
    assert value.isascii()


@pytest.mark.parametrize(
    ("as_attachment", "filename", "value"),
    [
        (False, "invoice.pdf", 'inline; filename="invoice.pdf"'),
        (True, 'invoice "7".pdf', 'attachment; filename="invoice \\"7\\".pdf"'),
        (True, "a\r\nb.pdf", "attachment; filename=\"a__b.pdf\"; filename*=utf-8''a%0D%0Ab.pdf"),
        (True, "café.pdf", "attachment; filename=\"cafe.pdf\"; filename*=utf-8''caf%C3%A9.pdf"),
        (True, None, "attachment"),
        (False, "x; filename*=y", 'inline; filename="x; filename*=y"'),
    ],
)
def test_content_disposition(as_attachment, filename, value):
    assert content_disposition(as_attachment, filename) == value


def test_no_content_disposition_without_filename(data_file):
    assert "Content-Disposition" not in respond(data_file)


# --- on_close and the file descriptor -----------------------------------------------------------------------------


def test_on_close_runs_once_after_the_whole_body(data_file):
    on_close = Calls(data_file)
    response = respond(data_file, on_close=on_close)
    assert b"".join(read_chunks(response)) == DATA
    assert on_close.count == 0  # the handler calls close() after sending
    response.close()
    response.close()
    assert on_close.fds_at_call == [0]


def test_on_close_runs_once_when_the_client_goes_away_and_the_file_is_closed_first(data_file):
    on_close = Calls(data_file)
    response = respond(data_file, on_close=on_close)

    async def read_one_chunk():
        async with contextlib.aclosing(aiter(response)) as content:
            async for chunk in content:
                assert fds_on(data_file) == 1
                return chunk

    assert asyncio.run(read_one_chunk()) == DATA[:CHUNK]
    assert fds_on(data_file) == 1  # abandoned, not yet closed
    response.close()
    assert fds_on(data_file) == 0
    assert on_close.fds_at_call == [0]
    response.close()
    assert on_close.count == 1


@pytest.mark.parametrize(
    ("method", "headers", "status"),
    [
        ("HEAD", {}, 200),
        ("GET", {"If-None-Match": "*"}, 304),
        ("GET", {"If-Match": '"another"'}, 412),
        ("GET", {"Range": f"bytes={SIZE}-"}, 416),
    ],
)
def test_on_close_runs_once_without_a_body(data_file, method, headers, status):
    on_close = Calls()
    response = respond(data_file, method, headers=headers, on_close=on_close)
    assert response.status_code == status
    assert on_close.count == 0
    response.close()
    response.close()
    assert on_close.count == 1


def test_on_close_runs_once_when_the_response_is_dropped_unclosed(data_file):
    on_close = Calls()
    response = respond(data_file, on_close=on_close)
    del response
    gc.collect()
    assert on_close.count == 1


@pytest.mark.parametrize(
    ("headers", "content_type"),
    [
        ({}, "text/plain\r\nX-Injected: 1"),  # Django refuses the header
        ({"Range": "bytes=0-0,5-5"}, "text/plain\r\nX-Injected: 1"),  # multipart: in the part headers too
        ({"Range": "bytes=0-0,5-5"}, "text/plain; name=\u0100"),
    ],
)
def test_on_close_runs_at_once_when_no_response_can_be_built(data_file, headers, content_type):
    on_close = Calls()
    with pytest.raises(ValueError):  # BadHeaderError is one
        respond(data_file, headers=headers, on_close=on_close, content_type=content_type)
    assert on_close.count == 1


def test_on_close_errors_are_logged_not_raised(data_file, caplog):
    def failing():
        raise OSError("cannot delete")

    response = respond(data_file, method="HEAD", on_close=failing)
    with caplog.at_level(logging.ERROR, logger="lebrq.http.streaming"):
        response.close()
    assert "on_close callback" in caplog.text
    assert "cannot delete" in caplog.text


# --- FileRangeIterator ----------------------------------------------------------------------------------------------


def test_iterator_is_async_only(data_file):
    iterator = FileRangeIterator(data_file, [(0, 1)], CHUNK)
    with pytest.raises(TypeError):
        iter(iterator)
    assert aiter(iterator) is iterator


def test_iterator_interleaves_literal_bytes(data_file):
    iterator = FileRangeIterator(data_file, [b"<", (0, 9), b"", b">", (10, 10), (5, 4)], 4)

    async def collect():
        return [chunk async for chunk in iterator]

    assert asyncio.run(collect()) == [b"<", DATA[0:4], DATA[4:8], DATA[8:10], b">", DATA[10:11]]
    assert fds_on(data_file) == 0


def test_iterator_opens_on_first_read_and_stops_after_close(data_file):
    iterator = FileRangeIterator(data_file, [(0, SIZE - 1)], CHUNK)

    async def run():
        assert fds_on(data_file) == 0
        assert await anext(iterator) == DATA[:CHUNK]
        assert fds_on(data_file) == 1
        await iterator.aclose()
        assert fds_on(data_file) == 0
        iterator.close()
        with pytest.raises(StopAsyncIteration):
            await anext(iterator)

    asyncio.run(run())


def test_iterator_raises_if_the_file_is_shorter_than_the_range(data_file):
    iterator = FileRangeIterator(data_file, [(SIZE - 10, SIZE + 10)], CHUNK)

    async def run():
        assert await anext(iterator) == DATA[-10:]
        with pytest.raises(OSError, match="ended before byte"):
            await anext(iterator)

    asyncio.run(run())
    assert fds_on(data_file) == 0


def test_cancelled_read_closes_the_file(data_file):
    iterator = FileRangeIterator(data_file, [(0, SIZE - 1)], CHUNK)

    async def run():
        task = asyncio.create_task(anext(iterator))
        await asyncio.sleep(0)  # the task is now awaiting its read in a worker thread
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert fds_on(data_file) == 0
        with pytest.raises(StopAsyncIteration):
            await anext(iterator)

    asyncio.run(run())


def test_iterator_rejects_a_zero_chunk_size(data_file):
    with pytest.raises(ValueError):
        FileRangeIterator(data_file, [(0, 1)], 0)


# --- through Django's ASGI handler --------------------------------------------------------------------------------


def serve_over_asgi(settings, view, method="GET", headers=(), disconnect_after=None):
    """Run one request through ASGIHandler; the client disconnects after `disconnect_after` body messages."""
    urlconf = types.ModuleType("streaming_test_urls")
    urlconf.urlpatterns = [url_path("file", view)]
    settings.ROOT_URLCONF = urlconf
    settings.MIDDLEWARE = []

    async def run():
        messages = []
        disconnected = asyncio.Event()
        request_sent = False

        async def receive():
            nonlocal request_sent
            if not request_sent:
                request_sent = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await disconnected.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            messages.append(message)
            if disconnect_after is not None and len(messages) - 1 >= disconnect_after:
                disconnected.set()
                await asyncio.Event().wait()  # the client is gone: this send never completes

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": "/file",
            "raw_path": b"/file",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"testserver"), *headers],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        await ASGIHandler()(scope, receive, send)
        return messages

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return asyncio.run(run())


def file_view(path, on_close):
    async def view(request):
        return file_response(
            request, path=path, representation=representation_of(path), content_type=CONTENT_TYPE, on_close=on_close
        )

    return view


def test_asgi_streams_the_whole_file_then_closes(data_file, settings):
    on_close = Calls(data_file)
    messages = serve_over_asgi(settings, file_view(data_file, on_close), headers=[(b"range", b"bytes=100-")])
    start, *bodies = messages
    assert start["status"] == 206
    assert (b"Content-Length", str(SIZE - 100).encode()) in start["headers"]
    assert b"".join(message.get("body", b"") for message in bodies) == DATA[100:]
    assert [len(message.get("body", b"")) for message in bodies] == [CHUNK] * 4 + [SIZE - 100 - 4 * CHUNK, 0]
    assert not bodies[-1].get("more_body", False)
    assert on_close.fds_at_call == [0]
    assert fds_on(data_file) == 0


def test_asgi_client_disconnect_mid_body_closes_the_file_and_runs_on_close_once(data_file, settings):
    on_close = Calls(data_file)
    messages = serve_over_asgi(settings, file_view(data_file, on_close), disconnect_after=2)
    start, *bodies = messages
    assert start["status"] == 200
    assert b"".join(message.get("body", b"") for message in bodies) == DATA[: 2 * CHUNK]
    assert on_close.fds_at_call == [0]
    assert fds_on(data_file) == 0


def test_asgi_head_sends_no_body_and_runs_on_close(data_file, settings):
    on_close = Calls(data_file)
    start, *bodies = serve_over_asgi(settings, file_view(data_file, on_close), method="HEAD")
    assert start["status"] == 200
    assert (b"Content-Length", str(SIZE).encode()) in start["headers"]
    assert b"".join(message.get("body", b"") for message in bodies) == b""
    assert on_close.fds_at_call == [0]


def counting_to_thread(monkeypatch) -> list:
    """Patch asyncio.to_thread in the streaming module to record each call (the reads done in a thread)."""
    calls = []
    real = asyncio.to_thread

    async def to_thread(function, *args):
        calls.append(args)
        return await real(function, *args)

    monkeypatch.setattr("lebrq.http.streaming.asyncio.to_thread", to_thread)
    return calls


async def collect(iterator) -> list[bytes]:
    return [chunk async for chunk in iterator]


def test_reads_from_the_page_cache_skip_the_thread_hop(data_file, monkeypatch):
    calls = counting_to_thread(monkeypatch)
    chunks = asyncio.run(collect(FileRangeIterator(data_file, [(0, SIZE - 1)], CHUNK)))
    assert chunks == [DATA[i : i + CHUNK] for i in range(0, SIZE, CHUNK)]
    assert calls == [(0, CHUNK)]  # only the first read, which opens the file; the rest came from the cache
    assert fds_on(data_file) == 0


def test_bytes_not_in_the_page_cache_are_read_in_a_thread(data_file, monkeypatch):
    calls = counting_to_thread(monkeypatch)

    def not_cached(fd, buffers, offset, flags):
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr("lebrq.http.streaming.os.preadv", not_cached)
    chunks = asyncio.run(collect(FileRangeIterator(data_file, [(1000, SIZE - 1)], CHUNK)))
    assert b"".join(chunks) == DATA[1000:]
    assert calls == [(1000 + i, min(CHUNK, SIZE - 1000 - i)) for i in range(0, SIZE - 1000, CHUNK)]


def test_a_filesystem_without_rwf_nowait_is_not_asked_again(data_file, monkeypatch):
    calls = counting_to_thread(monkeypatch)
    attempts = []

    def unsupported(fd, buffers, offset, flags):
        attempts.append(offset)
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr("lebrq.http.streaming.os.preadv", unsupported)
    chunks = asyncio.run(collect(FileRangeIterator(data_file, [(0, SIZE - 1)], CHUNK)))
    assert b"".join(chunks) == DATA
    assert attempts == [CHUNK]  # tried once, on the second read (the first opens the file in a thread)
    assert len(calls) == 5


def test_a_short_read_from_the_cache_continues_where_it_stopped(data_file, monkeypatch):
    real = os.preadv

    def half(fd, buffers, offset, flags):
        return real(fd, [buffers[0][: len(buffers[0]) // 2]], offset, flags)

    monkeypatch.setattr("lebrq.http.streaming.os.preadv", half)
    chunks = asyncio.run(collect(FileRangeIterator(data_file, [(0, SIZE - 1), b"|", (5, 9)], CHUNK)))
    assert b"".join(chunks) == DATA + b"|" + DATA[5:10]
    assert [len(chunk) for chunk in chunks[:3]] == [CHUNK, CHUNK // 2, CHUNK // 2]
    assert fds_on(data_file) == 0
