"""The pure-ASGI guards, driven directly with ASGI messages (no server)."""

import asyncio
import json

import pytest

from lebrq.http.guards import MemoryGuard, UploadLimitGuard
from lebrq.memory import MemoryReading


class FakeSampler:
    def __init__(self, percent):
        self.latest = MemoryReading(1000, int(percent * 10), "host", 1)

    def set(self, percent):
        self.latest = MemoryReading(1000, int(percent * 10), "host", 1)

    def start(self):
        pass


async def inner_app(scope, receive, send):
    """The app behind the guard: reads the whole request body, then answers ``inner:<body>``."""
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"inner:" + body})


def call(app, method, path, headers=(), body=b"payload"):
    """Run ``app`` on one request; returns (status, headers, response body, the receive() calls made).

    The request body arrives in two messages, so an app that reads it whole calls receive() twice.
    """
    messages = []
    received = []
    pending = [
        {"type": "http.request", "body": body[:3], "more_body": True},
        {"type": "http.request", "body": body[3:], "more_body": False},
    ]

    async def receive():
        received.append(True)
        return pending.pop(0)

    async def send(message):
        messages.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": list(headers)}
    asyncio.run(app(scope, receive, send))
    start = messages[0]
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return start["status"], dict(start["headers"]), body, received


LIMITS = {"image": 100, "video": 1000, "document": 50}


@pytest.mark.parametrize(
    ("path", "length", "status"),
    [
        ("/api/uploads/image", b"100", 200),
        ("/api/uploads/image", b"101", 413),
        ("/api/uploads/video/", b"1000", 200),
        ("/api/uploads/document", b"51", 413),
        ("/api/uploads/image", b"12x", 400),
        ("/api/bookings", b"999999", 200),
    ],
)
def test_upload_limit_by_content_length(path, length, status):
    got, headers, body, received = call(
        UploadLimitGuard(inner_app, LIMITS), "POST", path, [(b"content-length", length)]
    )
    assert got == status
    if status == 200:
        # Passed through: the app, not the guard, read the whole body, untouched.
        assert body == b"inner:payload"
        assert len(received) == 2
    else:
        assert received == []  # refused on the headers alone: nothing of the body was read
        assert headers[b"connection"] == b"close"
        assert json.loads(body)["code"] == {413: "payload_too_large", 400: "bad_request"}[status]


def test_upload_without_content_length_is_411():
    got, _, body, received = call(
        UploadLimitGuard(inner_app, LIMITS), "POST", "/api/uploads/image", [(b"transfer-encoding", b"chunked")]
    )
    assert got == 411
    assert json.loads(body)["code"] == "length_required"
    assert received == []


def test_upload_limit_lets_other_methods_through_without_content_length():
    got, _, body, received = call(UploadLimitGuard(inner_app, LIMITS), "GET", "/api/uploads/image")
    assert (got, body, len(received)) == (200, b"inner:payload", 2)


def guard_at(percent):
    return MemoryGuard(inner_app, FakeSampler(percent), threshold=85, critical=90, hysteresis=5, retry_after=7)


@pytest.mark.parametrize(
    ("percent", "method", "path", "status"),
    [
        (50, "POST", "/api/bookings", 200),
        (86, "GET", "/api/bookings", 200),
        (86, "POST", "/api/bookings", 503),
        (86, "POST", "/api/uploads/video", 503),
        (86, "GET", "/health", 200),
        (91, "GET", "/api/bookings", 503),
        (91, "GET", "/api/health/memory", 200),
        (91, "GET", "/health", 200),
        (91, "POST", "/admin/login/", 200),
    ],
)
def test_memory_guard_stages(percent, method, path, status):
    got, headers, body, received = call(guard_at(percent), method, path)
    assert got == status
    if status == 200:
        assert body == b"inner:payload"
        assert len(received) == 2
    else:
        assert received == []  # shed before any of the body was read
        assert headers[b"retry-after"] == b"7"
        assert headers[b"x-memory-usage"] == f"{percent:.1f}%".encode()
        assert headers[b"connection"] == b"close"
        payload = json.loads(body)
        assert payload["success"] is False
        assert payload["error_type"] == "memory_error"
        assert payload["retry_after"] == 7


def test_memory_guard_hysteresis():
    guard = guard_at(0)
    assert [guard.update_state(p) for p in (86, 83, 79, 91, 87, 84, 79)] == [
        "shedding-unsafe",
        "shedding-unsafe",  # still above 85 - 5
        "normal",
        "shedding-all",
        "shedding-all",  # still above 90 - 5
        "shedding-unsafe",
        "normal",
    ]


def test_memory_guard_rejection_is_logged_as_in_the_seed(caplog):
    caplog.set_level("WARNING", logger="lebrq.memory")
    call(guard_at(87.3), "POST", "/api/bookings")
    assert "[Memory Protection] Rejecting POST /api/bookings - Memory usage: 87.3%" in caplog.text


def test_memory_error_in_app_becomes_503(caplog):
    async def exploding(scope, receive, send):
        raise MemoryError

    caplog.set_level("ERROR", logger="lebrq.memory")
    guard = MemoryGuard(exploding, FakeSampler(10))
    got, headers, _, _ = call(guard, "GET", "/api/bookings")
    assert got == 503
    assert b"retry-after" in headers
    assert "[Memory Protection] Collected" in caplog.text
    assert "objects after MemoryError" in caplog.text
