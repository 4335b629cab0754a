"""One error shape everywhere (lebrq.errors): every cause of a 4xx/5xx that a client can provoke on a real uvicorn
worker (the HTTP protocol, the ASGI guards, Django's own handlers, DRF, downloads, uploads) answers
``{detail, success: false, message, code}`` as ``application/json``, with the cause's status and stable code and a
sentence that names no setting."""

import json
import re
import socket

import httpx
import pytest

from .test_admission_live import read_response

pytestmark = pytest.mark.live

MiB = 1024 * 1024
PROTOCOL = "lebrq.http.protocols:AutoHTTPProtocol"
#: What no error sentence may show: a setting's name, a Python exception, a byte count a person must convert.
INTERNALS = re.compile(r"settings\.|[A-Z]{3,}_[A-Z_]{3,}|Error\b|Traceback|\b\d{6,} bytes")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from .conftest import make_server

    server = make_server(tmp_path_factory, "errors", UVICORN_HTTP=PROTOCOL)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def token(server) -> str:
    return server.token()


@pytest.fixture(scope="module")
def bookings(server, token) -> dict[str, dict]:
    """The demo customer's bookings by status."""
    response = httpx.get(server.url + "/api/bookings", headers={"Authorization": f"Bearer {token}"})
    return {booking["status"]: booking for booking in response.json()["items"]}


