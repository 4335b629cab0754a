"""The gunicorn worker class for LeBRQ: uvicorn-worker's `UvicornWorker` with the seed's uvicorn limits.

`uvicorn_worker.UvicornWorker` builds uvicorn's `Config` from a few gunicorn settings only: `timeout_keep_alive`
from gunicorn's `keepalive` (default 2 s, not the seed's 5), `backlog` from gunicorn's `backlog`, and nothing for
uvicorn's `limit_concurrency`, which gunicorn has no setting for. It applies the class attribute `CONFIG_KWARGS`
last, so this subclass carries the seed's `uvicorn ... --limit-concurrency 30 --timeout-keep-alive 5
--backlog 1024` there. Each value comes from the environment variable that the uvicorn command line itself reads
(uvicorn's `UVICORN_` prefix), so one environment file configures both ways of running (deploy/README.md):

- ``UVICORN_LIMIT_CONCURRENCY`` (default 30): requests being computed at once per worker process; past it a
  request waits up to ``ADMISSION_QUEUE_TIMEOUT`` (2 s) for a slot, then gets 503 (JSON, ``Retry-After``).
  Idle connections do not count: the protocol classes of `lebrq.http.protocols` count work, not sockets
  (`lebrq.http.admission`).
- ``UVICORN_HTTP`` (default ``lebrq.http.protocols:AutoHTTPProtocol``): the HTTP protocol class.
- ``UVICORN_TIMEOUT_KEEP_ALIVE`` (default 5): seconds an idle keep-alive connection is held open.
- ``UVICORN_BACKLOG`` (default 1024): the listen(2) queue. Under gunicorn the listening socket is the master's,
  made with gunicorn's `backlog`, which gunicorn.conf.py sets from the same variable.

``loop`` and ``http`` stay "auto", as on the uvicorn command line: uvloop and httptools (requirements.txt) when
they import, else asyncio and h11.

Use it as ``worker_class = "lebrq.workers.UvicornWorker"`` (gunicorn.conf.py does).
"""

import os
import sys

from gunicorn.arbiter import Arbiter
from uvicorn_worker import UvicornWorker as BaseUvicornWorker

from lebrq.http.draining import DrainingServer


def env_int(name: str, default: int) -> int:
    """The integer in environment variable `name`, or `default` when it is unset or empty.

    Raises ValueError naming the variable when it is set to something that is not an integer.
    """
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


#: Connections plus in-flight requests per worker process before uvicorn answers 503 (the seed's 30).
LIMIT_CONCURRENCY = env_int("UVICORN_LIMIT_CONCURRENCY", 30)
#: Seconds an idle keep-alive connection stays open (the seed's 5; gunicorn's own default is 2).
TIMEOUT_KEEP_ALIVE = env_int("UVICORN_TIMEOUT_KEEP_ALIVE", 5)
#: Length of the listen(2) queue (the seed's 1024).
BACKLOG = env_int("UVICORN_BACKLOG", 1024)


class UvicornWorker(BaseUvicornWorker):
    """uvicorn in a gunicorn worker process with the seed's limits (see the module docstring).

    ``lifespan`` is off: Django's ASGI handler does not speak the lifespan protocol, and "auto" only logs that.
    """

    CONFIG_KWARGS = {
        "loop": "auto",
        # uvicorn's parsers with the project's admission control (lebrq.http.protocols); UVICORN_HTTP picks another.
        "http": os.environ.get("UVICORN_HTTP", "").strip() or "lebrq.http.protocols:AutoHTTPProtocol",
        "lifespan": "off",
        "limit_concurrency": LIMIT_CONCURRENCY,
        "timeout_keep_alive": TIMEOUT_KEEP_ALIVE,
        "backlog": BACKLOG,
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # In-flight requests get gunicorn's graceful_timeout when the worker drains (max_requests, SIGTERM,
        # SIGHUP), less a second so that they end before the master's SIGKILL; then they are cancelled.
        self.config.timeout_graceful_shutdown = max(self.cfg.graceful_timeout - 1, 1)

    async def _serve(self) -> None:
        """uvicorn-worker's `_serve` with `lebrq.http.draining.DrainingServer` (heartbeats while draining)."""
        self.config.app = self.wsgi
        server = DrainingServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
