"""The two server layouts of bench/abuse.py, each on its own fresh MariaDB database and directories (removed after).

- ``a``, `Seed`: one uvicorn worker started with the seed's command line (``--limit-concurrency 30
  --timeout-keep-alive 5 --backlog 1024 --workers 1``) and the project's ``UVICORN_HTTP``/``UVICORN_LOOP``; clients
  and attackers speak plain HTTP to it.
- ``b``, `Fronted`: nginx (deploy/nginx/lebrq.conf rendered by deploy/nginx/render.py, TLS with a self-signed
  certificate, downloads offloaded with X-Accel-Redirect) in front of gunicorn (gunicorn.conf.py) with 2
  `lebrq.workers.UvicornWorker` processes. ``GUNICORN_MAX_REQUESTS`` is set so that each worker reaches it about
  once a minute under the honest load (``clients / think`` requests a second shared by the workers), with a 10 %
  jitter: the workers are replaced by gunicorn's own ``max_requests`` restart while the attack goes on.

Both give: ``url`` (what honest clients use), ``host``/``port``/``ssl`` (what attackers connect to), ``verify``
(httpx's), `workers` (the worker processes now alive), ``temp_dirs`` (where request bodies are spooled: the upload
temp dir, and nginx's client-body temp dir in layout b) and ``media_dir``.
"""

import os
import ssl as tls
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from load import mysql_connect, server_env  # noqa: E402

from tests.live.harness import free_port, start_and_wait, stop_process  # noqa: E402

WORKERS = 2  # layout b's gunicorn workers
RESTART_SECONDS = 60  # layout b: each worker reaches max_requests about this often
NGINX_CONNECTIONS = 4096  # layout b: nginx's worker_connections (Debian's nginx.conf: 768)


@dataclass
class Layout:
    """What both layouts share: the database, the environment, the seeding of accounts."""

    server_url: str  # mysql://user@host:port, without a database
    directory: Path
    database: str = field(default_factory=lambda: f"lebrq_abuse_{os.getpid()}")
    env: dict = field(default_factory=dict)
    url: str = ""
    host: str = "127.0.0.1"
    port: int = 0
    ssl: tls.SSLContext | None = None
    popen: subprocess.Popen | None = None
    name: str = ""

    @property
    def verify(self) -> tls.SSLContext | bool:
        return self.ssl or True

    @property
    def media_dir(self) -> Path:
        return self.directory / "media"

    @property
    def temp_dirs(self) -> list[Path]:
        return [self.directory / "tmp"]

    def prepare(self, clients: int, **extra: str) -> None:
        """The database migrated and seeded, ``clients`` accounts ``bench-N``, the demo customer's bookings made
        a few MB long (the list that "never reads" attackers ask for)."""
        self.env = {
            **server_env(self.server_url, self.database, self.directory),
            "CACHE_URL": f"filecache://{self.directory / 'cache'}",  # throttle counters of this run only
            **extra,
        }
        (self.directory / "tmp").mkdir(parents=True, exist_ok=True)
        prepare = (
            "from django.core.management import call_command; from django.contrib.auth.models import User; "
            "from django.contrib.auth.hashers import make_password; from bookings.models import Booking; "
            "call_command('migrate', verbosity=0); call_command('seed_demo'); "
            "password = make_password('bench-password'); "
            f"User.objects.bulk_create(User(username=f'bench-{{n}}', password=password) for n in range({clients})); "
            "Booking.objects.filter(customer__username='customer').update(customer_note='n' * 1_000_000)"
        )
        manage = [sys.executable, "manage.py", "shell", "-c", prepare]
        subprocess.run(manage, cwd=ROOT, env=self.env, check=True, stdout=subprocess.DEVNULL)

    def workers(self) -> list[psutil.Process]:
        raise NotImplementedError

    def stop(self) -> None:
        stop_process(self.popen)
        conn = mysql_connect(self.server_url)
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{self.database}`")
        conn.close()


@dataclass
class Seed(Layout):
    """Layout a: the seed's uvicorn command line, one worker process."""

    name: str = "a: the seed's uvicorn command"

    def start(self, clients: int, think: float) -> "Seed":
        self.prepare(
            clients,
            UVICORN_HTTP="lebrq.http.protocols:AutoHTTPProtocol",
            UVICORN_LOOP="lebrq.http.loops:new_event_loop",
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable, "-m", "uvicorn", "lebrq.asgi:application", "--host", "0.0.0.0", "--port", str(self.port),
            "--limit-concurrency", "30", "--timeout-keep-alive", "5", "--backlog", "1024", "--workers", "1",
            "--log-level", "warning",
        ]  # fmt: skip
        self.popen = start_and_wait(command, env=self.env, log=self.directory / "server.log", url=self.url)
        return self

    def workers(self) -> list[psutil.Process]:
        return [psutil.Process(self.popen.pid)]


@dataclass
class Fronted(Layout):
    """Layout b: nginx in front of gunicorn with `WORKERS` uvicorn workers and a ``max_requests`` restart about
    every `RESTART_SECONDS` (see the module docstring)."""

    name: str = "b: nginx + gunicorn, 2 workers"
    front: object = None
    max_requests: int = 0

    @property
    def temp_dirs(self) -> list[Path]:
        return [self.directory / "tmp", self.directory / "nginx" / "client_body"]

    def start(self, clients: int, think: float) -> "Fronted":
        from nginx_front import NginxFront

        # Nominal: the honest clients' request rate shared by the workers, a minute of it each (bench/abuse.py's
        # --max-requests sets it outright, e.g. on a machine too busy to reach that rate).
        self.max_requests = self.max_requests or round(clients / think * RESTART_SECONDS / WORKERS)
        upstream = f"127.0.0.1:{free_port()}"
        self.prepare(
            clients,
            GUNICORN_BIND=upstream,
            WEB_CONCURRENCY=str(WORKERS),
            GUNICORN_MAX_REQUESTS=str(self.max_requests),
            GUNICORN_MAX_REQUESTS_JITTER=str(self.max_requests // 10),
            GUNICORN_LOG_LEVEL="warning",
            DOWNLOAD_OFFLOAD="x-accel",
            SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
            INVOICE_CACHE_DIR=str(self.directory / "invoices"),
        )
        for variable in ("GUNICORN_CMD_ARGS", "GUNICORN_CONTROL_SOCKET"):
            self.env.pop(variable, None)
        command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
        self.popen = start_and_wait(command, env=self.env, log=self.directory / "server.log", url=f"http://{upstream}")
        deadline = time.monotonic() + 30
        while len(self.workers()) < WORKERS and time.monotonic() < deadline:
            time.sleep(0.1)
        body_limit = 300 * 1024 * 1024
        # worker_connections: each attacker and client holds one, a proxied request a second one upstream.
        front = NginxFront(self.directory / "nginx", upstream, self.env, body_limit, connections=NGINX_CONNECTIONS)
        self.front = front.start()
        self.url = self.front.url
        self.port = int(self.url.rsplit(":", 1)[1])
        self.ssl = self.front.verify
        return self

    def workers(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.popen.pid).children()
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        if self.front is not None:
            self.front.stop()
        super().stop()
