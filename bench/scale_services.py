"""What runs on the hosts of bench/scale.py (`scale_hosts.Machine`): MariaDB, Redis and the S3 server as shared
services, the app hosts (gunicorn), the render worker (Celery) and nginx in front.

Each service is the machine's own binary started with its own data directory under the run's directory and
listening on its host's bridge address only, so nothing here touches the machine's MariaDB (datadir
/var/lib/mysql, 127.0.0.1:3306) or Redis (127.0.0.1:6379).
"""

import importlib.util
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.nginx_front import nginx_binary
from bench.scale_hosts import Host, Machine, Topology, in_namespace, run
from tests.live.deploy_helpers import NGINX_MAIN, self_signed_certificate

ROOT = Path(__file__).resolve().parent.parent
APP_PORT = 8002
DB_NAME = "lebrq"
DB_USER = "lebrq"
S3_PORT = 5000
BUCKET = "lebrq-media"
HOST_PATHS = {"MEDIA_ROOT": "media", "FILE_UPLOAD_TEMP_DIR": "tmp", "INVOICE_CACHE_DIR": "invoices"}  # per host
S3_KEYS = {"AWS_ACCESS_KEY_ID": "scale-bench", "AWS_SECRET_ACCESS_KEY": "scale-bench-secret"}


def wait_for(probe, what: str, timeout: float = 60, popen=None, log: Path | None = None) -> None:
    """Call ``probe()`` until it returns true; RuntimeError naming ``what`` (with the log's tail) on timeout or
    when ``popen`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen is not None and popen.poll() is not None:
            break
        try:
            if probe():
                return
        except Exception:  # not up yet
            pass
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} did not start: {tail}")


def tcp_open(address: str, port: int, source: str | None = None) -> bool:
    with socket.create_connection((address, port), timeout=1, source_address=(source, 0) if source else None):
        return True


@dataclass
class MariaDB:
    """mariadbd on the ``db`` host: a datadir made by mariadb-install-db, a user for the app hosts' network."""

    host: Host
    directory: Path
    password: str = field(default_factory=lambda: secrets.token_hex(12))

    @property
    def socket_path(self) -> Path:
        return self.directory / "mariadb.sock"

    def start(self, machine: Machine) -> "MariaDB":
        datadir = self.directory / "data"
        self.directory.mkdir(parents=True, exist_ok=True)
        run(["mariadb-install-db", "--no-defaults", f"--datadir={datadir}", "--user=root", "--skip-test-db",
             "--auth-root-authentication-method=normal"], timeout=180)  # fmt: skip
        log = self.directory / "mariadbd.log"
        popen = machine.start(
            self.host,
            ["mariadbd", "--no-defaults", f"--datadir={datadir}", "--user=root", f"--socket={self.socket_path}",
             f"--bind-address={self.host.address}", "--port=3306", f"--pid-file={self.directory / 'mariadbd.pid'}",
             "--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=128M", "--max-connections=200",
             "--innodb-flush-log-at-trx-commit=2", "--character-set-server=utf8mb4",
             "--collation-server=utf8mb4_unicode_ci"],
            log,
        )  # fmt: skip
        wait_for(lambda: self.connect().close() is None, "mariadbd", popen=popen, log=log)
        network = self.host.address.rsplit(".", 1)[0] + ".%"  # the bridge's /24
        conn = self.connect()
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {DB_NAME} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            cursor.execute("CREATE USER %s@%s IDENTIFIED BY %s", [DB_USER, network, self.password])
            # The app's tests are not run here; the bench database alone, but every right on it (migrations).
            cursor.execute(f"GRANT ALL PRIVILEGES ON {DB_NAME}.* TO %s@%s", [DB_USER, network])
        conn.close()
        return self

    def connect(self):
        """A root connection through the server's unix socket (the bench's own checks)."""
        import MySQLdb

        return MySQLdb.connect(unix_socket=str(self.socket_path), user="root", autocommit=True)

    @property
    def url(self) -> str:
        return f"mysql://{DB_USER}:{self.password}@{self.host.address}:3306/{DB_NAME}"

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        conn = self.connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute(f"USE {DB_NAME}")
                cursor.execute(sql, params or [])
                return list(cursor.fetchall())
        finally:
            conn.close()


