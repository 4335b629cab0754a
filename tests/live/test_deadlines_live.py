"""Deadlines and sizes of each phase (lebrq.http.deadlines, lebrq.http.protocols) through the seed's uvicorn
command line, on both HTTP parsers, with the deadlines shortened to seconds."""

import contextlib
import json
import socket
import time

import pytest

from .conftest import free_port
from .deploy_helpers import CommandServer, MiB, padded_video, prepared_environment
from .test_admission_live import PROTOCOLS, read_response, seed_command

pytestmark = pytest.mark.live

SHORT = {
    "REQUEST_HEADER_TIMEOUT": "1",
    "REQUEST_BODY_MIN_RATE": "1024",
    "REQUEST_BODY_RATE_WINDOW": "1",
    "REQUEST_BODY_GRACE": "1",
    "SEND_TIMEOUT": "2",
    "CORS_ALLOWED_ORIGINS": "http://localhost:3000",
}
ORIGIN = "http://localhost:3000"
#: What django-cors-headers adds for ORIGIN (CORS_EXPOSE_HEADERS of the settings).
CORS = {
    "access-control-allow-origin": ORIGIN,
    "access-control-expose-headers": "ETag, Content-Range, Content-Disposition, Retry-After, Accept-Ranges",
    "vary": "origin",
}


@pytest.fixture(scope="module", params=sorted(PROTOCOLS))
def server(request, tmp_path_factory):
    directory, env = prepared_environment(tmp_path_factory, f"deadlines_{request.param}", **SHORT)
    env["UVICORN_HTTP"] = PROTOCOLS[request.param]
    port = free_port()
    server = CommandServer(directory, env, url=f"http://127.0.0.1:{port}")
    server.command = seed_command(port)
    server.start()
    yield server
    server.stop()


def connect(server, **options) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    connection = socket.socket()
    for option, value in options.items():
        connection.setsockopt(socket.SOL_SOCKET, getattr(socket, option), value)
    connection.settimeout(10)
    connection.connect((host, int(port)))
    return connection


def seconds_until_closed(connection: socket.socket) -> float:
    """Seconds until the server closes ``connection`` (reading and discarding whatever it sends)."""
    start = time.monotonic()
    try:
        while connection.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return time.monotonic() - start


@pytest.mark.parametrize("sent", [b"", b"GET /api/venues HTTP/1.1\r\nHost: 127.0.0.1\r\n"], ids=["silent", "half"])
def test_connection_without_a_complete_head_is_closed_after_the_header_timeout(server, sent):
    with connect(server) as connection:
        connection.sendall(sent)
        assert 0.8 < seconds_until_closed(connection) < 4


