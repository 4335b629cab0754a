"""After warm-up a real uvicorn worker opens no database connection and starts no thread per request, runs on
uvloop and httptools, and never holds more than DB_POOL_SIZE + DB_MAX_OVERFLOW (4) connections.

Observed from outside the worker, without a debug endpoint: its threads and mapped libraries (psutil, /proc),
its MariaDB connections (information_schema.PROCESSLIST ids) or its open SQLite files (file descriptors).
"""

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from .harness import PeriodicSampler

pytestmark = pytest.mark.live

CONCURRENCY = 8  # twice the request threads: every thread gets work, and with it a connection


class DatabaseConnections(PeriodicSampler):
    """Every 5 ms, the worker's database connections: MariaDB PROCESSLIST ids of its database, or the file
    descriptors it holds on its SQLite file. ``seen`` is their union, ``peak`` the most at once."""

    def __init__(self, server):
        self.server, self.seen, self.peak = server, set(), 0
        url = server.env["DATABASE_URL"]
        self.mysql = url.startswith("mysql")
        if self.mysql:
            import MySQLdb

            parts = urlsplit(url)
            self.database = parts.path.lstrip("/")
            self.conn = MySQLdb.connect(
                host=parts.hostname, port=parts.port or 3306, user=parts.username or "root", passwd=parts.password or ""
            )
        else:
            self.path = str(Path(url.removeprefix("sqlite:///")).resolve())

    def current(self) -> set:
        if self.mysql:
            with self.conn.cursor() as cursor:
                cursor.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s", [self.database])
                return {row[0] for row in cursor.fetchall()}
        return {f.fd for f in self.server.process.open_files() if f.path == self.path}

    def sample(self):
        now = self.current()
        self.seen |= now
        self.peak = max(self.peak, len(now))

    def finish(self):
        if self.mysql:
            self.conn.close()


def load(server, headers: dict, requests: int) -> list[int]:
    def fetch(number):
        path = "/api/bookings" if number % 2 else "/api/venues"
        return httpx.get(server.url + path, headers=headers, timeout=60).status_code

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        return list(pool.map(fetch, range(requests)))


def test_after_warm_up_requests_open_no_connection_and_start_no_thread(server_factory):
    server = server_factory("threads", DB_POOL_TIMEOUT="60")
    headers = {"Authorization": f"Bearer {server.token()}"}
    probe = DatabaseConnections(server)
    for _ in range(20):  # warm-up: until each of the 4 request threads holds its connection
        assert set(load(server, headers, 100)) == {200}
        if len(probe.current()) == 4:
            break
    connections_before = probe.current()
    threads_before = {thread.id for thread in server.process.threads()}
    assert len(connections_before) == 4

    with DatabaseConnections(server) as sampler:
        statuses = load(server, headers, 400)
    threads_after = {thread.id for thread in server.process.threads()}
    print(
        f"\n400 requests after warm-up: {len(threads_before)} threads before, {len(threads_after)} after; "
        f"connections {sorted(connections_before)} before, {sorted(sampler.seen)} seen, peak {sampler.peak}"
    )
    assert statuses == [200] * 400
    assert sampler.seen == connections_before  # the same connections throughout: none opened, none closed
    assert sampler.peak == 4
    assert threads_after <= threads_before  # no thread started (the GC warm-up timer's may have ended)
    pool = httpx.get(server.url + "/api/health/pool").json()
    assert pool["in_use"] == 0


def test_the_worker_runs_on_uvloop_and_httptools(live_server_uvicorn):
    httpx.get(live_server_uvicorn.url + "/health")
    libraries = {os.path.basename(m.path) for m in live_server_uvicorn.process.memory_maps()}
    assert any(name.startswith("loop.cpython") for name in libraries), "uvloop is not loaded"
    assert any(name.startswith("parser.cpython") for name in libraries), "httptools is not loaded"
