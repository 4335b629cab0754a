"""Restarts finish what they started (lebrq.http.draining, lebrq.http.protocols), with a real gunicorn and two
`lebrq.workers.UvicornWorker` processes. gunicorn's heartbeat ``timeout`` is 3 s here, far shorter than the
downloads, so a draining worker that stopped its heartbeat would be killed (``WORKER TIMEOUT``) mid-body."""

import hashlib
import signal
import threading
import time

import httpx
import pytest

from .deploy_helpers import MiB, padded_video, worker_pids
from .test_gunicorn_live import raw_get, start_gunicorn

pytestmark = pytest.mark.live

SIZE = 32 * MiB
RESTARTS = {"GUNICORN_TIMEOUT": "3", "GUNICORN_GRACEFUL_TIMEOUT": "25", "GUNICORN_MAX_REQUESTS_JITTER": "0"}


def uploaded_video(server, shared_media, tmp_path) -> dict:
    video = padded_video(shared_media / "venue-tour.mp4", tmp_path / "long.mp4", SIZE)
    with server.client() as client, video.open("rb") as source:
        return client.post("/api/uploads/video", files={"file": ("long.mp4", source)}).json()


def slow_download(server, body: dict, on_started, rate: int = 4 * MiB) -> bytes:
    """Read the upload back at ``rate`` bytes/s (over 8 s for 32 MiB), calling ``on_started`` after 1 MiB."""
    sock = raw_get(server.url, body["url"], receive_buffer=64 * 1024)
    received, called, started = bytearray(), False, time.monotonic()
    with sock:
        while chunk := sock.recv(65536):
            received += chunk
            if not called and len(received) >= MiB:
                called = True
                on_started()
            time.sleep(max(0.0, started + len(received) / rate - time.monotonic()))
    head, _, content = bytes(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    return content


def assert_whole(content: bytes, body: dict) -> None:
    assert len(content) == SIZE
    assert hashlib.sha256(content).hexdigest() == body["etag"].strip('"')


@pytest.mark.parametrize("trigger", ["max_requests", "sighup"])
def test_restart_lets_a_download_longer_than_the_heartbeat_timeout_finish(
    tmp_path_factory, tmp_path, shared_media, trigger
):
    server = start_gunicorn(tmp_path_factory, f"restart_{trigger}", GUNICORN_MAX_REQUESTS="40", **RESTARTS)
    try:
        body = uploaded_video(server, shared_media, tmp_path)
        before = worker_pids(server)

        def restart():
            if trigger == "sighup":
                server.popen.send_signal(signal.SIGHUP)
            else:  # enough requests that both workers reach max_requests
                with httpx.Client(base_url=server.url, timeout=30) as client:
                    for _ in range(100):
                        client.get("/health", headers={"Connection": "close"})

        started = time.monotonic()
        content = slow_download(server, body, restart)
        assert time.monotonic() - started > 6  # twice gunicorn's heartbeat timeout
        assert_whole(content, body)
        assert not set(worker_pids(server)) & set(before)  # both workers were replaced
        log = server.log.read_text()
        assert "WORKER TIMEOUT" not in log, log
        assert "Traceback" not in log, log
    finally:
        server.stop()


def test_sigterm_lets_a_download_longer_than_the_heartbeat_timeout_finish(tmp_path_factory, tmp_path, shared_media):
    server = start_gunicorn(tmp_path_factory, "restart_sigterm", **RESTARTS)
    try:
        body = uploaded_video(server, shared_media, tmp_path)
        content = slow_download(server, body, lambda: server.popen.send_signal(signal.SIGTERM))
        assert_whole(content, body)
        assert server.popen.wait(30) == 0
        log = server.log.read_text()
        assert "WORKER TIMEOUT" not in log, log
    finally:
        server.stop()


def test_no_request_is_reset_across_max_requests_restarts(tmp_path_factory):
    """Four keep-alive clients and four clients opening a connection per request, 400 requests in all, while the
    workers restart every 25 requests: every request is answered."""
    server = start_gunicorn(tmp_path_factory, "restart_resets", GUNICORN_MAX_REQUESTS="25", **RESTARTS)
    failures, statuses = [], []
    try:
        before = worker_pids(server)

        def client(keep_alive: bool) -> None:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                for _ in range(50):
                    headers = {} if keep_alive else {"Connection": "close"}
                    try:
                        statuses.append(http.get("/api/venues", headers=headers).status_code)
                    except httpx.TransportError as exc:
                        failures.append(repr(exc))

        threads = [threading.Thread(target=client, args=(n % 2 == 0,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        assert statuses == [200] * 400
        assert not set(worker_pids(server)) & set(before)
    finally:
        server.stop()
