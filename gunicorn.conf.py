"""gunicorn settings for LeBRQ: ``gunicorn -c gunicorn.conf.py`` (from the project directory gunicorn also finds
this file by itself). Master process plus WEB_CONCURRENCY uvicorn workers (`lebrq.workers.UvicornWorker`, from the
uvicorn-worker package), each with the seed's uvicorn limits and its own DB pool, so the database sees at most
(DB_POOL_SIZE + DB_MAX_OVERFLOW) × WEB_CONCURRENCY connections (4 × 2 = 8 by default).

Every value can be changed through the environment (README.md, "Configuration"; deploy/lebrq.env.example):

- GUNICORN_BIND (127.0.0.1:8002): comma-separated listen addresses; nginx in front on the same host.
- WEB_CONCURRENCY (2): worker processes (gunicorn's own variable).
- UVICORN_BACKLOG (1024) → backlog: the listening socket is the master's, so its queue is set here.
- UVICORN_TIMEOUT_KEEP_ALIVE (5) → keepalive, seconds; `lebrq.workers` hands the same value to uvicorn.
- GUNICORN_MAX_REQUESTS (2000), GUNICORN_MAX_REQUESTS_JITTER (200): a worker is replaced, after finishing its
  requests, once it has served 2000 + 0..200 of them (the jitter keeps workers from restarting together). This
  bounds heap fragmentation; the new worker starts with a fresh heap and a fresh DB pool.
- GUNICORN_TIMEOUT (30): seconds without a heartbeat before the master kills a stuck worker.
- GUNICORN_GRACEFUL_TIMEOUT (60): seconds that in-flight requests, downloads included, get to finish after
  SIGTERM (stop) or SIGHUP (reload) before the worker is killed. systemd's TimeoutStopSec must be longer.
- GUNICORN_WORKER_TMP_DIR (/dev/shm): the workers' heartbeat files, in memory rather than on a disk that may stall.
- GUNICORN_CONTROL_SOCKET (unset): a `gunicornc` control socket path such as /run/lebrq/gunicorn.ctl; unset, there
  is none (gunicorn's own default is one path per user, which every instance on the host would share).
- GUNICORN_LOG_LEVEL (info): access and error logs go to stderr (the journal under systemd).
- FORWARDED_ALLOW_IPS (127.0.0.1,::1, gunicorn's own variable): proxies whose X-Forwarded-For/-Proto are trusted.
"""

import os


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


wsgi_app = "lebrq.asgi:application"
worker_class = "lebrq.workers.UvicornWorker"

bind = [address.strip() for address in os.environ.get("GUNICORN_BIND", "127.0.0.1:8002").split(",") if address]
workers = _env_int("WEB_CONCURRENCY", 2)
backlog = _env_int("UVICORN_BACKLOG", 1024)
keepalive = _env_int("UVICORN_TIMEOUT_KEEP_ALIVE", 5)

max_requests = _env_int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = _env_int("GUNICORN_MAX_REQUESTS_JITTER", 200)
timeout = _env_int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 60)
SHM = "/dev/shm"  # noqa: S108 -- a tmpfs for heartbeat files, as gunicorn's documentation recommends
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR") or (SHM if os.path.isdir(SHM) else None)

if os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip():
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"].strip()
else:
    control_socket_disable = True

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