def raw(server, data: bytes) -> tuple[int, dict, bytes]:
    """Send ``data`` on a fresh connection; (status, lowercase headers, body) of the answer."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(data)
        status, head, body = read_response(connection)
    fields = dict(line.split(": ", 1) for line in head.decode("latin-1").split("\r\n")[1:])
    return status, {name.lower(): value for name, value in fields.items()}, body


def assert_error(status: int, content_type: str, body: bytes, expected_status: int, code: str, detail=None) -> dict:
    assert (status, content_type.split(";")[0]) == (expected_status, "application/json"), body[:300]
    data = json.loads(body)
    assert set(data) >= {"detail", "success", "message", "code"}
    assert (data["success"], data["code"]) == (False, code)
    assert isinstance(data["message"], str) and data["message"]
    if detail is not None:
        assert data["detail"] == detail
        if isinstance(detail, str):
            assert data["message"] == detail
    assert not INTERNALS.search(data["message"]), data["message"]
    return data


def check(response: httpx.Response, expected_status: int, code: str, detail=None) -> dict:
    return assert_error(
        response.status_code, response.headers.get("content-type", ""), response.content, expected_status, code, detail
    )


def multipart(*files: tuple[str, bytes]) -> tuple[bytes, str]:
    boundary = "shape-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
        + content
        + b"\r\n"
        for name, content in files
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


# --- the HTTP protocol and the ASGI guards, before Django --------------------------------------------------------


def test_unreadable_http_is_400_bad_request(server):
    status, headers, body = raw(server, b"GET /api/health HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n")
    assert_error(status, headers["content-type"], body, 400, "bad_request", "The request is not valid HTTP/1.1.")


def test_a_request_head_too_large_is_431(server):
    head = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    status, headers, body = raw(server, head)
    detail = "The request head (request line and header fields) may be at most 16 KiB."
    assert_error(status, headers["content-type"], body, 431, "header_too_large", detail)


def test_an_upload_over_its_kind_limit_is_413_in_words(server, token):
    head = (
        "POST /api/uploads/image HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {16 * MiB}\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    status, headers, body = raw(server, head.encode())
    assert_error(
        status, headers["content-type"], body, 413, "payload_too_large", "An image upload may be at most 15 MiB."
    )


def test_a_json_body_over_the_cap_is_413_before_it_is_read(server):
    head = "POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    status, headers, body = raw(server, f"{head}Content-Length: {3 * MiB}\r\n\r\n".encode())
    assert_error(
        status, headers["content-type"], body, 413, "payload_too_large", "The request body may be at most 2.5 MiB."
    )


def test_a_chunked_upload_is_411(server, token):
    head = (
        "POST /api/uploads/image HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\n"
        f"Transfer-Encoding: chunked\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    status, headers, body = raw(server, head.encode())
    assert_error(status, headers["content-type"], body, 411, "length_required")


def test_a_body_to_an_unknown_path_is_404_and_to_a_private_one_without_token_401(server):
    check(httpx.post(server.url + "/api/nothing-here", json={}), 404, "not_found", "Not found.")
    response = httpx.post(
        server.url + "/api/bookings", content=b"[" * 1000, headers={"Content-Type": "application/json"}
    )
    check(response, 401, "not_authenticated", "Authentication credentials were not provided.")


def test_a_body_with_a_method_the_path_does_not_take_is_405(server):
    response = httpx.put(server.url + "/api/auth/login", json={"username": "x"})
    check(response, 405, "method_not_allowed", 'Method "PUT" not allowed.')


# --- Django's own handlers ---------------------------------------------------------------------------------------


def test_unknown_paths_are_404(server):
    check(httpx.get(server.url + "/no/such/page"), 404, "not_found", "Not found.")
    check(httpx.get(server.url + "/api/bookings/999999", headers={}), 401, "not_authenticated")


def test_an_admin_form_without_csrf_is_403_csrf_failed(server):
    response = httpx.post(server.url + "/admin/login/", data={"username": "x", "password": "y"})
    check(response, 403, "csrf_failed")


def test_a_disallowed_host_is_400(server):
    check(
        httpx.get(server.url + "/api/venues", headers={"Host": "evil.example"}),
        400,
        "bad_request",
        "Malformed request.",
    )


# --- DRF ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"[" * 1000, "The body is not valid JSON here: it nests deeper than 32 levels."),
        (b"{bad", "The body is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2"
         " (char 1)."),
        ('{"username": "é"}'.encode("latin-1"), "The body is not valid JSON: it is not UTF-8 text."),
        (b'{"username": "a", "username": "b"}',
         'The body is not valid JSON: the member "username" appears twice in one object.'),
    ],
    ids=["too-deep", "malformed", "not-utf-8", "duplicate-key"],
)  # fmt: skip
def test_unacceptable_json_is_400_parse_error(server, body, detail):
    response = httpx.post(server.url + "/api/auth/login", content=body, headers={"Content-Type": "application/json"})
    check(response, 400, "parse_error", detail)


def test_drf_errors(server, token, bookings):
    auth = {"Authorization": f"Bearer {token}"}
    check(httpx.post(server.url + "/api/auth/login", json={}), 400, "required")
    check(httpx.post(server.url + "/api/auth/login", json={"username": "customer", "password": "nope"}), 401,
          "authentication_failed")  # fmt: skip
    check(httpx.get(server.url + "/api/bookings", headers={"Authorization": "Bearer nonsense"}), 401, "token_invalid")
    check(httpx.get(server.url + "/api/bookings", headers={**auth, "Accept": "text/csv"}), 406, "not_acceptable")
    response = httpx.post(server.url + "/api/auth/login", content=b"u=x", headers={"Content-Type": "text/plain"})
    check(response, 415, "unsupported_media_type", 'Unsupported media type "text/plain" in request.')
    check(
        httpx.delete(server.url + "/api/auth/me", headers=auth),
        405,
        "method_not_allowed",
        'Method "DELETE" not allowed.',
    )
    check(httpx.get(server.url + "/api/bookings/999999", headers=auth), 404, "not_found")
    cancelled = bookings["cancelled"]["id"]
    check(httpx.post(f"{server.url}/api/bookings/{cancelled}/cancel", headers=auth), 409, "not_cancellable")
    check(httpx.get(f"{server.url}/api/bookings/{cancelled}/invoice", headers=auth), 409, "invoice_not_available")


# --- downloads: ranges and preconditions --------------------------------------------------------------------------


def test_an_unsatisfiable_range_is_416_and_a_failed_precondition_412(server, token, bookings):
    url = f"{server.url}/api/bookings/{bookings['paid']['id']}/invoice"
    auth = {"Authorization": f"Bearer {token}"}
    response = httpx.get(url, headers={**auth, "Range": "bytes=99999999-"}, timeout=60)
    check(response, 416, "range_not_satisfiable", "The requested range selects no byte of the file.")
    assert response.headers["Content-Range"].startswith("bytes */")
    response = httpx.get(url, headers={**auth, "If-Match": '"not-this-one"'}, timeout=60)
    check(response, 412, "precondition_failed")


# --- uploads ------------------------------------------------------------------------------------------------------


def test_upload_errors(server, token, shared_media):
    auth = {"Authorization": f"Bearer {token}"}
    photo = (shared_media / "phone-photo.jpg").read_bytes()
    body, content_type = multipart(("a.jpg", photo), ("b.jpg", photo))
    response = httpx.post(
        server.url + "/api/uploads/image", content=body, headers={**auth, "Content-Type": content_type}
    )
    check(response, 400, "too_many_files", "An upload carries one file only.")
    body, content_type = multipart(("notes.jpg", b"just some text, not an image\n" * 10))
    response = httpx.post(
        server.url + "/api/uploads/image", content=body, headers={**auth, "Content-Type": content_type}
    )
    check(response, 415, "unsupported_media_type")
    body, content_type = multipart(("broken.jpg", (shared_media / "corrupted.jpg").read_bytes()))
    response = httpx.post(
        server.url + "/api/uploads/image", content=body, headers={**auth, "Content-Type": content_type}
    )
    check(response, 400, "corrupt_content")
