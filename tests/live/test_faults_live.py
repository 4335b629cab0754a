"""Database faults through a real uvicorn worker on a real MariaDB: an exhausted pool, a database that is down at
start-up, and a MariaDB restarted in the middle of load.

These tests restart and lock their database, so they run on a private ``mariadbd`` that they start themselves
(own datadir, port and socket under the test's tmp dir) and stop at the end; the shared server on port 3306 is
never touched. They run on the MariaDB pass of the suite only.
"""

import os
import pwd
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .conftest import ROOT, LiveServer, free_port

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("mysql"), reason="MariaDB run only"),
    pytest.mark.skipif(not shutil.which("mariadb-install-db"), reason="MariaDB server binaries not installed"),
]

MARIADBD = "/usr/sbin/mariadbd"
USER = pwd.getpwuid(os.geteuid()).pw_name
UNAVAILABLE_BODY = {
    "detail": "The database is unavailable; retry shortly.",
    "success": False,
    "message": "The database is unavailable; retry shortly.",
    "code": "database_unavailable",
}


class PrivateMariaDB:
    """A throw-away ``mariadbd`` on 127.0.0.1:``port`` (root, no password) with its datadir in ``directory``."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.datadir = directory / "data"
        self.port = free_port()
        self.popen: subprocess.Popen | None = None
        subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={self.datadir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                f"--user={USER}",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )

    def url(self, database: str) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Start the server and wait until it answers (about half a second)."""
        self.popen = subprocess.Popen(
            [
                MARIADBD,
                "--no-defaults",
                f"--user={USER}",
                f"--datadir={self.datadir}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--socket={self.directory / 'mysqld.sock'}",
                f"--pid-file={self.directory / 'mysqld.pid'}",
                f"--log-error={self.directory / 'error.log'}",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=32M",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.connect().close()
                return
            except Exception:
                if self.popen.poll() is not None:
                    raise RuntimeError((self.directory / "error.log").read_text()[-2000:]) from None
                time.sleep(0.05)
        raise RuntimeError("private mariadbd did not answer within 30 s")

    def stop(self) -> None:
        """Shut the server down (SIGTERM, as a service manager would) and wait for it to exit."""
        if self.popen and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def connect(self, database: str | None = None):
        import MySQLdb

        kwargs = {"db": database} if database else {}
        return MySQLdb.connect(host="127.0.0.1", port=self.port, user="root", passwd="", connect_timeout=2, **kwargs)

    def create_database(self, name: str) -> str:
        conn = self.connect()
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        conn.close()
        return self.url(name)


@pytest.fixture(scope="module")
def mariadb(tmp_path_factory):
    """The private server, with one database ``lebrq`` migrated and seeded once for all the tests here."""
    server = PrivateMariaDB(tmp_path_factory.mktemp("mariadb"))
    server.start()
    env = {**os.environ, "DATABASE_URL": server.create_database("lebrq")}
    prepare = (
        "from django.core.management import call_command; "
        "call_command('migrate', verbosity=0); call_command('seed_demo')"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", prepare], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )
    yield server
    server.stop()


def private_server(tmp_path_factory, mariadb: PrivateMariaDB, name: str, **settings: str) -> LiveServer:
    """A `LiveServer` (not started yet) on the private MariaDB's ``lebrq`` database, with its own media dirs."""
    directory = tmp_path_factory.mktemp(name)
    env = {
        **os.environ,
        "DATABASE_URL": mariadb.url("lebrq"),
        "MEDIA_ROOT": str(directory / "media"),
        "FILE_UPLOAD_TEMP_DIR": str(directory / "tmp"),
        "STATIC_ROOT": str(directory / "static"),
        "PYTHONUNBUFFERED": "1",
        **settings,
    }
    return LiveServer(directory, env)


@pytest.fixture
def servers():
    started: list[LiveServer] = []
    yield started
    for server in started:
        if server.popen and server.popen.poll() is None:
            server.popen.terminate()
            server.popen.wait(10)


def wait_for_lock_waiter(mariadb: PrivateMariaDB, database: str, timeout: float = 10) -> None:
    """Wait until a session of ``database`` is blocked on a table lock."""
    conn = mariadb.connect()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with conn.cursor() as cursor:
                cursor.execute(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = %s AND STATE LIKE %s",
                    [database, "Waiting for table metadata lock%"],
                )
                if cursor.fetchone()[0]:
                    return
            time.sleep(0.02)
    finally:
        conn.close()
    raise AssertionError("no request blocked on the locked table")


def test_exhausted_pool_answers_503_with_retry_after_not_a_hang(tmp_path_factory, mariadb, servers):
    server = private_server(
        tmp_path_factory,
        mariadb,
        "pool",
        DB_POOL_SIZE="1",
        DB_MAX_OVERFLOW="0",
        DB_POOL_TIMEOUT="1",
        DB_RETRY_AFTER="2",
    )
    servers.append(server.start())
    token = server.token()
    # Another session write-locks the bookings table: a booking list then blocks inside MariaDB while holding
    # the process's only pooled connection.
    locker = mariadb.connect("lebrq")
    with locker.cursor() as cursor:
        cursor.execute("LOCK TABLES bookings_booking WRITE")
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(
            httpx.get, server.url + "/api/bookings", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        wait_for_lock_waiter(mariadb, "lebrq")

        started = time.monotonic()
        refused = httpx.get(server.url + "/api/venues", timeout=10)
        elapsed = time.monotonic() - started
        assert refused.status_code == 503
        assert 0.9 <= elapsed < 2.0, elapsed
        assert refused.headers["Retry-After"] == "2"
        assert refused.json() == UNAVAILABLE_BODY

        # Readiness needs a request thread too: it gets the same 503 after the same wait.
        readiness = httpx.get(server.url + "/api/health/detailed", timeout=10)
        assert readiness.status_code == 503
        assert readiness.json() == UNAVAILABLE_BODY
        assert httpx.get(server.url + "/health", timeout=1).json() == {"status": "ok"}
        assert not held.done()

        with locker.cursor() as cursor:
            cursor.execute("UNLOCK TABLES")
        locker.close()
        assert held.result(timeout=10).status_code == 200
    assert httpx.get(server.url + "/api/venues", timeout=10).status_code == 200
    assert httpx.get(server.url + "/api/health/detailed", timeout=10).status_code == 200
    log = server.log.read_text()
    assert "[Database] 503 for /api/venues: RequestThreadTimeout: no request thread came free within 1 s" in log


def test_database_down_at_start_up_then_back(tmp_path_factory, mariadb, servers):
    server = private_server(tmp_path_factory, mariadb, "downstart")
    mariadb.stop()
    try:
        servers.append(server.start())  # start() waits for /health: the process starts without its database
        assert httpx.get(server.url + "/health", timeout=1).json() == {"status": "ok"}

        started = time.monotonic()
        readiness = httpx.get(server.url + "/api/health/detailed", timeout=10)
        assert time.monotonic() - started < 1
        assert readiness.status_code == 503
        body = readiness.json()
        assert body["failing"] == ["database"]
        assert body["checks"]["database"]["status"] == "down"
        assert "Can't connect to server on '127.0.0.1'" in body["checks"]["database"]["error"]

        venues = httpx.get(server.url + "/api/venues", timeout=10)
        assert venues.status_code == 503
        assert venues.headers["Retry-After"] == "2"
        assert venues.json() == UNAVAILABLE_BODY
    finally:
        mariadb.start()
    assert httpx.get(server.url + "/api/health/detailed", timeout=10).status_code == 200
    assert httpx.get(server.url + "/api/venues", timeout=10).status_code == 200


@dataclass(frozen=True)
class Outcome:
    started: float  # seconds since the load began
    finished: float
    status: int  # 0: no HTTP answer (connection error or client timeout)


def test_mariadb_restart_under_load_recovers_within_seconds(tmp_path_factory, mariadb, servers):
    server = private_server(tmp_path_factory, mariadb, "restart")
    servers.append(server.start())
    token = server.token()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=headers) as client:
        booking_id = client.get("/api/bookings").json()["items"][0]["id"]
    paths = ["/api/bookings", f"/api/bookings/{booking_id}", "/api/venues"]
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    begin = time.monotonic()
    stop_at = begin + 6.0  # bounded load: 6 s, 8 clients

    def client_loop(worker: int) -> None:
        with httpx.Client(base_url=server.url, headers=headers, timeout=15) as client:
            n = worker
            while time.monotonic() < stop_at:
                started = time.monotonic() - begin
                try:
                    status = client.get(paths[n % len(paths)]).status_code
                except httpx.TransportError:
                    status = 0
                with lock:
                    outcomes.append(Outcome(started, time.monotonic() - begin, status))
                n += 1

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(client_loop, worker) for worker in range(8)]
        time.sleep(1.5)
        down_at = time.monotonic() - begin
        mariadb.stop()
        mariadb.start()
        up_at = time.monotonic() - begin
        for future in futures:
            future.result()

    statuses = [outcome.status for outcome in outcomes]
    failed_after_up = [o for o in outcomes if o.status != 200 and o.started >= up_at]
    recovered_at = max((o.finished for o in failed_after_up), default=up_at)
    print(
        f"\nMariaDB restart under load: down at {down_at:.2f}s, up at {up_at:.2f}s, "
        f"all 200 again {recovered_at - up_at:.2f}s after; {len(outcomes)} requests, "
        f"{statuses.count(200)} × 200, {statuses.count(503)} × 503, {statuses.count(500)} × 500, "
        f"{statuses.count(0)} without answer; slowest {max(o.finished - o.started for o in outcomes):.2f}s"
    )
    assert set(statuses) <= {200, 503}  # no 500 and no request left without an answer
    assert statuses.count(503) >= 1  # the restart was seen (the test would prove nothing otherwise)
    assert max(o.finished - o.started for o in outcomes) < 5  # nothing stuck
    assert recovered_at - up_at < 3
    assert len([o for o in outcomes if o.started > recovered_at]) > 100
    assert httpx.get(server.url + "/api/health/detailed", timeout=10).status_code == 200
    assert httpx.get(server.url + "/api/health/pool", timeout=10).json()["in_use"] == 0
    log = server.log.read_text()
    assert "Internal Server Error" not in log
    assert "[Database] 503 for /api/" in log
