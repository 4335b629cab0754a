"""Admission decisions (lebrq.http.admission) and the gate that applies them (lebrq.http.protocols)."""

import asyncio
import json

import pytest

from lebrq.http.admission import admits, counted, overload_body
from lebrq.http.protocols import AdmissionGate


@pytest.mark.parametrize(
    ("path", "in_flight", "limit", "expected"),
    [
        ("/api/venues", 29, 30, True),
        ("/api/venues", 30, 30, False),
        ("/api/venues", 1000, None, True),
        ("/health", 1000, 30, True),
        ("/api/health", 1000, 30, True),
        ("/api/health/detailed", 1000, 30, True),
        ("/api/healthy", 30, 30, False),
        ("/api/uploads/video", 0, 0, False),
    ],
)
def test_admits(path, in_flight, limit, expected):
    assert admits(path, in_flight, limit) is expected


def test_health_is_not_counted():
    assert (counted("/health"), counted("/api/health/pool"), counted("/api/bookings")) == (False, False, True)


def test_overload_body_is_the_error_shape():
    assert overload_body(4) == {
        "detail": "The server is busy; retry shortly.",
        "success": False,
        "message": "The server is busy; retry shortly.",
        "code": "overloaded",
        "retry_after": 4,
    }


def http_scope(path):
    return {"type": "http", "method": "GET", "path": path, "headers": []}


async def receive():
    return {"type": "http.request", "body": b"", "more_body": False}


