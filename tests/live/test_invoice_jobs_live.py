"""Invoice renders as Celery jobs (INVOICE_RENDERER=celery) through a real uvicorn worker and a real render worker
(``celery -A lebrq worker``), on Redis and on RabbitMQ: the PDF served from the worker's render, one render per
revision for concurrent requests, and with the render worker stopped a JSON 503 within INVOICE_RENDER_WAIT while
the event loop keeps answering /health; the expired job is then discarded by the restarted worker."""

import math
import os
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

import httpx
import pytest

from tests.live.conftest import ROOT, make_server
from tests.live.harness import stop_process

pytestmark = pytest.mark.live

#: The brokers of these tests: Redis database 12 (kept for them) and RabbitMQ's default virtual host.
BROKERS = {"redis": "redis://127.0.0.1:6379/12", "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//"}
RENDER_WAIT = 4.0  # seconds a request waits for its job; a one-page render takes well under one on this machine


def reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=2).close()
    except OSError:
        return False
    return True


class RenderWorker:
    """A ``celery -A lebrq worker`` process on the server's settings, consuming only ``queue``; output to ``log``
    (appended across restarts)."""

    def __init__(self, env: dict, queue: str, log):
        self.env, self.queue, self.log, self.popen = env, queue, log, None

    def start(self, timeout: float = 60) -> None:
        command = [sys.executable, "-m", "celery", "-A", "lebrq", "worker", "-Q", self.queue, "--concurrency", "1"]
        command += ["--max-memory-per-child", "300000", "--loglevel", "INFO", "-n", f"{self.queue}@%h"]
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        ready = self.log.read_text().count(" ready.") if self.log.exists() else 0
        self.popen = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while self.log.read_text().count(" ready.") == ready:
            if self.popen.poll() is not None or time.monotonic() > deadline:
                stop_process(self.popen)
                raise RuntimeError(f"render worker did not start: {self.log.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        stop_process(self.popen, timeout=20)

    def count(self, text: str) -> int:
        return self.log.read_text().count(text)


def delete_queue(url: str, queue: str) -> None:
    """Remove the test's queue from the broker: on RabbitMQ the queue and its exchange, on Redis (a database of
    these tests) the queue's list and kombu's binding keys."""
    if url.startswith("redis"):
        import redis

        with redis.Redis.from_url(url) as client:
            client.delete(queue, *client.scan_iter(match=f"_kombu.binding*.{queue}"))
        return
    from kombu import Connection

    with Connection(url, connect_timeout=5) as connection:
        channel = connection.default_channel
        channel.queue_delete(queue)
        channel.exchange_delete(queue)


@pytest.fixture(scope="module", params=list(BROKERS))
def jobs(request, tmp_path_factory):
    """A uvicorn worker in celery mode and its render worker, sharing the invoice cache, on one broker."""
    url = BROKERS[request.param]
    if not reachable(url):
        pytest.skip(f"{request.param} does not answer at {url}")
    server = make_server(
        tmp_path_factory,
        f"jobs-{request.param}",
        INVOICE_RENDERER="celery",
        CELERY_BROKER_URL=url,
        INVOICE_RENDER_QUEUE=f"lebrq-test-invoices-{request.param}-{os.getpid()}",  # parallel runs apart
        INVOICE_RENDER_WAIT=str(RENDER_WAIT),
        LOG_LEVEL="INFO",
    )
    worker = RenderWorker(server.env, server.env["INVOICE_RENDER_QUEUE"], server.directory / "worker.log")
    try:
        worker.start()
        yield server, worker
    finally:
        worker.stop()
        server.stop()
        delete_queue(url, server.env["INVOICE_RENDER_QUEUE"])


def invoice_url(client: httpx.Client, reference: str) -> str:
    bookings = client.get("/api/bookings", params={"page_size": 100}).json()["items"]
    booking = next(booking for booking in bookings if booking["booking_reference"] == reference)
    return f"/api/bookings/{booking['id']}/invoice"


def test_the_render_worker_renders_once_per_revision(jobs):
    server, worker = jobs
    with server.client() as client:
        url = invoice_url(client, "BK-00000DE003")
        answers = [None, None]
        barrier = threading.Barrier(2)

        def fetch(index):
            barrier.wait()
            answers[index] = client.get(url)

        threads = [threading.Thread(target=fetch, args=(index,)) for index in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [answer.status_code for answer in answers] == [200, 200]
        assert answers[0].content == answers[1].content
        assert answers[0].content.startswith(b"%PDF-")
        etag = answers[0].headers["etag"]
        assert answers[1].headers["etag"] == etag
        assert answers[0].headers["content-type"] == "application/pdf"
        cached = server.env["INVOICE_CACHE_DIR"] + f"/BK-00000DE003/{etag.strip(chr(34))}.pdf"
        with open(cached, "rb") as handle:
            assert handle.read() == answers[0].content
        again = client.get(url)
        assert again.status_code == 200
        assert again.content == answers[0].content
        assert client.get(url, headers={"If-None-Match": etag}).status_code == 304

    assert worker.count("] received") == 1  # one job for the two concurrent requests
    assert worker.count("] succeeded in") == 1
    assert worker.count("Rendered invoice BK-00000DE003 ") == 1
    assert server.log.read_text().count("Rendered invoice") == 0  # the web worker never renders


def test_a_stopped_render_worker_is_a_503_within_the_deadline(jobs):
    server, worker = jobs
    worker.stop()
    health: list[tuple[int, float]] = []
    waiting = threading.Event()

    def watch_health():
        with httpx.Client(base_url=server.url, timeout=5) as client:
            while not waiting.is_set():
                started = time.monotonic()
                status = client.get("/health").status_code
                health.append((status, time.monotonic() - started))
                time.sleep(0.2)

    with server.client() as client:
        url = invoice_url(client, "BK-00000DE001")
        watcher = threading.Thread(target=watch_health)
        watcher.start()
        started = time.monotonic()
        try:
            busy = client.get(url)
        finally:
            elapsed = time.monotonic() - started
            waiting.set()
            watcher.join()
        assert busy.status_code == 503
        body = busy.json()
        assert body["success"] is False
        assert body["code"] == "invoice_busy"
        assert body["detail"] == body["message"]
        assert busy.headers["retry-after"] == str(math.ceil(RENDER_WAIT))
        assert RENDER_WAIT <= elapsed < RENDER_WAIT + 3
        assert len(health) >= RENDER_WAIT / 0.5  # answered all along, one look every 0.2 s plus its own time
        assert {status for status, _ in health} == {200}
        assert max(seconds for _, seconds in health) < 1

        # The job that expired meanwhile is never run (RabbitMQ drops it by its expiration, the Redis transport
        # hands it over and the worker discards it); the next request sends a new one.
        worker.start()
        again = client.get(url)
        assert again.status_code == 200
        assert again.content.startswith(b"%PDF-")
    assert worker.count("Rendered invoice BK-00000DE001 ") == 1
    assert worker.count("] succeeded in") == 2  # this one and the first test's
