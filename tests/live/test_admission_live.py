"""Admission counts work, not sockets (lebrq.http.admission, lebrq.http.protocols), through real servers: the
seed's uvicorn command line with either HTTP parser selected by ``UVICORN_HTTP``, and gunicorn's workers."""

import json
import socket
import sys
import time

import httpx
import pytest

from .conftest import free_port
from .deploy_helpers import CommandServer, prepared_environment
from .test_gunicorn_live import start_gunicorn

pytestmark = pytest.mark.live

PROTOCOLS = {
    "h11": "lebrq.http.protocols:H11Protocol",
    "httptools": "lebrq.http.protocols:HttpToolsProtocol",
}


def seed_command(port: int, limit: int = 30) -> list[str]:
    """The seed's uvicorn command line (without TLS) on 127.0.0.1:``port``."""
    return [
        sys.executable, "-m", "uvicorn", "lebrq.asgi:application", "--host", "127.0.0.1", "--port", str(port),
        "--limit-concurrency", str(limit), "--timeout-keep-alive", "5", "--backlog", "1024", "--workers", "1",
    ]  # fmt: skip


@pytest.fixture(scope="module", params=sorted(PROTOCOLS))
def seed_server(request, tmp_path_factory):
    """The seed's command with ``UVICORN_HTTP`` naming our protocol class for each parser."""
    directory, env = prepared_environment(tmp_path_factory, f"admission_{request.param}")
    env["UVICORN_HTTP"] = PROTOCOLS[request.param]
    port = free_port()
    server = CommandServer(directory, env, url=f"http://127.0.0.1:{port}")
    server.command = seed_command(port)
    server.start()
    yield server
    server.stop()


def address(server) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


def open_sockets(server, count: int, send: bytes = b"") -> list[socket.socket]:
    """``count`` connections to ``server``, each having sent ``send`` (nothing: silent)."""
    sockets = []
    for _ in range(count):
        connection = socket.create_connection(address(server), timeout=10)
        if send:
            connection.sendall(send)
        sockets.append(connection)
    return sockets


def read_response(connection: socket.socket) -> tuple[int, bytes, bytes]:
    """(status, head, body) of one response (Content-Length or chunked) read from ``connection``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        assert chunk, "connection closed"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = [line.lower() for line in head.split(b"\r\n")]
    lengths = [int(line.split(b":", 1)[1]) for line in lines if line.startswith(b"content-length:")]
    complete = (lambda: len(body) >= lengths[0]) if lengths else (lambda: body.endswith(b"0\r\n\r\n"))
    while not complete():
        chunk = connection.recv(65536)
        assert chunk, "connection closed"
        body += chunk
    return int(head.split(b" ", 2)[1]), head, body


def close_all(sockets: list[socket.socket]) -> None:
    for connection in sockets:
        connection.close()


def test_hundreds_of_silent_and_half_sent_connections_refuse_nothing(seed_server):
    """Today uvicorn counts sockets: 29 silent connections make every request 503. Here 200 silent ones and 100
    with half a request head sent leave /health, the public API, a login and an authenticated list served."""
    silent = open_sockets(seed_server, 200)
    half = open_sockets(seed_server, 100, b"GET /api/venues HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    try:
        time.sleep(0.5)
        with httpx.Client(base_url=seed_server.url, timeout=10) as client:
            assert client.get("/health").status_code == 200
            assert client.get("/api/health/detailed").status_code == 200
            assert client.get("/api/venues").status_code == 200
            login = client.post("/api/auth/login", json={"username": "customer", "password": "lebrq-customer"})
            assert login.status_code == 200
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            assert client.get("/api/bookings", headers=headers).status_code == 200
    finally:
        close_all(silent + half)


def test_idle_keep_alive_connections_refuse_nothing(seed_server):
    """40 clients that made one request each and keep their connection open (uvicorn keeps it 5 s) do not count:
    a new client is served at once, and each idle client's next request on its own connection too."""
    request = b"GET /api/venues HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    idle = open_sockets(seed_server, 40)
    try:
        statuses = []
        for connection in idle:  # one after the other: 40 idle connections, never more than 1 request in flight
            connection.sendall(request)
            statuses.append(read_response(connection)[0])
        assert statuses == [200] * 40
        assert httpx.get(seed_server.url + "/api/venues", timeout=10).status_code == 200
        statuses = []
        for connection in idle:
            connection.sendall(request)
            statuses.append(read_response(connection)[0])
        assert statuses == [200] * 40
    finally:
        close_all(idle)