def test_gate_counts_until_the_response_starts_and_refuses_past_the_limit():
    """Request A holds the only slot while computing; B is refused with JSON 503 + Retry-After; /health passes.
    Once A's response has started (its body still being sent), the slot is free again."""
    started, proceed, body_sent = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def app(scope, receive, send):
        if scope["path"] == "/slow":
            started.set()
            await proceed.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await body_sent.wait()
            await send({"type": "http.response.body", "body": b"a"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    gate = AdmissionGate(app, limit=1, retry_after=2)

    async def request(path):
        messages = []

        async def send(message):
            messages.append(message)

        await gate(http_scope(path), receive, send)
        return messages

    async def scenario():
        slow = asyncio.create_task(request("/slow"))
        await started.wait()
        assert gate.in_flight == 1
        refused = await request("/api/venues")
        health = await request("/health")
        proceed.set()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert gate.in_flight == 0  # response started: the slot is free while its body is sent
        served = await request("/api/venues")
        body_sent.set()
        await slow
        return refused, health, served

    refused, health, served = asyncio.run(scenario())
    assert refused[0]["status"] == 503
    assert dict(refused[0]["headers"])[b"retry-after"] == b"2"
    assert json.loads(refused[1]["body"])["code"] == "overloaded"
    assert health[0]["status"] == 200
    assert served[0]["status"] == 200
    assert gate.in_flight == 0


def test_gate_releases_the_slot_when_the_app_fails():
    async def failing(scope, receive, send):
        raise RuntimeError("boom")

    gate = AdmissionGate(failing, limit=1, retry_after=1)

    async def send(message):
        pass

    with pytest.raises(RuntimeError):
        asyncio.run(gate(http_scope("/api/venues"), receive, send))
    assert gate.in_flight == 0


def test_gate_queues_past_the_limit_for_up_to_queue_timeout():
    """With one slot taken, a second request waits; when the first response starts the waiter gets the slot
    (never more than ``limit`` in flight); a third, waiting longer than ``queue_timeout``, is refused."""
    proceed = asyncio.Event()
    peak = 0

    async def app(scope, receive, send):
        nonlocal peak
        peak = max(peak, gate.in_flight)
        if scope["path"] == "/first":
            await proceed.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    gate = AdmissionGate(app, limit=1, retry_after=1, queue_timeout=0.2)

    async def request(path):
        messages = []

        async def send(message):
            messages.append(message)

        await gate(http_scope(path), receive, send)
        return messages[0]["status"]

    async def scenario():
        first = asyncio.create_task(request("/first"))
        await asyncio.sleep(0)
        second = asyncio.create_task(request("/second"))
        await asyncio.sleep(0.05)
        proceed.set()
        statuses = [await first, await second]
        proceed.clear()
        blocked = asyncio.create_task(request("/first"))
        await asyncio.sleep(0)
        statuses.append(await request("/third"))  # waits 0.2 s, then refused
        proceed.set()
        statuses.append(await blocked)
        return statuses

    assert asyncio.run(scenario()) == [200, 200, 503, 200]
    assert peak == 1
    assert gate.in_flight == 0
    assert not gate.waiters


def test_the_overload_503_carries_cors_headers_for_an_allowed_origin(settings):
    settings.CORS_ALLOWED_ORIGINS = ["http://localhost:3000"]
    gate = AdmissionGate(None, limit=0, retry_after=2)  # every counted request is refused

    async def refused(origin: bytes):
        messages = []

        async def send(message):
            messages.append(message)

        scope = {**http_scope("/api/venues"), "headers": [(b"origin", origin)]}
        await gate(scope, receive, send)
        return dict(messages[0]["headers"]), messages[0]["status"]

    allowed, status = asyncio.run(refused(b"http://localhost:3000"))
    assert (status, allowed[b"retry-after"], allowed[b"access-control-allow-origin"]) == (
        503,
        b"2",
        b"http://localhost:3000",
    )
    other, status = asyncio.run(refused(b"http://evil.example"))
    assert status == 503
    assert b"access-control-allow-origin" not in other


def test_a_deferred_gate_counts_only_what_reaches_the_admission_point():
    """``deferred``: the gate hands itself to the `AdmissionPoint` through the scope; a layer in front of the point
    that answers by itself (here: ``/refused`` → 401) takes no slot, so it is answered while the slot is held;
    without a gate in the scope the point lets everything through."""
    from lebrq.http.gate import SCOPE_KEY, AdmissionPoint

    started, proceed = asyncio.Event(), asyncio.Event()

    async def application(scope, receive, send):
        if scope["path"] == "/slow":
            started.set()
            await proceed.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    point = AdmissionPoint(application)

    async def head_guard(scope, receive, send):
        if scope["path"] == "/refused":
            await send({"type": "http.response.start", "status": 401, "headers": []})
            return await send({"type": "http.response.body", "body": b""})
        await point(scope, receive, send)

    gate = AdmissionGate(head_guard, limit=1, retry_after=2, deferred=True)

    async def request(path, app=gate):
        messages = []

        async def send(message):
            messages.append(message)

        scope = http_scope(path)
        await app(scope, receive, send)
        return messages[0]["status"], scope

    async def scenario():
        slow = asyncio.create_task(request("/slow"))
        await started.wait()
        held = gate.in_flight
        refused_by_head = await request("/refused")
        over_limit = await request("/api/venues")
        proceed.set()
        slow_status, slow_scope = await slow
        ungated = await request("/api/venues", app=point)  # no gate in the scope: passes through
        return held, refused_by_head, over_limit, (slow_status, slow_scope), ungated

    held, refused_by_head, over_limit, slow, ungated = asyncio.run(scenario())
    assert held == 1
    assert refused_by_head[0] == 401
    assert over_limit[0] == 503
    assert slow[0] == 200 and slow[1][SCOPE_KEY] is gate
    assert ungated[0] == 200 and SCOPE_KEY not in ungated[1]
    assert gate.in_flight == 0


@pytest.mark.parametrize("point_built", [True, False])
def test_gate_for_defers_only_to_an_admission_point_the_process_built(monkeypatch, settings, point_built):
    from types import SimpleNamespace

    from lebrq.http.gate import AdmissionPoint, gate_for

    monkeypatch.setattr(AdmissionPoint, "built", point_built)
    config, state = SimpleNamespace(loaded_app=None, limit_concurrency=30), SimpleNamespace()
    gate = gate_for(config, state)
    assert (gate.deferred, gate.limit, gate_for(config, state) is gate) == (point_built, 30, True)
