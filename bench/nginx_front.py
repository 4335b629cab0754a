"""nginx on loopback in front of a bench worker, for the ``offloaded`` server of bench/files.py and layout b of
bench/abuse.py.

The site file is the repo's deploy/nginx/lebrq.conf rendered by deploy/nginx/render.py run with the worker's
environment (`tests.live.deploy_helpers.render_site`, as tests/live/test_nginx_live.py does), so the bench measures
the deployed configuration: TLS with a self-signed certificate (the config's plain-HTTP server only redirects),
uploads streamed to the worker unbuffered, and downloads the worker answers with X-Accel-Redirect served by nginx
from MEDIA_ROOT. nginx itself is started and stopped by `tests.live.deploy_helpers.Nginx` (one worker process,
foreground, all files in `directory`).
"""

import os
import shutil
import socket
import ssl
import sys
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.live.deploy_helpers import Nginx, render_site  # noqa: E402

OFFLOAD_MARK = 'offload="/_protected/media/'  # in the access log line of a download nginx served itself


def nginx_binary() -> str | None:
    """nginx's path, or None when it is not installed (Debian: ``apt-get install nginx-light``)."""
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


class NginxFront:
    """nginx in front of the worker at `upstream` ("127.0.0.1:PORT"), serving `media_root` for offloaded downloads.

    `url` is its https base URL, `ca_file` the certificate curl and httpx must trust, `worker` the psutil handle
    of its single worker process (the one that sends the bytes).
    """

    def __init__(
        self, directory: Path, upstream: str, env: dict[str, str], max_body_bytes: int, connections: int = 256
    ):
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed (apt-get install nginx-light)")
        directory.mkdir(parents=True, exist_ok=True)
        https_port = _free_port()
        render_env = {**env, "UPLOAD_MAX_VIDEO_BYTES": str(max_body_bytes)}  # client_max_body_size on uploads
        site = render_site(render_env, directory, upstream, https_port, _free_port())
        self.ca_file = directory / "cert.pem"
        self.access_log = directory / "access.log"
        self.url = f"https://127.0.0.1:{https_port}"
        self.verify = ssl.create_default_context(cafile=self.ca_file)
        self.nginx = Nginx(binary, directory, site, connections=connections)

    def start(self) -> "NginxFront":
        self.nginx.start(self.url + "/health", self.verify)
        return self

    def stop(self) -> None:
        self.nginx.stop()

    @property
    def worker(self) -> psutil.Process:
        return psutil.Process(self.nginx.popen.pid).children()[0]

    def offloaded_responses(self) -> int:
        """How many responses so far nginx sent from MEDIA_ROOT on the worker's X-Accel-Redirect."""
        if not self.access_log.exists():
            return 0
        with self.access_log.open() as log:
            return sum(OFFLOAD_MARK in line for line in log)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