def test_idle_keep_alive_connection_is_closed(server):
    with connect(server) as connection:
        connection.sendall(b"GET /api/venues HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_response(connection)[0] == 200
        connection.sendall(b"GET /api/venues HTTP/1.1\r\n")  # the next head, never finished
        assert seconds_until_closed(connection) < 4


@pytest.mark.parametrize("size", [20 * 1024, 4 * MiB])
def test_request_head_over_16_kib_is_431_json(server, size):
    head = b"GET /api/venues HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * size + b"\r\n\r\n"
    with connect(server) as connection:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.sendall(head)  # the server may answer and close before the whole head is sent
        status, _, body = read_response(connection)
    detail = "The request head (request line and header fields) may be at most 16 KiB."
    assert status == 431
    assert json.loads(body) == {"detail": detail, "success": False, "message": detail, "code": "header_too_large"}


def responses_until_closed(connection: socket.socket) -> list[tuple[int, bytes]]:
    """(status, body) of each response the server sends on ``connection`` until it closes it (Content-Length or
    chunked bodies; pipelined responses may share one ``recv``)."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := connection.recv(65536):
            data += chunk
    responses = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = [line.lower() for line in head.split(b"\r\n")]
        lengths = [int(line.split(b":", 1)[1]) for line in lines if line.startswith(b"content-length:")]
        end = lengths[0] if lengths else rest.index(b"0\r\n\r\n") + 5
        responses.append((int(head.split(b" ", 2)[1]), rest[:end]))
        data = rest[end:]
    return responses


@pytest.mark.parametrize("size", [20 * 1024, 4 * MiB])
def test_pipelined_request_head_over_16_kib_is_431_json(server, size):
    """A second request sent right behind the first (pipelined, RFC 9112 §9.3.2) is held to the same head limit:
    the first is answered, then the second gets 431 and the connection closes."""
    first = b"GET /api/venues HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    second = b"GET /api/venues HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * size + b"\r\n\r\n"
    with connect(server) as connection:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.sendall(first + second)
        (first_status, _), (status, body) = responses_until_closed(connection)
    detail = "The request head (request line and header fields) may be at most 16 KiB."
    assert (first_status, status) == (200, 431)
    assert json.loads(body) == {"detail": detail, "success": False, "message": detail, "code": "header_too_large"}


def test_pipelined_requests_under_16_kib_are_served(server):
    """Three pipelined requests, the middle one with a 15,000-byte head and a 20 KB body: all answered."""
    padded = b"POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    body = b'{"username": "customer", "password": "wrong"' + b" " * 20000 + b"}"
    padded += b"X-Padding: " + b"a" * 15000 + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    plain = b"GET /api/venues HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    with connect(server) as connection:
        connection.sendall(plain + b"\r\n" + padded + plain + b"Connection: close\r\n\r\n")
        assert [status for status, _ in responses_until_closed(connection)] == [200, 401, 200]


def cors_fields(head: bytes) -> dict[str, str]:
    """The ``access-control-*`` and ``vary`` fields of a response head, names lower-cased."""
    fields = [line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line]
    return {
        name.strip().lower().decode(): value.strip().decode()
        for name, value in fields
        if name.strip().lower().startswith((b"access-control-", b"vary"))
    }


@pytest.mark.parametrize("pipelined", [False, True], ids=["first", "pipelined"])
@pytest.mark.parametrize("origin", [ORIGIN, "http://evil.example"])
def test_431_carries_the_cors_headers_of_an_allowed_origin(server, origin, pipelined):
    """A browser sees the 431's status and JSON only with CORS headers; an origin not allowed gets none."""
    first = b"GET /api/venues HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" if pipelined else b""
    head = f"POST /api/bookings?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: {origin}\r\nX-Padding: ".encode()
    with connect(server) as connection:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.sendall(first + head + b"a" * 20000 + b"\r\n\r\n")
        data = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := connection.recv(65536):
                data += chunk
    answer = data[data.index(b"HTTP/1.1 431") :]
    expected = CORS if origin == ORIGIN else {}
    assert cors_fields(answer.partition(b"\r\n\r\n")[0]) == expected
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["code"] == "header_too_large"


def test_request_head_under_16_kib_is_served(server):
    head = b"GET /api/venues HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 15000 + b"\r\n\r\n"
    with connect(server) as connection:
        connection.sendall(head)
        assert read_response(connection)[0] == 200


def test_trickled_upload_body_is_408_and_leaves_nothing_on_disk(server):
    token = server.token()
    head = (
        "POST /api/uploads/video HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nOrigin: {ORIGIN}\r\nContent-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {5 * MiB}\r\n\r\n"
    )
    with connect(server) as connection:
        connection.sendall(head.encode() + b"--x\r\n")
        start = time.monotonic()
        answer = b""
        while time.monotonic() - start < 8:
            try:
                connection.sendall(b"0123456789")
            except (BrokenPipeError, ConnectionResetError):
                break
            connection.settimeout(0.5)
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                break
            if not chunk:
                break
            answer += chunk
        elapsed = time.monotonic() - start
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b'"code": "request_timeout"' in answer
    assert cors_fields(answer.partition(b"\r\n\r\n")[0]) == CORS
    assert 1.5 < elapsed < 6
    time.sleep(0.5)
    assert list(server.temp_dir.iterdir()) == []


def test_client_that_reads_nothing_is_disconnected(server, shared_media, tmp_path):
    with server.client() as client:
        video = padded_video(shared_media / "venue-tour.mp4", tmp_path / "big.mp4", 48 * MiB)
        with video.open("rb") as source:
            url = client.post("/api/uploads/video", files={"file": ("big.mp4", source)}).json()["url"]
    with connect(server, SO_RCVBUF=4096) as connection:
        connection.sendall(f"GET {url} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        time.sleep(6)  # SEND_TIMEOUT is 2 s
        received = 0
        try:
            while chunk := connection.recv(1024 * 1024):
                received += len(chunk)
        except ConnectionResetError:
            pass
    assert received < 48 * MiB


@pytest.fixture(scope="module", params=["lebrq.http.loops:UVLoop", "lebrq.http.loops:AsyncioLoop"])
def tls_server(request, tmp_path_factory):
    """The seed's command line with TLS, ``UVICORN_LOOP`` naming one of the project's loops."""
    from .deploy_helpers import self_signed_certificate

    name = request.param.rsplit(":", 1)[1].lower()
    directory, env = prepared_environment(tmp_path_factory, f"tls_{name}", TLS_HANDSHAKE_TIMEOUT="1")
    env.update(UVICORN_HTTP=PROTOCOLS["h11"], UVICORN_LOOP=request.param)
    cert, key = self_signed_certificate(directory)
    port = free_port()
    server = CommandServer(directory, env, url=f"https://127.0.0.1:{port}", ca_file=cert)
    server.command = [*seed_command(port), f"--ssl-keyfile={key}", f"--ssl-certfile={cert}"]
    server.start()
    yield server
    server.stop()


def test_tls_handshake_not_finished_in_time_is_closed(tls_server):
    """A TCP connection that never starts its TLS handshake is closed after TLS_HANDSHAKE_TIMEOUT (1 s here;
    asyncio and uvloop otherwise wait 60 s); a real HTTPS client is still served."""
    import httpx

    port = int(tls_server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        assert 0.8 < seconds_until_closed(connection) < 5
    assert httpx.get(tls_server.url + "/health", verify=tls_server.verify).status_code == 200
