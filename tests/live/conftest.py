"""A real uvicorn process serving the project, for tests of streaming, ranges, uploads and memory.

The server runs in its own process with its own database (an SQLite file, or a fresh MariaDB database when
the suite runs on MariaDB), MEDIA_ROOT and temp dir, migrated and seeded with ``seed_demo``; tests talk to
it over HTTP only.
"""

import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from .harness import PeakRSS, free_port, start_and_wait, stop_process, uvicorn_command

ROOT = Path(__file__).resolve().parents[2]
__all__ = ["PeakRSS", "free_port"]  # re-exported for the tests that import them from here


def database_url_for(name: str, directory: Path) -> str:
    """A fresh database for a live server: MariaDB when the suite runs on it, else an SQLite file."""
    current = os.environ.get("DATABASE_URL", "")
    if not current.startswith("mysql"):
        return f"sqlite:///{directory / 'live.sqlite3'}"
    import MySQLdb

    parts = urlsplit(current)
    conn = MySQLdb.connect(
        host=parts.hostname, port=parts.port or 3306, user=parts.username or "root", passwd=parts.password or ""
    )
    db_name = f"lebrq_{name}_{os.getpid()}"  # unique per test run, dropped when the server stops
    with conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{db_name}`")
        cursor.execute(f"CREATE DATABASE `{db_name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    conn.close()
    return parts._replace(path=f"/{db_name}").geturl()


def drop_database(database_url: str) -> None:
    """Drop a live server's MariaDB database (SQLite files go with the tmp dir)."""
    if not database_url.startswith("mysql"):
        return
    import MySQLdb

    parts = urlsplit(database_url)
    conn = MySQLdb.connect(
        host=parts.hostname, port=parts.port or 3306, user=parts.username or "root", passwd=parts.password or ""
    )
    with conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{parts.path.lstrip('/')}`")
    conn.close()


@dataclass
class LiveServer:
    """A running uvicorn worker: ``url`` is its base URL, ``process`` its psutil handle, ``log`` its output."""

    directory: Path
    env: dict
    url: str = ""
    popen: subprocess.Popen | None = None
    log: Path = field(init=False)

    def __post_init__(self):
        self.log = self.directory / "server.log"

    @property
    def process(self) -> psutil.Process:
        return psutil.Process(self.popen.pid)

    @property
    def media_root(self) -> Path:
        return Path(self.env["MEDIA_ROOT"])

    @property
    def temp_dir(self) -> Path:
        return Path(self.env["FILE_UPLOAD_TEMP_DIR"])

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=300,  # a hang (a deadlock, a database that never answers) fails the test instead
        )

    def start(self) -> "LiveServer":
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.popen = start_and_wait(
            uvicorn_command("lebrq.asgi:application", port), env=self.env, log=self.log, url=self.url, timeout=30
        )
        return self

    def stop(self) -> None:
        stop_process(self.popen)
        drop_database(self.env["DATABASE_URL"])

    def token(self, username="customer", password="lebrq-customer") -> str:
        response = httpx.post(self.url + "/api/auth/login", json={"username": username, "password": password})
        response.raise_for_status()
        return response.json()["access_token"]

    def client(self, username="customer", password="lebrq-customer", **kwargs) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token(username, password)}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)


def prepare_server(tmp_path_factory, name: str, **settings: str) -> LiveServer:
    """A live server's directory, environment and database (migrated, seeded with ``seed_demo``); not started."""
    directory = tmp_path_factory.mktemp(name)
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for(name, directory),
        "MEDIA_ROOT": str(directory / "media"),
        "FILE_UPLOAD_TEMP_DIR": str(directory / "tmp"),
        "INVOICE_CACHE_DIR": str(directory / "invoices"),
        "STATIC_ROOT": str(directory / "static"),
        "PYTHONUNBUFFERED": "1",
        # Throttle counters of this server alone; the live tests log in often from 127.0.0.1.
        "CACHE_URL": f"filecache://{directory / 'cache'}",
        "THROTTLE_ADDRESS_RATE": "100000/min",
        "THROTTLE_ACCOUNT_ADDRESS_RATE": "100000/min",
        **settings,
    }
    server = LiveServer(directory, env)
    server.manage("migrate", "--noinput", "-v0")
    server.manage("seed_demo")
    return server


def make_server(tmp_path_factory, name: str, **settings: str) -> LiveServer:
    """`prepare_server`, then started: a uvicorn worker answering on ``server.url``."""
    return prepare_server(tmp_path_factory, name, **settings).start()


@pytest.fixture(scope="session")
def live_server_uvicorn(tmp_path_factory):
    """One uvicorn worker for the session, default settings, seeded with the demo data."""
    server = make_server(tmp_path_factory, "live")
    yield server
    server.stop()


@pytest.fixture
def server_factory(tmp_path_factory):
    """Start extra servers with particular settings: ``server_factory("name", MEMORY_THRESHOLD_PERCENT="1")``."""
    servers = []

    def start(name: str, **settings: str) -> LiveServer:
        servers.append(make_server(tmp_path_factory, name, **settings))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def raw_request(url: str, head: str) -> bytes:
    """Send only the request head on a raw socket and return the server's whole answer (it closes the connection)."""
    host, port = url.removeprefix("http://").split(":")
    answer = b""
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode())
        while chunk := sock.recv(65536):
            answer += chunk
    return answer
