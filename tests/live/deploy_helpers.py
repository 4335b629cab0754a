"""Support for the deployment tests: a self-signed TLS certificate, a live server started by any command line
(uvicorn as the seed runs it, gunicorn), and nginx installed and run from a rendered copy of the repo's config."""

import ipaddress
import os
import shutil
import signal
import ssl
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psutil
import pytest

from .conftest import LiveServer, prepare_server
from .harness import start_and_wait

MiB = 1024 * 1024


def self_signed_certificate(directory: Path, addresses: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """A P-256 certificate for localhost, 127.0.0.1 and ``addresses`` (IP addresses), valid for a day; returns
    (certificate, key) PEM paths.

    The certificate is its own CA, so clients trust it by taking the certificate file as their CA bundle.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    *(x509.IPAddress(ipaddress.ip_address(address)) for address in ("127.0.0.1", *addresses)),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def prepared_environment(tmp_path_factory, name: str, **settings: str) -> tuple[Path, dict]:
    """A directory and environment for a live server, its database migrated and seeded (`prepare_server`), with
    no gunicorn settings inherited from the caller's environment."""
    server = prepare_server(tmp_path_factory, name, **settings)
    for variable in ("GUNICORN_CMD_ARGS", "GUNICORN_CONTROL_SOCKET", "WEB_CONCURRENCY"):
        server.env.pop(variable, None)
    return server.directory, server.env


@dataclass
class CommandServer(LiveServer):
    """A live server started by `command` (which must listen on `url`); `ca_file` is the CA bundle for https."""

    command: list = field(default_factory=list)
    ca_file: Path | None = None
    stop_timeout: float = 30

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """httpx's `verify`: a context trusting `ca_file`, or the system's CAs."""
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else True

    def start(self) -> "CommandServer":
        self.popen = start_and_wait(self.command, env=self.env, log=self.log, url=self.url, verify=self.verify)
        return self

    def stop(self) -> None:
        if self.popen and self.popen.poll() is None:
            children = self.process.children(recursive=True)
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                for child in children:
                    child.kill()
                self.popen.kill()
                self.popen.wait()
        from .conftest import drop_database

        drop_database(self.env["DATABASE_URL"])

    def token(self, username="customer", password="lebrq-customer") -> str:
        response = httpx.post(
            self.url + "/api/auth/login", json={"username": username, "password": password}, verify=self.verify
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def client(self, username="customer", password="lebrq-customer", **kwargs) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token(username, password)}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, verify=self.verify, **kwargs)


def worker_pids(server: LiveServer) -> list[int]:
    """The process ids of a gunicorn master's workers."""
    return sorted(child.pid for child in server.process.children())


def padded_video(source: Path, destination: Path, size: int) -> Path:
    """`source` (an MP4 whose last top-level box is ``mdat``, 32-bit size) followed by zeros up to `size` bytes,
    the ``mdat`` box grown to cover them: still a valid MP4 (uploads verify the box structure)."""
    position, total = 0, source.stat().st_size
    with source.open("rb") as reader:
        while True:  # walk the top-level boxes to the last one
            reader.seek(position)
            box_size, box_type = struct.unpack(">I4s", reader.read(8))
            if position + box_size >= total:
                break
            position += box_size
    assert box_type == b"mdat", box_type
    with source.open("rb") as reader, destination.open("wb") as writer:
        shutil.copyfileobj(reader, writer, MiB)
        writer.truncate(size)
        writer.seek(position)
        writer.write(struct.pack(">I", size - position))
    return destination


def nginx_binary() -> str:
    """nginx's path, installing the Debian package first when it is missing (as .ci/run does).

    Skips the test when nginx cannot be installed here, unless CI is set: then it fails.
    """
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    reason = "nginx is not installed"
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
        for package in ("nginx-light", "nginx"):
            result = subprocess.run(
                ["apt-get", "install", "-y", "-qq", package], env=env, capture_output=True, text=True, timeout=600
            )
            if result.returncode == 0 and os.access("/usr/sbin/nginx", os.X_OK):
                return "/usr/sbin/nginx"
        reason = f"nginx could not be installed: {result.stderr[-500:]}"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def render_site(env: dict, directory: Path, upstream: str, https_port: int, http_port: int) -> Path:
    """deploy/nginx/lebrq.conf rendered as a deployment does: deploy/nginx/render.py run with the app's environment
    `env` (paths, upload limits, deadlines from its settings), for nginx on loopback at `https_port` (TLS, a
    self-signed certificate made in `directory`) and `http_port`, in front of `upstream` ("127.0.0.1:PORT").
    Returns the site file, ``directory/lebrq.conf``; the certificate is ``directory/cert.pem``."""
    cert, key = self_signed_certificate(directory)
    site = directory / "lebrq.conf"
    root = Path(__file__).resolve().parents[2]
    command = [
        sys.executable, str(root / "deploy" / "nginx" / "render.py"), "--server-name", "127.0.0.1 localhost",
        "--certificate", str(cert), "--certificate-key", str(key), "--upstream", upstream,
        "--https-listen", f"127.0.0.1:{https_port}", "--http-listen", f"127.0.0.1:{http_port}",
        "--access-log", str(directory / "access.log"), "--error-log", str(directory / "site-error.log"),
        "--output", str(site),
    ]  # fmt: skip
    subprocess.run(command, env=env, cwd=root, check=True, capture_output=True)
    return site


NGINX_MAIN = """\
daemon off;
{user}
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;
events {{ worker_connections {connections}; }}
http {{
    include {mime_types};
    default_type application/octet-stream;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    include {site};
}}
"""


@dataclass
class Nginx:
    """nginx in the foreground, from `site` (a rendered deploy/nginx/lebrq.conf) inside a minimal main config."""

    binary: str
    directory: Path
    site: Path
    popen: subprocess.Popen | None = None
    connections: int = 256  # worker_connections: client and upstream connections of the one worker process

    @property
    def error_log(self) -> Path:
        return self.directory / "error.log"

    def start(self, probe_url: str, verify: str) -> "Nginx":
        mime_types = Path("/etc/nginx/mime.types")
        conf = self.directory / "nginx.conf"
        conf.write_text(
            NGINX_MAIN.format(
                # Workers of a root master would run as nobody, who cannot enter pytest's 0700 temp dirs.
                user="user root;" if os.geteuid() == 0 else "",
                directory=self.directory,
                mime_types=mime_types if mime_types.exists() else self.site,
                site=self.site,
                connections=self.connections,
            )
        )
        test = subprocess.run([self.binary, "-t", "-c", str(conf)], capture_output=True, text=True)
        assert test.returncode == 0, test.stderr
        self.popen = subprocess.Popen(
            [self.binary, "-c", str(conf), "-p", str(self.directory)],
            stdout=(self.directory / "stdout.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.error_log.read_text()}")
            try:
                httpx.get(probe_url, timeout=1, verify=verify)
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"nginx did not answer: {self.error_log.read_text()}")

    def stop(self) -> None:
        if self.popen and self.popen.poll() is None:
            children = psutil.Process(self.popen.pid).children()
            self.popen.send_signal(signal.SIGQUIT)  # graceful
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                for child in children:
                    child.kill()
                self.popen.kill()
                self.popen.wait()