def start_redis(machine: Machine, host: Host, directory: Path, operator: str) -> str:
    """redis-server on ``host`` (port 6379, dir of its own, no snapshots); returns its redis:// URL."""
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "redis.log"
    popen = machine.start(
        host,
        ["redis-server", "--bind", host.address, "--port", "6379", "--dir", str(directory), "--save", "",
         "--appendonly", "no", "--protected-mode", "no", "--maxmemory", "128mb"],
        log,
    )  # fmt: skip
    wait_for(lambda: tcp_open(host.address, 6379, operator), "redis-server", popen=popen, log=log)
    return f"redis://{host.address}:6379"


def object_store_available() -> bool:
    """Whether moto's server and django-storages' S3 backend are installed (requirements-dev)."""
    return all(importlib.util.find_spec(name) for name in ("moto", "storages", "boto3"))


def start_object_store(machine: Machine, host: Host, directory: Path) -> str:
    """moto in server mode on ``host`` (S3 over HTTP only), with the bench bucket; returns its endpoint URL."""
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "moto.log"
    endpoint = f"http://{host.address}:{S3_PORT}"
    popen = machine.start(
        host, [str(Path(sys.executable).with_name("moto_server")), "-H", host.address, "-p", str(S3_PORT)], log,
        env={**os.environ, **S3_KEYS},
    )  # fmt: skip
    wait_for(lambda: httpx.get(endpoint + "/moto-api/", timeout=2).status_code < 500, "moto", popen=popen, log=log)
    s3_client(endpoint).create_bucket(Bucket=BUCKET)
    return endpoint


def s3_client(endpoint: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **_lower(S3_KEYS))


def _lower(keys: dict) -> dict:
    return {name.lower(): value for name, value in keys.items()}


def app_environment(topology: Topology, db: MariaDB, redis_url: str, s3_endpoint: str | None, directory: Path,
                    renderer: str) -> dict:  # fmt: skip
    """The environment every app host (and the render worker) shares: the database, the cache, the storage, one
    SECRET_KEY, nginx as the only trusted proxy. Per-host paths are added by `host_environment`."""
    lb = topology["lb"].address
    env = {
        **os.environ,
        "DATABASE_URL": db.url,
        "CACHE_URL": f"{redis_url}/0?socket_connect_timeout=1&socket_timeout=1",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": ",".join([lb, *(topology[name].address for name in ("app-a", "app-b")), "localhost"]),
        "TRUSTED_PROXIES": lb,
        "FORWARDED_ALLOW_IPS": lb,
        "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
        "WEB_CONCURRENCY": "1",
        "GUNICORN_LOG_LEVEL": "warning",
        "STATIC_ROOT": str(directory / "static"),
        "PYTHONUNBUFFERED": "1",
        "INVOICE_RENDERER": renderer,
        "CELERY_BROKER_URL": f"{redis_url}/1",
    }
    for name in ("GUNICORN_CMD_ARGS", "GUNICORN_CONTROL_SOCKET", "DJANGO_SETTINGS_MODULE", *HOST_PATHS):
        env.pop(name, None)
    if not s3_endpoint:  # the other shared layout (deploy/README.md): one directory mounted on every host (NFS)
        env["MEDIA_ROOT"] = str(directory / "shared" / "media")
        env["INVOICE_CACHE_DIR"] = str(directory / "shared" / "invoices")
    else:
        options = {"bucket_name": BUCKET, "endpoint_url": s3_endpoint, "region_name": "us-east-1",
                   "file_overwrite": False, "max_memory_size": 65536}  # fmt: skip
        env.update(S3_KEYS)
        env["STORAGE_BACKEND"] = "storages.backends.s3.S3Storage"
        env["STORAGE_OPTIONS"] = json.dumps(options)
        env["INVOICE_STORAGE"] = "default"  # the invoice cache beside the media: a PDF rendered once, served by all
    return env


def host_environment(shared: dict, host: Host, directory: Path) -> dict:
    """``shared`` plus the host's own listen address and directories on its local disk: the upload temp dir, and
    MEDIA_ROOT and INVOICE_CACHE_DIR unless they are shared (no object store)."""
    own = {name: str(directory / folder) for name, folder in HOST_PATHS.items()}
    return {**own, **shared, "GUNICORN_BIND": f"{host.address}:{APP_PORT}"}


