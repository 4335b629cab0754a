"""Decisions by the request head, before the body (lebrq.http.early), through a real uvicorn worker: each
request below sends only its head, declaring a large body, and must be answered without sending a byte of it."""

import json
import socket
import time

import httpx
import pytest

from .conftest import raw_request
from .test_admission_live import read_response

pytestmark = pytest.mark.live

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from .conftest import make_server

    server = make_server(tmp_path_factory, "early", UPLOADS_PER_USER="2", UPLOAD_RETRY_AFTER="7")
    yield server
    server.stop()


def connect(server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def head_only(server, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict, dict]:
    """Send a request head only (no body byte) and return (status, headers, JSON body) of the answer."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    with connect(server) as connection:
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        status, head, body = read_response(connection)
    fields = dict(line.split(": ", 1) for line in head.decode("latin-1").split("\r\n")[1:])
    return status, {k.lower(): v for k, v in fields.items()}, json.loads(body)


def shape(detail: str, code: str) -> dict:
    return {"detail": detail, "success": False, "message": detail, "code": code}


BIG = {"Content-Length": str(200 * MiB), "Content-Type": "application/json"}


def test_anonymous_upload_is_401_before_its_body(server):
    headers = {"Content-Length": str(200 * MiB), "Content-Type": "multipart/form-data; boundary=x"}
    status, fields, body = head_only(server, "POST", "/api/uploads/video", headers)
    assert (status, body) == (401, shape("Authentication credentials were not provided.", "not_authenticated"))
    assert fields["www-authenticate"] == 'Bearer realm="api"'
    assert list(server.temp_dir.iterdir()) == []


def test_invalid_token_is_401_before_the_body(server):
    status, _, body = head_only(server, "POST", "/api/bookings", {**BIG, "Authorization": "Bearer not.a.token"})
    assert (status, body) == (401, shape("Token is invalid.", "token_invalid"))


def test_health_takes_no_body(server):
    status, _, body = head_only(server, "POST", "/health", BIG)
    assert (status, body) == (413, shape("POST requests to this endpoint take no body.", "payload_too_large"))


def test_get_with_a_body_is_413(server):
    status, _, body = head_only(server, "GET", "/api/venues", {"Content-Length": "10"})
    assert (status, body) == (413, shape("GET requests to this endpoint take no body.", "payload_too_large"))


def test_json_body_above_data_upload_max_memory_size_is_413(server):
    status, _, body = head_only(server, "POST", "/api/auth/login", BIG)
    detail = "The request body may be at most 2.5 MiB."
    assert (status, body) == (413, shape(detail, "payload_too_large"))


def test_chunked_json_body_is_411(server):
    headers = {"Transfer-Encoding": "chunked", "Content-Type": "application/json"}
    status, _, body = head_only(server, "POST", "/api/auth/login", headers)
    assert (status, body) == (411, shape("Request bodies need a Content-Length header.", "length_required"))


def test_unknown_path_with_a_body_is_404(server):
    status, _, body = head_only(server, "POST", "/api/nowhere", BIG)
    assert (status, body) == (404, shape("Not found.", "not_found"))


def test_method_without_a_handler_is_405_with_allow(server):
    status, fields, body = head_only(server, "PUT", "/api/venues", BIG)
    assert (status, body) == (405, shape('Method "PUT" not allowed.', "method_not_allowed"))
    assert fields["allow"] == "GET, HEAD, OPTIONS"


def test_small_json_bodies_still_reach_the_view(server):
    login = httpx.post(server.url + "/api/auth/login", json={"username": "customer", "password": "lebrq-customer"})
    assert login.status_code == 200
    wrong = httpx.post(server.url + "/api/auth/login", json={"username": "customer", "password": "nope"})
    assert wrong.status_code == 401


def test_at_most_two_uploads_of_one_user_at_once(server):
    """Two uploads of the customer are held mid-body; a third gets 429 + Retry-After at once, the admin's upload
    is not refused, and once one of the two is dropped the customer may upload again."""
    token = server.token()
    admin = server.token("admin", "lebrq-admin")
    head = {"Content-Length": str(10 * MiB), "Content-Type": "multipart/form-data; boundary=x"}
    held = []
    for _ in range(2):
        connection = connect(server)
        lines = ["POST /api/uploads/video HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {token}"]
        lines += [f"{k}: {v}" for k, v in head.items()]
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + b"--x\r\n")
        held.append(connection)
    try:
        time.sleep(0.5)
        status, fields, body = head_only(
            server, "POST", "/api/uploads/video", {**head, "Authorization": f"Bearer {token}"}
        )
        detail = "At most 2 uploads of one user may run at once; retry shortly."
        assert (status, body) == (429, {**shape(detail, "too_many_uploads"), "retry_after": 7})
        assert fields["retry-after"] == "7"
        other = head_only(
            server,
            "POST",
            "/api/uploads/video",
            {**head, "Authorization": f"Bearer {admin}", "Content-Length": str(3 * 1024 * MiB)},
        )
        assert other[0] == 413  # past the video limit: refused for its size, not for the customer's uploads
    finally:
        held.pop().close()
    time.sleep(0.5)
    try:
        files = {"file": ("a.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")}
        accepted = httpx.post(
            server.url + "/api/uploads/document", files=files, headers={"Authorization": f"Bearer {token}"}
        )
        assert accepted.status_code != 429
    finally:
        held.pop().close()


def test_early_401_follows_the_view_permissions_of_each_method(server_factory):
    """A view open to anyone for POST and closed for PUT (its ``get_permissions``, class-level IsAuthenticated):
    an anonymous POST with a body reaches it; an anonymous PUT is refused 401 before its body is sent."""
    server = server_factory("by_method", DJANGO_SETTINGS_MODULE="tests.live.balloon_settings")
    answer = httpx.post(server.url + "/_test/by-method", json={"b": 1, "a": 2})
    assert (answer.status_code, answer.json()) == (200, {"received": ["a", "b"]})
    started = time.monotonic()
    refused = raw_request(
        server.url,
        "PUT /_test/by-method HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
    )
    head, _, body = refused.partition(b"\r\n\r\n")
    assert time.monotonic() - started < 2  # answered without waiting for the 1,000 bytes
    assert head.startswith(b"HTTP/1.1 401 ")
    assert json.loads(body)["code"] == "not_authenticated"
