"""Memory protection in a real uvicorn worker: forced thresholds, exemptions, the rollback switch, the log."""

import json
import time

import httpx
import pytest

from .conftest import raw_request

pytestmark = pytest.mark.live

MiB = 1024 * 1024


def test_threshold_stage_sheds_uploads_and_writes_but_serves_reads(server_factory):
    server = server_factory("shed", MEMORY_THRESHOLD_PERCENT="1", MEMORY_CRITICAL_PERCENT="100")
    started = time.monotonic()
    answer = raw_request(
        server.url,
        "POST /api/uploads/video HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {1024 * MiB}\r\nExpect: 100-continue\r\n\r\n",
    )
    assert time.monotonic() - started < 1
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 ")
    assert b"100 Continue" not in head
    assert b"\r\nretry-after: 5\r\n" in head.lower()
    assert b"\r\nx-memory-usage: " in head.lower()
    assert json.loads(body)["error_type"] == "memory_error"
    assert httpx.get(server.url + "/api/venues").status_code == 200
    assert httpx.post(server.url + "/api/auth/login", json={}).status_code == 503
    assert httpx.get(server.url + "/api/health/memory").json()["shedding"] == "shedding-unsafe"
    assert "[Memory Protection] Rejecting POST /api/uploads/video - Memory usage:" in server.log.read_text()


def test_critical_stage_sheds_everything_but_health(server_factory):
    server = server_factory("critical", MEMORY_THRESHOLD_PERCENT="1", MEMORY_CRITICAL_PERCENT="1")
    assert httpx.get(server.url + "/api/venues").status_code == 503
    assert httpx.get(server.url + "/health").status_code == 200
    memory = httpx.get(server.url + "/api/health/memory").json()
    assert memory["status"] == "critical"
    assert memory["shedding"] == "shedding-all"


def test_rollback_switch_turns_protection_off(server_factory):
    server = server_factory("off", MEMORY_PROTECTION_ENABLED="0", MEMORY_THRESHOLD_PERCENT="1")
    assert httpx.get(server.url + "/api/venues").status_code == 200
    with server.client() as client:
        assert client.post("/api/bookings", json={}).status_code == 400
    assert httpx.get(server.url + "/api/health/memory").json()["shedding"] == "off"
    too_big = raw_request(
        server.url,
        "POST /api/uploads/image HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {16 * MiB}\r\nExpect: 100-continue\r\n\r\n",
    )
    assert too_big.startswith(b"HTTP/1.1 413 ")  # upload limits are input validation: they stay on


def test_startup_logs_memory_protection_settings(live_server_uvicorn):
    log = live_server_uvicorn.log.read_text()
    assert "Memory protection enabled: threshold 85%, critical 90%" in log