@pytest.fixture(scope="module", params=sorted(PROTOCOLS))
def limit_one(request, tmp_path_factory):
    """The seed's command with ``--limit-concurrency 1``: one request in flight fills the worker."""
    directory, env = prepared_environment(tmp_path_factory, f"admission_one_{request.param}", OVERLOAD_RETRY_AFTER="3")
    env["UVICORN_HTTP"] = PROTOCOLS[request.param]
    port = free_port()
    server = CommandServer(directory, env, url=f"http://127.0.0.1:{port}")
    server.command = seed_command(port, limit=1)
    server.start()
    yield server
    server.stop()


def login_in_flight(server) -> tuple[socket.socket, bytes]:
    """A login whose body is still arriving (5 bytes of it sent, 0.3 s ago): one request in flight. Returns the
    socket and the rest of the body."""
    body = json.dumps({"username": "customer", "password": "lebrq-customer"}).encode()
    head = (
        "POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    (pending,) = open_sockets(server, 1, head.encode() + body[:5])
    time.sleep(0.3)
    return pending, body[5:]


def test_past_the_limit_503_is_json_with_retry_after_and_health_is_never_refused(limit_one):
    """A login whose body is still arriving is one request in flight: with ``--limit-concurrency 1`` the next
    request gets the project's JSON 503 with ``Retry-After``; /health and readiness are still served; once the
    login completes, requests are served again."""
    pending, rest = login_in_flight(limit_one)
    try:
        refused = httpx.get(limit_one.url + "/api/venues", timeout=10)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "3"
        assert refused.headers["content-type"] == "application/json"
        assert refused.json() == {
            "detail": "The server is busy; retry shortly.",
            "success": False,
            "message": "The server is busy; retry shortly.",
            "code": "overloaded",
            "retry_after": 3,
        }
        assert httpx.get(limit_one.url + "/health", timeout=10).status_code == 200
        assert httpx.get(limit_one.url + "/api/health/detailed", timeout=10).status_code == 200
        pending.sendall(rest)
        assert read_response(pending)[0] == 200
        assert httpx.get(limit_one.url + "/api/venues", timeout=10).status_code == 200
    finally:
        pending.close()


def test_requests_answered_from_their_head_take_no_slot(limit_one):
    """With the one slot held by a login whose body is still arriving, what the request head alone decides is
    answered as on an idle server — an anonymous upload 401, a body sent to a GET endpoint 413, an unknown path
    with a body 404 — not 503 ``overloaded``; a request that needs the application still gets the 503."""
    pending, rest = login_in_flight(limit_one)
    try:
        upload = httpx.post(limit_one.url + "/api/uploads/video", content=b"x" * 100, timeout=10)
        get_with_body = httpx.request("GET", limit_one.url + "/api/venues", content=b"{}", timeout=10)
        unknown = httpx.post(limit_one.url + "/api/nowhere", content=b"{}", timeout=10)
        busy = httpx.get(limit_one.url + "/api/venues", timeout=10)
        assert [(r.status_code, r.json()["code"]) for r in (upload, get_with_body, unknown, busy)] == [
            (401, "not_authenticated"), (413, "payload_too_large"), (404, "not_found"), (503, "overloaded"),
        ]  # fmt: skip
        pending.sendall(rest)
        assert read_response(pending)[0] == 200
    finally:
        pending.close()


@pytest.fixture(scope="module")
def gunicorn_seed_limit(tmp_path_factory):
    """gunicorn.conf.py with its default worker limit (30 per worker, 2 workers)."""
    server = start_gunicorn(tmp_path_factory, "gunicorn_admission")
    yield server
    server.stop()


def test_gunicorn_workers_count_work_not_sockets(gunicorn_seed_limit):
    """300 silent connections spread over both workers (each worker's limit is 30) refuse nothing."""
    silent = open_sockets(gunicorn_seed_limit, 300)
    try:
        time.sleep(0.5)
        with httpx.Client(base_url=gunicorn_seed_limit.url, timeout=10) as client:
            statuses = [client.get(path).status_code for path in ("/health", "/api/venues") * 10]
        assert statuses == [200] * 20
    finally:
        close_all(silent)
