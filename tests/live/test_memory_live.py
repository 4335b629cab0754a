"""Memory protection in a real uvicorn worker: forced thresholds, exemptions, the rollback switch, the log."""

import time

import httpx
import pytest

pytestmark = pytest.mark.live

MiB = 1024 * 1024


def test_threshold_stage_sheds_uploads_and_writes_but_serves_reads(server_factory):
    server = server_factory("shed", MEMORY_THRESHOLD_PERCENT="1", MEMORY_CRITICAL_PERCENT="100")
    started = time.monotonic()
    upload = httpx.post(
        server.url + "/api/uploads/video",
        headers={
            "Content-Type": "multipart/form-data; boundary=x",
            "Content-Length": str(1024 * MiB),
            "Expect": "100-continue",
        },
        content=b"",
    )
    assert upload.status_code == 503
    assert time.monotonic() - started < 1
    assert upload.headers["retry-after"] == "5"
    assert upload.headers["x-memory-usage"].endswith("%")
    body = upload.json()
    assert body["error_type"] == "memory_error"
    assert body["success"] is False
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


def test_startup_logs_memory_protection_settings(live_server_uvicorn):
    log = live_server_uvicorn.log.read_text()
    assert "Memory protection enabled: threshold 85%, critical 90%" in log