@dataclass
class AppHost:
    """gunicorn (gunicorn.conf.py, one uvicorn worker) on an app host, in its CPU group."""

    host: Host
    env: dict
    directory: Path
    cgroup: Path | None
    cpu: int
    popen: object = None

    @property
    def url(self) -> str:
        return f"http://{self.host.address}:{APP_PORT}"

    def start(self, machine: Machine, operator: str) -> "AppHost":
        self.directory.mkdir(parents=True, exist_ok=True)
        log = self.directory / "gunicorn.log"
        command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")]
        self.popen = machine.start(self.host, command, log, env=self.env, cwd=ROOT, cgroup=self.cgroup, cpu=self.cpu)
        wait_for(lambda: httpx.get(self.url + "/health", timeout=2).status_code == 200, f"gunicorn on {self.host.name}",
                 popen=self.popen, log=log)  # fmt: skip
        return self

    def pids(self) -> list[int]:
        """The master's pid and its workers'."""
        import psutil

        master = psutil.Process(self.popen.pid)
        return [master.pid, *(child.pid for child in master.children())]

    def worker_pids(self) -> list[int]:
        return self.pids()[1:]


def start_render_worker(machine: Machine, host: Host, env: dict, directory: Path):
    """The Celery render worker on ``host``, as deploy/systemd/lebrq-render.service runs it (2 processes)."""
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "celery.log"
    command = [sys.executable, "-m", "celery", "-A", "lebrq", "worker", "--concurrency", "2", "--without-gossip",
               "--without-mingle", "--loglevel", "WARNING", "-n", f"render@{host.name}"]  # fmt: skip
    return machine.start(host, command, log, env=env, cwd=ROOT)


def renderer_available() -> bool:
    """Whether the Celery renderer exists in this checkout (INVOICE_RENDERER=celery)."""
    return importlib.util.find_spec("celery") is not None and (ROOT / "lebrq" / "celery.py").exists()


@dataclass
class Front:
    """nginx on the ``lb`` host from deploy/nginx/lebrq.conf, TLS with a certificate for the host's address."""

    host: Host
    directory: Path
    app_env: dict
    popen: object = None
    ca_file: Path | None = None
    key_file: Path | None = None

    @property
    def url(self) -> str:
        return f"https://{self.host.address}"

    @property
    def verify(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def write_site(self, upstreams: list[str]) -> Path:
        """The site file rendered as a deployment renders it: deploy/nginx/render.py run with the app hosts'
        environment (paths, upload limits, deadlines from their settings), with ``upstreams`` ("address:port") as
        the upstream servers."""
        site = self.directory / "lebrq.conf"
        env = {
            **self.app_env,
            "MEDIA_ROOT": str(self.directory / "media"),
            "INVOICE_CACHE_DIR": str(self.directory / "invoices"),
        }
        command = [
            sys.executable, str(ROOT / "deploy" / "nginx" / "render.py"), "--server-name", self.host.address,
            "--certificate", str(self.ca_file), "--certificate-key", str(self.key_file),
            *(argument for address in upstreams for argument in ("--upstream", address)),
            "--https-listen", f"{self.host.address}:443", "--http-listen", f"{self.host.address}:80",
            "--access-log", str(self.directory / "access.log"), "--error-log", str(self.directory / "site-error.log"),
            "--output", str(site),
        ]  # fmt: skip
        subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True)
        return site

    def start(self, machine: Machine, upstreams: list[str]) -> "Front":
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed (apt-get install nginx-light)")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca_file, self.key_file = self_signed_certificate(self.directory, addresses=(self.host.address,))
        site = self.write_site(upstreams)
        conf = self.directory / "nginx.conf"
        mime = Path("/etc/nginx/mime.types")
        conf.write_text(NGINX_MAIN.format(user="user root;", directory=self.directory, site=site, connections=4096,
                                          mime_types=mime if mime.exists() else site))  # fmt: skip
        check = run(
            in_namespace(self.host.namespace, [binary, "-t", "-c", str(conf), "-p", str(self.directory)]), check=False
        )
        if check.returncode:
            raise RuntimeError(f"nginx -t: {check.stderr}")
        log = self.directory / "stdout.log"
        self.popen = machine.start(self.host, [binary, "-c", str(conf), "-p", str(self.directory)], log)
        wait_for(lambda: httpx.get(self.url + "/health", verify=self.verify, timeout=2).status_code == 200, "nginx",
                 popen=self.popen, log=self.directory / "error.log")  # fmt: skip
        return self

    def use(self, upstreams: list[str]) -> None:
        """Switch the upstream servers (a reload: SIGHUP, new workers, old ones finish their requests)."""
        import signal

        self.write_site(upstreams)
        os.kill(self.popen.pid, signal.SIGHUP)
        time.sleep(1.5)


def have_tools() -> list[str]:
    """The system tools the run needs that are missing."""
    tools = ("ip", "mariadbd", "mariadb-install-db", "redis-server", "wrk")
    return [tool for tool in tools if not shutil.which(tool) and not os.access(f"/usr/sbin/{tool}", os.X_OK)]
