"""CORS: django-cors-headers for Django's answers (preflights without a token), and `lebrq.http.cors` for the
answers the ASGI guards send before Django, with the same headers."""

import asyncio

import pytest
from django.test import Client

from lebrq.http.cors import CorsHeadersGuard, cors_headers
from lebrq.http.guards import UploadLimitGuard

ORIGIN = "http://localhost:3000"
EXPOSED = "ETag, Content-Range, Content-Disposition, Retry-After, Accept-Ranges"


@pytest.fixture
def allowed(settings):
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]


@pytest.mark.django_db
def test_no_origin_is_allowed_by_default(settings):
    assert settings.CORS_ALLOWED_ORIGINS == []
    response = Client().get("/api/venues", HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 200
    assert not [name for name in response.headers if name.lower().startswith("access-control-")]
    assert cors_headers("GET", "/api/venues", ORIGIN) == []


@pytest.mark.django_db
def test_preflight_from_an_allowed_origin_needs_no_token(allowed):
    response = Client().options(
        "/api/bookings",
        HTTP_ORIGIN=ORIGIN,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, range",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert (
        response["Access-Control-Allow-Headers"]
        == "authorization, content-type, range, if-none-match, if-range, if-match"
    )
    assert response["Access-Control-Allow-Methods"] == "DELETE, GET, OPTIONS, PATCH, POST, PUT"
    assert response["Access-Control-Max-Age"] == "600"
    assert "Access-Control-Allow-Credentials" not in response


@pytest.mark.django_db
def test_other_origins_get_no_cors_headers(allowed):
    response = Client().options(
        "/api/bookings", HTTP_ORIGIN="http://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    assert not [name for name in response.headers if name.lower().startswith("access-control-")]
    assert not [
        name
        for name in Client().get("/api/venues", HTTP_ORIGIN="http://evil.example").headers
        if name.lower().startswith("access-control-")
    ]


@pytest.mark.django_db
def test_errors_from_django_carry_the_headers(allowed):
    response = Client().get("/api/bookings", HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 401
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert response["Access-Control-Expose-Headers"] == EXPOSED


@pytest.mark.django_db
def test_the_helper_gives_what_django_cors_headers_gives(allowed):
    django_response = Client().get("/api/venues", HTTP_ORIGIN=ORIGIN)
    ours = dict(cors_headers("GET", "/api/venues", ORIGIN))
    assert ours == {
        "access-control-allow-origin": ORIGIN,
        "access-control-expose-headers": EXPOSED,
        "Vary": "origin",
    }
    for name in ("access-control-allow-origin", "access-control-expose-headers"):
        assert django_response[name] == ours[name]
    assert cors_headers("GET", "/api/venues", "http://evil.example") == []
    assert cors_headers("GET", "/admin/", ORIGIN) == []  # outside CORS_URLS_REGEX


def run_asgi(app, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict:
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    asyncio.run(app(scope, receive, send))
    return {name.decode(): value.decode() for name, value in sent[0]["headers"]} | {"status": sent[0]["status"]}


def test_guard_answers_sent_before_django_carry_the_headers(allowed):
    async def django(scope, receive, send):
        raise AssertionError("the guard answers first")

    app = CorsHeadersGuard(UploadLimitGuard(django, {"image": 10, "video": 10, "document": 10}))
    answer = run_asgi(app, "POST", "/api/uploads/image", [(b"origin", ORIGIN.encode()), (b"content-length", b"11")])
    assert answer["status"] == 413
    assert answer["access-control-allow-origin"] == ORIGIN
    assert answer["access-control-expose-headers"] == EXPOSED
    assert answer["vary"] == "origin"
    other = run_asgi(
        app, "POST", "/api/uploads/image", [(b"origin", b"http://evil.example"), (b"content-length", b"11")]
    )
    assert other["status"] == 413
    assert not [name for name in other if name.startswith("access-control-")]


def test_guard_leaves_answers_that_have_the_headers_alone():
    async def django(scope, receive, send):
        headers = [(b"access-control-allow-origin", ORIGIN.encode()), (b"vary", b"origin")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    answer = run_asgi(CorsHeadersGuard(django), "GET", "/api/venues", [(b"origin", ORIGIN.encode())])
    assert answer == {"access-control-allow-origin": ORIGIN, "vary": "origin", "status": 200}


def test_memory_guard_503_carries_the_headers(allowed, monkeypatch):
    from lebrq.http.guards import MemoryGuard
    from lebrq.memory import MemoryReading

    monkeypatch.setattr(MemoryGuard, "active", None)  # restored afterwards: this guard registers itself

    class Sampler:
        latest = MemoryReading(1000, 950, "host", 1)  # 95 %: everything but health is shed

        def start(self):
            pass

    async def django(scope, receive, send):
        raise AssertionError("the guard answers first")

    app = CorsHeadersGuard(MemoryGuard(django, Sampler(), threshold=85, critical=90))
    answer = run_asgi(app, "GET", "/api/bookings", [(b"origin", ORIGIN.encode())])
    assert answer["status"] == 503
    assert answer["retry-after"] == "5"
    assert answer["access-control-allow-origin"] == ORIGIN
    assert answer["access-control-expose-headers"] == EXPOSED
