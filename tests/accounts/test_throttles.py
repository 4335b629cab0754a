"""Throttling of login, register and password reset (and the admin's login page) through Django's test client:
per client address, per (account, address), 429 + Retry-After in the error shape, X-Forwarded-For only through
trusted proxies, the Redis cache, and a cache that is down."""

import uuid

import pytest
import redis
from django.core import mail
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

RIGHT = {"username": "asha", "password": "pw-asha-123"}
WRONG = {"username": "asha", "password": "guess"}


def from_address(address: str) -> APIClient:
    """A client behind the trusted local proxy (REMOTE_ADDR 127.0.0.1) whose X-Forwarded-For names ``address``."""
    return APIClient(HTTP_X_FORWARDED_FOR=address)


def assert_throttled(response) -> int:
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["code"] == "throttled"
    assert body["success"] is False
    assert body["message"].startswith("Request was throttled. Expected available in ")
    wait = int(response["Retry-After"])
    assert 0 < wait <= 3600
    return wait


@pytest.fixture
def rates(settings):
    # Windows of an hour: a test straddling a window's end (which resets the counters) is then very unlikely.
    settings.THROTTLE_ADDRESS_RATE = "5/hour"
    settings.THROTTLE_ACCOUNT_ADDRESS_RATE = "3/hour"
    return settings


def test_guessing_one_account_from_one_address_stops_but_its_owner_logs_in_elsewhere(rates, customer):
    rates.THROTTLE_ADDRESS_RATE = "10/hour"
    attacker = from_address("203.0.113.7")
    assert [attacker.post("/api/auth/login", WRONG, format="json").status_code for _ in range(3)] == [401] * 3
    assert_throttled(attacker.post("/api/auth/login", WRONG, format="json"))
    assert_throttled(attacker.post("/api/auth/login", RIGHT, format="json"))  # refused before the password is tried
    assert from_address("198.51.100.20").post("/api/auth/login", RIGHT, format="json").status_code == 200
    other_account = {"username": "ravi", "password": "x"}
    assert attacker.post("/api/auth/login", other_account, format="json").status_code == 401


def test_one_address_is_limited_across_accounts(rates, customer):
    client = from_address("203.0.113.8")
    statuses = [
        client.post("/api/auth/login", {"username": f"u{i}", "password": "x"}, format="json").status_code
        for i in range(6)
    ]
    assert statuses == [401] * 5 + [429]
    assert from_address("203.0.113.9").post("/api/auth/login", RIGHT, format="json").status_code == 200


def test_usernames_differing_in_case_count_as_one_account(rates, customer):
    client = from_address("203.0.113.10")
    for name in ("asha", "ASHA", " Asha "):
        assert client.post("/api/auth/login", {"username": name, "password": "x"}, format="json").status_code == 401
    assert_throttled(client.post("/api/auth/login", {"username": "aSHA", "password": "x"}, format="json"))


def test_forwarded_for_is_ignored_from_an_untrusted_peer(rates, customer):
    rates.TRUSTED_PROXIES = []
    for i in range(3):
        assert from_address(f"203.0.113.{i}").post("/api/auth/login", WRONG, format="json").status_code == 401
    assert_throttled(from_address("203.0.113.99").post("/api/auth/login", WRONG, format="json"))


def test_forged_left_hops_do_not_escape_the_throttle(rates, customer):
    # The proxy appends the real client (203.0.113.11) after whatever the client sent.
    for i in range(3):
        client = from_address(f"10.9.9.{i}, 203.0.113.11")
        assert client.post("/api/auth/login", WRONG, format="json").status_code == 401
    assert_throttled(from_address("1.2.3.4, 203.0.113.11").post("/api/auth/login", WRONG, format="json"))


def test_register_and_password_reset_are_throttled(rates, customer):
    client = from_address("203.0.113.12")
    for i in range(3):
        payload = {"username": "meera", "email": f"m{i}@example.com", "password": "kochi-backwaters-42"}
        assert client.post("/api/users/register", payload, format="json").status_code in (201, 400)
    assert_throttled(client.post("/api/users/register", payload, format="json"))
    for _ in range(3):
        assert client.post("/api/auth/password-reset", {"email": "asha@example.com"}, format="json").status_code == 202
    assert_throttled(client.post("/api/auth/password-reset", {"email": "asha@example.com"}, format="json"))
    assert len([m for m in mail.outbox if m.subject.startswith("Reset")]) == 3
    # Each endpoint counts apart: login from the same address still works.
    assert client.post("/api/auth/login", RIGHT, format="json").status_code == 200


