"""gunicorn with gunicorn.conf.py and two `lebrq.workers.UvicornWorker` processes: the DB connection bound of
4 per worker on the real MariaDB, and a graceful stop that lets an in-flight download finish."""

import hashlib
import os
import signal
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
import pytest

from .conftest import free_port
from .deploy_helpers import CommandServer, MiB, padded_video, prepared_environment, worker_pids
from .harness import PeriodicSampler
from .test_db_pool_live import ConnectionCounter

pytestmark = pytest.mark.live

on_mariadb = pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("mysql"), reason="MariaDB run only")


def start_gunicorn(tmp_path_factory, name: str, **settings: str) -> CommandServer:
    directory, env = prepared_environment(tmp_path_factory, name, **settings)
    port = free_port()
    env.update(GUNICORN_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="2", GUNICORN_LOG_LEVEL="warning")
    server = CommandServer(directory, env, url=f"http://127.0.0.1:{port}")
    server.command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
    server.start()
    deadline = time.monotonic() + 30
    while len(worker_pids(server)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    return server


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    """Two workers; each admits 200 connections here instead of 30, so that every request of the DB-bound test is
    served (the limit itself: tests/live/test_deploy_live.py)."""
    server = start_gunicorn(tmp_path_factory, "gunicorn", UVICORN_LIMIT_CONCURRENCY="200")
    yield server
    server.stop()


class PerWorkerConnections(PeriodicSampler):
    """Peak count of each worker's TCP connections to MariaDB's port, sampled every 20 ms (psutil)."""

    interval = 0.02

    def __init__(self, pids: list[int], port: int = 3306):
        self.processes = [psutil.Process(pid) for pid in pids]
        self.port = port
        self.peaks = {pid: 0 for pid in pids}

    def sample(self):
        for process in self.processes:
            count = sum(
                1
                for connection in process.net_connections(kind="tcp")
                if connection.raddr and connection.raddr.port == self.port and connection.status == "ESTABLISHED"
            )
            self.peaks[process.pid] = max(self.peaks[process.pid], count)


@on_mariadb
def test_two_workers_hold_at_most_eight_connections_under_100_concurrent_requests(gunicorn):
    pids = worker_pids(gunicorn)
    assert len(pids) == 2
    token = gunicorn.token("admin", "lebrq-admin")
    host, port = gunicorn.url.removeprefix("http://").split(":")
    address = (host, int(port))
    request = (
        f"GET /api/bookings HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    request = request.encode()

    def fetch(_):
        with socket.create_connection(address, timeout=60) as sock:
            sock.sendall(request)
            return int(sock.recv(64)[9:12])  # "HTTP/1.1 200 OK": an httpx client per thread costs more CPU

    with (
        ConnectionCounter(gunicorn.env["DATABASE_URL"]) as server_side,
        PerWorkerConnections(pids) as per_worker,
        ThreadPoolExecutor(100) as pool,
    ):
        statuses = list(pool.map(fetch, range(150)))
    print(
        f"\n150 booking lists at 100-way concurrency on 2 workers: peak MariaDB connections {server_side.peak}, "
        f"per worker {per_worker.peaks}"
    )
    assert statuses == [200] * 150
    assert server_side.peak <= 8
    assert all(1 <= peak <= 4 for peak in per_worker.peaks.values()), per_worker.peaks
    assert server_side.peak > 4  # both workers held connections at once: the bound is per worker process


def raw_get(url: str, path: str, receive_buffer: int) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(30)
    sock.connect((host, int(port)))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    return sock


def test_sigterm_lets_an_in_flight_download_finish(gunicorn, tmp_path, shared_media):
    """Runs last in this module: it stops the server."""
    server = gunicorn
    video = padded_video(shared_media / "venue-tour.mp4", tmp_path / "long.mp4", 24 * MiB)
    with server.client() as client, video.open("rb") as source:
        body = client.post("/api/uploads/video", files={"file": ("long.mp4", source)}).json()

    sock = raw_get(server.url, body["url"], receive_buffer=64 * 1024)
    received, signalled_at, started = bytearray(), None, time.monotonic()
    with sock:
        while chunk := sock.recv(65536):
            received += chunk
            if signalled_at is None and len(received) >= MiB:
                signalled_at = len(received)
                server.popen.send_signal(signal.SIGTERM)
            # A slow reader: about 16 MiB/s at most, so the body takes over a second after the signal.
            time.sleep(max(0.0, started + len(received) / (16 * MiB) - time.monotonic()))
    head, _, content = bytes(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert signalled_at < 24 * MiB // 2  # the signal came early in the body...
    assert len(content) == 24 * MiB  # ...and the whole body still arrived
    assert hashlib.sha256(content).hexdigest() == body["etag"].strip('"')

    assert server.popen.wait(30) == 0
    log = server.log.read_text()
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/health", timeout=2)
    print(f"\nSIGTERM after {signalled_at} of {24 * MiB} bytes; the download completed; gunicorn exited 0")
    assert "Traceback" not in log, log
