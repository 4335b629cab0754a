"""Health endpoints through Django's test client."""

from unittest import mock

import pytest
from django.db import OperationalError, connection

from health.views import memory_status


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


def test_memory_report_has_the_seed_fields(client, settings):
    body = client.get("/api/health/memory").json()
    assert set(body) >= {
        "total_gb",
        "available_gb",
        "used_percent",
        "used_gb",
        "threshold_percent",
        "status",
        "source",
        "process_rss_mb",
        "shedding",
    }
    assert body["threshold_percent"] == 85.0
    assert body["status"] == memory_status(body["used_percent"], 85.0, 90.0)
    assert body["total_gb"] >= body["available_gb"]


@pytest.mark.parametrize(("percent", "status"), [(10, "ok"), (84.9, "ok"), (85, "warning"), (90, "critical")])
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
