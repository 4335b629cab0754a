"""/api/health/detailed shows its checks (paths, free bytes, pool internals) only to HEALTH_ALLOWED_IPS and staff
tokens; everyone gets the status and the failing checks. The other health endpoints stay public."""

import pytest
from django.test import Client

from accounts.tokens import AccessToken

pytestmark = pytest.mark.django_db
REMOTE = {"HTTP_X_FORWARDED_FOR": "203.0.113.5"}  # through the trusted local proxy


def test_loopback_sees_the_details():
    body = Client().get("/api/health/detailed").json()
    assert list(body) == ["status", "failing", "checks"]


def test_others_get_status_and_failing_only(settings):
    response = Client().get("/api/health/detailed", **REMOTE)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "failing": []}
    settings.HEALTH_DISK_MIN_FREE_PERCENT = 100.1
    failing = Client().get("/api/health/detailed", **REMOTE)
    assert failing.status_code == 503
    detail = "Not ready: media_root, file_upload_temp_dir failing."
    assert failing.json() == {
        "status": "unhealthy",
        "failing": ["media_root", "file_upload_temp_dir"],
        "detail": detail,
        "success": False,
        "message": detail,
        "code": "unhealthy",
    }


def test_staff_token_sees_the_details_from_anywhere(staff, customer):
    def body(token):
        return Client().get("/api/health/detailed", HTTP_AUTHORIZATION=f"Bearer {token}", **REMOTE).json()

    assert "checks" in body(AccessToken.for_user(staff))
    assert "checks" not in body(AccessToken.for_user(customer))
    assert body("garbage") == {"status": "ok", "failing": []}


def test_allowed_networks_are_configurable(settings):
    settings.HEALTH_ALLOWED_IPS = ["203.0.113.0/24"]
    assert "checks" in Client().get("/api/health/detailed", **REMOTE).json()
    assert "checks" not in Client().get("/api/health/detailed").json()  # loopback no longer listed


def test_liveness_and_memory_stay_public():
    assert Client().get("/health", **REMOTE).json() == {"status": "ok"}
    assert Client().get("/api/health", **REMOTE).json() == {"status": "ok"}
    memory = Client().get("/api/health/memory", **REMOTE).json()
    assert {"total_gb", "available_gb", "used_gb", "used_percent", "threshold_percent", "status"} <= set(memory)
