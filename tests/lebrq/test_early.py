"""Decisions by the request head (lebrq.http.early): `decide`, `route_for` over the project's URLs, and
`HeadGuard` driven with ASGI messages."""

import asyncio
import json
from datetime import timedelta

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from lebrq.http.early import HeadGuard, Route, bearer_token, decide, route_for

MAX = 2_621_440
PUBLIC = Route(known=True, allow="GET, HEAD, OPTIONS")
PRIVATE = Route(known=True, needs_auth=True)


def test_unknown_path_is_404():
    assert decide("POST", Route(known=False), 10, False, "valid", MAX, False).status == 404


@pytest.mark.parametrize(
    ("credentials", "code"),
    [("missing", "not_authenticated"), ("expired", "token_expired"), ("invalid", "token_invalid")],
)
def test_needs_auth_without_a_valid_token_is_401(credentials, code):
    refusal = decide("POST", PRIVATE, 10, False, credentials, MAX, False)
    assert (refusal.status, refusal.code, refusal.headers) == (401, code, (("WWW-Authenticate", 'Bearer realm="api"'),))


def test_cors_preflight_is_never_401():
    assert decide("OPTIONS", PRIVATE, 10, False, "missing", MAX, False).status == 413  # a preflight has no body


def test_valid_token_passes():
    assert decide("POST", PRIVATE, 10, False, "valid", MAX, False) is None


def test_method_without_handler_is_405_with_allow():
    refusal = decide(
        "PUT", Route(known=True, allowed=False, allow="GET, HEAD, OPTIONS"), 10, False, "missing", MAX, False
    )
    assert (refusal.status, refusal.headers) == (405, (("Allow", "GET, HEAD, OPTIONS"),))


@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE", "OPTIONS"])
def test_bodyless_methods_refuse_a_body(method):
    assert decide(method, PUBLIC, 1, False, "missing", MAX, False).status == 413


def test_endpoint_without_body_refuses_one():
    assert decide("POST", Route(known=True, takes_body=False), 1, False, "missing", MAX, False).status == 413


def test_json_body_limit_is_inclusive():
    assert decide("POST", PUBLIC, MAX, False, "missing", MAX, False) is None
    assert decide("POST", PUBLIC, MAX + 1, False, "missing", MAX, False).status == 413
    assert decide("POST", PUBLIC, MAX + 1, False, "missing", None, False) is None


def test_chunked_body_is_411_except_uploads_and_multipart_forms():
    assert decide("POST", PUBLIC, None, True, "missing", MAX, False).status == 411
    assert decide("POST", Route(known=True, upload=True), None, True, "missing", MAX, False) is None
    assert decide("POST", Route(known=True, files=True), 10 * MAX, False, "missing", MAX, True) is None
    assert decide("POST", Route(known=True, files=True), 10 * MAX, False, "missing", MAX, False).status == 413


@pytest.mark.parametrize(
    ("method", "path", "known", "allowed", "needs_auth", "takes_body", "upload"),
    [
        ("POST", "/api/uploads/video", True, True, True, True, True),
        ("POST", "/api/auth/login", True, True, False, True, False),
        ("GET", "/api/venues", True, True, False, True, False),
        ("PUT", "/api/venues", True, False, False, True, False),
        ("POST", "/api/bookings", True, True, True, True, False),
        ("POST", "/api/bookings/5/cancel", True, True, True, True, False),
        ("PATCH", "/api/bookings/5/billing", True, True, True, True, False),
        ("POST", "/health", True, True, False, False, False),
        ("POST", "/api/health/detailed", True, True, False, False, False),
        ("POST", "/api/nowhere", False, True, False, True, False),
    ],
)
def test_route_for_the_projects_urls(method, path, known, allowed, needs_auth, takes_body, upload):
    route = route_for(method, path)
    assert (route.known, route.allowed, route.needs_auth, route.takes_body, route.upload) == (
        known,
        allowed,
        needs_auth,
        takes_body,
        upload,
    )


def test_head_guard_limits_uploads_per_user(db, django_user_model):
    """Two uploads of one user in the app at once; the third is 429 with Retry-After; another user passes."""
    alice = django_user_model.objects.create_user("alice", password="x")
    bob = django_user_model.objects.create_user("bob", password="x")
    release = asyncio.Event()
    entered = []

    async def app(scope, receive, send):
        entered.append(scope)
        await release.wait()
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    guard = HeadGuard(app, MAX, uploads_per_user=2, retry_after=7)

    async def upload(user):
        messages = []
        headers = [
            (b"content-length", b"100"),
            (b"content-type", b"multipart/form-data; boundary=x"),
            (b"authorization", f"Bearer {AccessToken.for_user(user)}".encode()),
        ]
        scope = {"type": "http", "method": "POST", "path": "/api/uploads/image", "headers": headers}

        async def send(message):
            messages.append(message)

        await guard(scope, None, send)
        return messages

    async def scenario():
        first = [asyncio.create_task(upload(alice)) for _ in range(2)]
        await asyncio.sleep(0.01)
        third = await upload(alice)
        other = asyncio.create_task(upload(bob))
        await asyncio.sleep(0.01)
        assert len(entered) == 3
        release.set()
        await asyncio.gather(*first, other)
        again = await upload(alice)
        return third, again

    third, again = asyncio.run(scenario())
    assert third[0]["status"] == 429
    assert dict(third[0]["headers"])[b"retry-after"] == b"7"
    assert json.loads(third[1]["body"])["code"] == "too_many_uploads"
    assert again[0]["status"] == 201
    assert guard.uploads == {}


@pytest.mark.django_db
@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_bearer_scheme_is_case_insensitive(django_user_model, scheme):
    user = django_user_model.objects.create_user("meera", password="pw-meera-123")
    scope = {"headers": [(b"authorization", f"{scheme} {AccessToken.for_user(user)}".encode())]}
    assert bearer_token(scope) == ("valid", str(user.pk))


@pytest.mark.django_db
def test_an_expired_token_is_told_apart_from_an_invalid_one(django_user_model):
    user = django_user_model.objects.create_user("meera", password="pw-meera-123")
    expired = AccessToken.for_user(user)
    expired.set_exp(lifetime=-timedelta(seconds=1))
    assert bearer_token({"headers": [(b"authorization", f"Bearer {expired}".encode())]}) == ("expired", None)
    assert bearer_token({"headers": [(b"authorization", b"Bearer not.a.token")]}) == ("invalid", None)