def test_admin_login_is_throttled_and_offers_password_reset(rates, client, staff):
    page = client.get("/admin/login/")
    assert page.status_code == 200
    assert b'href="/admin/password_reset/"' in page.content
    form = {"username": "staff", "password": "wrong", "next": "/admin/"}
    for _ in range(3):
        assert client.post("/admin/login/", form, HTTP_X_FORWARDED_FOR="203.0.113.13").status_code == 200
    response = client.post("/admin/login/", {**form, "password": "pw-staff-123"}, HTTP_X_FORWARDED_FOR="203.0.113.13")
    assert_throttled(response)
    ok = client.post("/admin/login/", {**form, "password": "pw-staff-123"}, HTTP_X_FORWARDED_FOR="203.0.113.14")
    assert ok.status_code == 302
    assert ok["Location"] == "/admin/"


def test_admin_password_reset_mails_a_link_that_sets_the_password(client, staff):
    response = client.post("/admin/password_reset/", {"email": "staff@example.com"})
    assert response.status_code == 302
    assert response["Location"] == "/admin/password_reset/done/"
    (message,) = mail.outbox
    link = next(line.strip() for line in message.body.splitlines() if "/reset/" in line)
    path = link.split("testserver", 1)[1]
    form_page = client.get(path, follow=True)
    assert form_page.status_code == 200
    done = client.post(
        form_page.redirect_chain[-1][0], {"new_password1": "monsoon-in-kochi-7", "new_password2": "monsoon-in-kochi-7"}
    )
    assert done.status_code == 302
    assert done["Location"] == "/reset/done/"
    staff.refresh_from_db()
    assert staff.check_password("monsoon-in-kochi-7")


def test_cache_down_fails_closed_with_503_and_tokens_keep_working(rates, customer, customer_api):
    rates.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    response = APIClient().post("/api/auth/login", RIGHT, format="json")
    assert response.status_code == 503
    assert response.json()["code"] == "throttle_unavailable"
    assert response["Retry-After"] == "5"
    admin = APIClient().post("/admin/login/", {"username": "staff", "password": "x"})
    assert admin.status_code == 503
    assert admin.json()["code"] == "throttle_unavailable"
    assert customer_api.get("/api/auth/me").status_code == 200


def test_counters_live_in_redis(rates, customer):
    prefix = f"lebrq-test-{uuid.uuid4().hex}"
    rates.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/0",
            "KEY_PREFIX": prefix,
        }
    }
    server = redis.Redis(host="127.0.0.1", port=6379, db=0)
    try:
        client = from_address("203.0.113.15")
        assert [client.post("/api/auth/login", WRONG, format="json").status_code for _ in range(4)] == [401] * 3 + [429]
        keys = sorted(key.decode().split(":", 2)[2] for key in server.scan_iter(f"{prefix}:*"))
        assert [key.rsplit(":", 2)[0] for key in keys] == [
            "throttle:login:AccountAddressThrottle",
            "throttle:login:AddressThrottle",
        ]
        assert all(0 < server.ttl(key) <= 3601 for key in server.scan_iter(f"{prefix}:*"))
    finally:
        for key in server.scan_iter(f"{prefix}:*"):
            server.delete(key)


def test_counts_in_fixed_windows_and_retry_after_is_the_rest_of_the_window(settings, customer):
    from unittest import mock

    from accounts.throttles import _SharedRateThrottle

    settings.THROTTLE_ADDRESS_RATE = "100/min"
    settings.THROTTLE_ACCOUNT_ADDRESS_RATE = "2/min"
    clock = [60_000_000 + 49.2]  # 49.2 s into a minute window
    client = from_address("203.0.113.16")
    with mock.patch.object(_SharedRateThrottle, "timer", lambda self: clock[0]):
        assert [client.post("/api/auth/login", WRONG, format="json").status_code for _ in range(2)] == [401, 401]
        refused = client.post("/api/auth/login", WRONG, format="json")
        assert_throttled(refused)
        assert refused["Retry-After"] == "11"  # 10.8 s left, rounded up
        clock[0] += 10.8  # the next window
        assert client.post("/api/auth/login", RIGHT, format="json").status_code == 200
