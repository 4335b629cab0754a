"""The per-process DB bound on the real MariaDB: 50 concurrent booking-list requests, at most 4 connections."""

import os
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import pytest

from .harness import PeriodicSampler

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("mysql"), reason="MariaDB run only"),
]


class ConnectionCounter(PeriodicSampler):
    """Counts server connections to one database (information_schema.PROCESSLIST) every 5 ms; keeps the peak."""

    def __init__(self, database_url: str):
        import MySQLdb

        parts = urlsplit(database_url)
        self.database = parts.path.lstrip("/")
        self.conn = MySQLdb.connect(
            host=parts.hostname, port=parts.port or 3306, user=parts.username or "root", passwd=parts.password or ""
        )
        self.peak = 0

    def count(self) -> int:
        with self.conn.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = %s", [self.database])
            return cursor.fetchone()[0]

    def sample(self):
        self.peak = max(self.peak, self.count())

    def finish(self):
        self.conn.close()


def test_fifty_concurrent_booking_lists_use_at_most_four_connections(server_factory):
    # A long pool timeout: this measures the connection bound, not latency on a busy two-core machine.
    live_server_uvicorn = server_factory("pool", DB_POOL_TIMEOUT="120")
    token = live_server_uvicorn.token("admin", "lebrq-admin")
    headers = {"Authorization": f"Bearer {token}"}

    def fetch(_):
        return httpx.get(live_server_uvicorn.url + "/api/bookings", headers=headers, timeout=60).status_code

    with ConnectionCounter(live_server_uvicorn.env["DATABASE_URL"]) as counter, ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(fetch, range(200)))
    print(f"\n200 booking lists at 50-way concurrency: peak MariaDB connections {counter.peak}")
    assert statuses == [200] * 200
    assert 1 <= counter.peak <= 4
    pool_state = httpx.get(live_server_uvicorn.url + "/api/health/pool").json()
    assert pool_state["pooled"] is True
    assert pool_state["max_connections"] == 4
    assert pool_state["in_use"] == 0
    assert 1 <= pool_state["checked_out"] <= 4  # kept by the request threads for their next requests
