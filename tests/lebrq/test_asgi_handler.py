"""`TempDirASGIHandler`: the request body spools into FILE_UPLOAD_TEMP_DIR and is closed on every failure."""

import asyncio
import contextlib
import errno
import json
import os
import tempfile
from pathlib import Path
from unittest import mock

import pytest
from django.core.exceptions import RequestAborted

from lebrq.http.asgi_handler import TempDirASGIHandler

KiB = 1024


def open_files_under(directory: str) -> list[str]:
    """Targets of this process's open file descriptors that lie in `directory` (unnamed files included)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(directory) + "/"):
            found.append(target)
    return found


def receiver(messages):
    queue = list(messages)

    async def receive():
        return queue.pop(0)

    return receive


def body_messages(size: int, chunk: int = 16 * KiB):
    sent = 0
    while sent < size:
        piece = min(chunk, size - sent)
        sent += piece
        yield {"type": "http.request", "body": b"x" * piece, "more_body": sent < size}


@pytest.fixture
def handler(settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * KiB
    return TempDirASGIHandler()


def test_a_large_body_rolls_over_into_the_upload_temp_dir(handler, settings):
    body = asyncio.run(handler.read_body(receiver(body_messages(200 * KiB))))
    try:
        assert body._rolled
        assert body.read() == b"x" * 200 * KiB
        spool = os.readlink(f"/proc/self/fd/{body.fileno()}")
        assert spool.startswith(str(settings.FILE_UPLOAD_TEMP_DIR) + "/")
        assert spool.endswith(" (deleted)") or "/#" in spool  # unlinked, or unnamed (O_TMPFILE)
        assert list(Path(settings.FILE_UPLOAD_TEMP_DIR).iterdir()) == []  # nothing with a name
    finally:
        body.close()
    assert open_files_under(settings.FILE_UPLOAD_TEMP_DIR) == []


def test_a_small_body_stays_in_memory(handler, settings):
    body = asyncio.run(handler.read_body(receiver(body_messages(10 * KiB))))
    assert not body._rolled
    assert body.read() == b"x" * 10 * KiB
    assert open_files_under(settings.FILE_UPLOAD_TEMP_DIR) == []


def test_a_client_gone_mid_body_leaves_no_spool(handler, settings):
    *body, _last = body_messages(200 * KiB)
    messages = [*body, {"type": "http.disconnect"}]
    before = set(open_files_under(tempfile.gettempdir()))  # pytest's own capture files live there
    with pytest.raises(RequestAborted):
        asyncio.run(handler.read_body(receiver(messages)))
    assert open_files_under(settings.FILE_UPLOAD_TEMP_DIR) == []
    assert set(open_files_under(tempfile.gettempdir())) == before


def test_a_cancelled_read_leaves_no_spool(handler, settings):
    async def scenario():
        first = [*body_messages(200 * KiB)][:-1]

        async def receive():
            if first:
                return first.pop(0)
            await asyncio.sleep(3600)  # the client stalls; the server cancels the task

        task = asyncio.create_task(handler.read_body(receive))
        await asyncio.sleep(0.05)
        assert len(open_files_under(settings.FILE_UPLOAD_TEMP_DIR)) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert open_files_under(settings.FILE_UPLOAD_TEMP_DIR) == []


def test_a_full_disk_while_spooling_is_507_json(handler, settings):
    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/uploads/video", "headers": [], "query_string": b""}
    no_space = OSError(errno.ENOSPC, "No space left on device")
    with mock.patch.object(tempfile.SpooledTemporaryFile, "write", side_effect=no_space):
        asyncio.run(handler(scope, receiver(body_messages(200 * KiB)), send))
    assert sent[0]["status"] == 507
    assert json.loads(sent[1]["body"]) == {
        "detail": "The server has no room to receive this request body.",
        "success": False,
        "message": "The server has no room to receive this request body.",
        "code": "insufficient_storage",
    }
    assert open_files_under(settings.FILE_UPLOAD_TEMP_DIR) == []


def test_middleware_and_view_run_in_one_thread_without_returning_to_the_loop(settings):
    """`TempDirASGIHandler.load_middleware`: the chain is entered once from the event loop; middleware and view
    share the request's thread, and nothing switches back to the loop (no `async_to_sync`) in between."""
    import threading
    from types import ModuleType

    from asgiref.sync import AsyncToSync
    from django.http import HttpResponse
    from django.middleware.security import SecurityMiddleware
    from django.urls import path

    threads = {}

    def view(request):
        threads["view"] = threading.get_ident()
        return HttpResponse("ok")

    urlconf = ModuleType("threads_urls")
    urlconf.urlpatterns = [path("threads", view)]
    settings.ROOT_URLCONF = urlconf
    original = SecurityMiddleware.process_request

    def process_request(middleware, request):
        threads["middleware"] = threading.get_ident()
        return original(middleware, request)

    sent = []

    async def send(message):
        sent.append(message)

    async def main():
        threads["loop"] = threading.get_ident()
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/threads",
            "headers": [(b"host", b"testserver")],
            "query_string": b"",
        }
        requested = False

        async def receive():  # the (empty) body, then nothing: the client stays connected
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b""}
            await asyncio.Event().wait()

        await TempDirASGIHandler()(scope, receive, send)

    original_async_to_sync = AsyncToSync.__call__
    crossings = []

    def async_to_sync_call(self, *args, **kwargs):
        crossings.append(self.awaitable)
        return original_async_to_sync(self, *args, **kwargs)

    with (
        mock.patch.object(SecurityMiddleware, "process_request", process_request),
        mock.patch.object(AsyncToSync, "__call__", async_to_sync_call),
    ):
        asyncio.run(main())
    assert sent[0]["status"] == 200
    assert threads["middleware"] == threads["view"] != threads["loop"]
    assert crossings == []


