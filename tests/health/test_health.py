"""Health endpoints through Django's test client."""

from unittest import mock

import psutil
import pytest
from django.db import OperationalError, connection

from health import views as health_views
from health.views import memory_status
from lebrq.http.guards import MemoryGuard
from lebrq.memory import MemoryReading, MiB

GiB = 1024 * MiB


def test_liveness_needs_no_database(client):
    # No django_db mark: pytest-django makes any database access here an error.
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/api/health").json() == {"status": "ok"}


@pytest.mark.django_db
def test_readiness_runs_every_check(client, settings):
    response = client.get("/api/health/detailed")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["failing"] == []
    assert list(body["checks"]) == ["pool", "database", "media_root", "file_upload_temp_dir"]
    assert body["checks"]["database"] == {"status": "ok", "vendor": connection.vendor}
    assert body["checks"]["media_root"]["path"] == settings.MEDIA_ROOT
    assert body["checks"]["file_upload_temp_dir"]["path"] == settings.FILE_UPLOAD_TEMP_DIR


@pytest.mark.django_db
def test_readiness_is_503_naming_the_database_when_it_is_down(client):
    with mock.patch("health.checks.connection.cursor", side_effect=OperationalError(2003, "Can't connect")):
        response = client.get("/api/health/detailed")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["failing"] == ["database"]
    assert body["checks"]["database"] == {"status": "down", "error": '(2003, "Can\'t connect")'}
    assert body["checks"]["media_root"]["status"] == "ok"


@pytest.mark.django_db
def test_readiness_is_503_naming_a_full_disk(client, settings):
    settings.HEALTH_DISK_MIN_FREE_PERCENT = 100.1
    response = client.get("/api/health/detailed")
    assert response.status_code == 503
    assert response.json()["failing"] == ["media_root", "file_upload_temp_dir"]


MEMORY_REPORT_FIELDS = {
    "total_gb",
    "available_gb",
    "used_percent",
    "used_gb",
    "threshold_percent",
    "status",
    "source",
    "process_rss_mb",
    "protection_enabled",
    "shedding",
}


@pytest.fixture
def reading_of(monkeypatch):
    """Make the memory report read ``MemoryReading(**fields)``; returns the ``rss_cap_bytes`` it was asked for."""
    asked = []

    def install(**fields):
        def read_memory(rss_cap_bytes=None):
            asked.append(rss_cap_bytes)
            return MemoryReading(**fields, rss_cap_bytes=rss_cap_bytes)

        monkeypatch.setattr(health_views, "read_memory", read_memory)
        return asked

    monkeypatch.setattr(MemoryGuard, "active", None)  # no guard in this process unless a test installs one
    return install


def test_memory_report_has_the_seed_fields_in_gb(client, reading_of):
    asked = reading_of(total_bytes=16 * GiB, used_bytes=14 * GiB, source="cgroup-v2", process_rss_bytes=512 * MiB)
    assert client.get("/api/health/memory").json() == {
        "total_gb": 16.0,
        "available_gb": 2.0,
        "used_gb": 14.0,
        "used_percent": 87.5,
        "threshold_percent": 85.0,
        "status": "warning",
        "source": "cgroup-v2",
        "process_rss_mb": 512.0,
        "protection_enabled": True,
        "shedding": "off",
    }
    assert asked == [None]  # MEMORY_MAX_RSS_MB = 0: no per-process cap


def test_memory_report_follows_the_settings_and_the_guard(client, reading_of, settings):
    settings.MEMORY_THRESHOLD_PERCENT = 80.0
    settings.MEMORY_CRITICAL_PERCENT = 87.0
    settings.MEMORY_MAX_RSS_MB = 1000
    asked = reading_of(total_bytes=16 * GiB, used_bytes=8 * GiB, source="host", process_rss_bytes=950 * MiB)
    guard = MemoryGuard(None, sampler=None)
    guard.state = MemoryGuard.SHED_ALL
    body = client.get("/api/health/memory").json()
    assert asked == [1000 * MiB]
    # The process's RSS against its cap (95 %) counts, not the host's 50 %.
    assert (body["used_percent"], body["status"], body["threshold_percent"]) == (95.0, "critical", 80.0)
    assert (body["used_gb"], body["available_gb"]) == (8.0, 8.0)
    assert body["shedding"] == "shedding-all"


def test_memory_report_reads_this_machine(client, monkeypatch):
    monkeypatch.setattr(MemoryGuard, "active", None)
    body = client.get("/api/health/memory").json()
    assert set(body) == MEMORY_REPORT_FIELDS
    assert body["source"] in ("cgroup-v2", "cgroup-v1", "host")
    if body["source"] == "host":
        assert body["total_gb"] == round(psutil.virtual_memory().total / GiB, 2)
    else:
        assert body["total_gb"] < round(psutil.virtual_memory().total / GiB, 2)  # a cgroup limit below the host's
    assert 0 < body["used_percent"] < 100
    # The test client runs the view in this process: its RSS is ours (give or take what the request allocated).
    assert abs(body["process_rss_mb"] - psutil.Process().memory_info().rss / MiB) < 64
    assert body["shedding"] == "off"


@pytest.mark.parametrize(
    ("percent", "status"),
    [(10, "ok"), (84.9, "ok"), (85, "warning"), (89.9, "warning"), (90, "critical"), (100, "critical")],
)
def test_memory_status(percent, status):
    assert memory_status(percent, 85, 90) == status


@pytest.mark.django_db
def test_pool_report(client, settings):
    body = client.get("/api/health/pool").json()
    assert body["max_connections"] == 4
    pooled = body["vendor"] == "mysql"
    assert body["pooled"] is pooled
    # On MariaDB the test's own transaction holds the one pooled connection that this request reuses.
    assert body["checked_out"] == (1 if pooled else 0)
    assert body["in_use"] == 0  # the test client runs the view in the test's thread, not a request thread