# --- response bodies over SPOOL_RESPONSE_OVER are sent from an unnamed temporary file ------------------------------


def big_response(size: int):
    """An `HttpResponse` of ``size`` bytes (a repeating pattern) with a status, a header and a cookie of its own."""
    from django.http import HttpResponse

    response = HttpResponse(bytes(range(256)) * (size // 256), status=201, content_type="application/json")
    response["Content-Length"] = str(size)
    response["X-Own"] = "kept"
    response.set_cookie("seen", "1")
    return response


def send_recording(handler, response, directory, fail_at: int | None = None):
    """Send ``response`` through ``handler.send_response``; returns (messages, open files under ``directory`` and
    ``response._container`` seen at each body message). ``fail_at``: the body message at which the client goes
    away (the send raises CancelledError, as Django's `handle` cancels the task)."""
    messages, seen = [], []

    async def send(message):
        if message["type"] == "http.response.body":
            seen.append((len(open_files_under(directory)), list(response._container)))
            if fail_at is not None and len(seen) == fail_at:
                raise asyncio.CancelledError
        messages.append(message)

    async def main():
        with contextlib.suppress(asyncio.CancelledError):
            await handler.send_response(response, send)

    asyncio.run(main())
    return messages, seen


def test_a_body_over_the_spool_size_is_sent_from_an_unnamed_file_and_released(handler, settings):
    from lebrq.http.asgi_handler import SPOOL_RESPONSE_OVER

    settings.STREAM_CHUNK_SIZE = 64 * KiB
    size = SPOOL_RESPONSE_OVER + 256
    response = big_response(size)
    expected = response.content
    messages, seen = send_recording(handler, response, settings.FILE_UPLOAD_TEMP_DIR)
    start, *body = messages
    assert start["status"] == 201
    headers = dict(start["headers"])
    assert (headers[b"Content-Length"], headers[b"X-Own"]) == (str(size).encode(), b"kept")
    assert headers[b"Set-Cookie"].startswith(b"seen=1;")
    assert b"".join(message.get("body", b"") for message in body) == expected
    assert max(len(message.get("body", b"")) for message in body) == 64 * KiB
    assert seen[0] == (1, [])  # while sent: one open file in the temp dir, nothing of the body in the response
    assert open_files_under(settings.FILE_UPLOAD_TEMP_DIR) == []
    assert os.listdir(settings.FILE_UPLOAD_TEMP_DIR) == []  # unnamed: never a name in the directory


def test_a_body_of_the_spool_size_is_sent_from_memory(handler, settings):
    from lebrq.http.asgi_handler import SPOOL_RESPONSE_OVER

    response = big_response(SPOOL_RESPONSE_OVER)
    expected = response.content
    messages, seen = send_recording(handler, response, settings.FILE_UPLOAD_TEMP_DIR)
    assert b"".join(message.get("body", b"") for message in messages[1:]) == expected
    assert seen[0] == (0, [expected])
    assert response._container == []  # released once sent


def test_a_client_gone_mid_body_closes_the_spooled_file(handler, settings):
    from lebrq.http.asgi_handler import SPOOL_RESPONSE_OVER

    response = big_response(4 * SPOOL_RESPONSE_OVER)
    messages, seen = send_recording(handler, response, settings.FILE_UPLOAD_TEMP_DIR, fail_at=2)
    assert [count for count, _ in seen] == [1, 1]
    assert len(messages) == 2  # the start and one chunk
    assert open_files_under(settings.FILE_UPLOAD_TEMP_DIR) == []


def test_a_body_that_cannot_be_spooled_is_sent_from_memory(handler, settings):
    from lebrq.http import asgi_handler

    response = big_response(2 * asgi_handler.SPOOL_RESPONSE_OVER)
    expected = response.content
    no_space = OSError(errno.ENOSPC, "No space left on device")
    with mock.patch.object(asgi_handler, "_write_spool", side_effect=no_space):
        messages, seen = send_recording(handler, response, settings.FILE_UPLOAD_TEMP_DIR)
    assert b"".join(message.get("body", b"") for message in messages[1:]) == expected
    assert seen[0] == (0, [expected])


def test_the_body_of_an_answer_to_head_is_not_spooled(handler, settings):
    from lebrq.http.asgi_handler import REQUEST_METHOD, SPOOL_RESPONSE_OVER

    response = big_response(2 * SPOOL_RESPONSE_OVER)

    async def main():
        REQUEST_METHOD.set("HEAD")
        return await asgi_handler_module().spool_response(response)

    assert asyncio.run(main()) is None
    assert len(response._container[0]) == 2 * SPOOL_RESPONSE_OVER


def asgi_handler_module():
    from lebrq.http import asgi_handler

    return asgi_handler


def test_a_client_gone_while_the_body_is_written_leaves_no_open_file(handler, settings):
    """The wait for the writing thread is cancelled; the file it then returns is closed (not left to the GC)."""
    import threading

    module = asgi_handler_module()
    response = big_response(2 * module.SPOOL_RESPONSE_OVER)
    release, written = threading.Event(), []
    original = module._write_spool

    def slow_write(parts):
        release.wait(5)
        written.append(original(parts))
        return written[-1]

    async def main():
        with mock.patch.object(module, "_write_spool", slow_write):
            task = asyncio.create_task(module.spool_response(response))
            await asyncio.sleep(0.05)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            release.set()
            for _ in range(100):  # the thread finishes; its done callback runs on the loop
                await asyncio.sleep(0.01)
                if written and written[0][0].closed:
                    break

    asyncio.run(main())
    assert written[0][0].closed
    assert open_files_under(settings.FILE_UPLOAD_TEMP_DIR) == []
