"""gunicorn.conf.py and `lebrq.workers.UvicornWorker`, loaded by gunicorn's own configuration code: the uvicorn
`Config` each worker would serve with. (Two real workers: tests/live/test_gunicorn_live.py.)"""

import importlib
import os
import sys
from pathlib import Path

import pytest
import uvicorn_worker
from gunicorn.app.base import Application
from gunicorn.glogging import Logger

import lebrq.workers

ROOT = Path(__file__).resolve().parents[2]
VARIABLES = (
    "GUNICORN_BIND",
    "WEB_CONCURRENCY",
    "UVICORN_LIMIT_CONCURRENCY",
    "UVICORN_TIMEOUT_KEEP_ALIVE",
    "UVICORN_BACKLOG",
    "GUNICORN_MAX_REQUESTS",
    "GUNICORN_MAX_REQUESTS_JITTER",
    "GUNICORN_TIMEOUT",
    "GUNICORN_GRACEFUL_TIMEOUT",
    "GUNICORN_WORKER_TMP_DIR",
    "GUNICORN_CONTROL_SOCKET",
    "GUNICORN_LOG_LEVEL",
)


class ConfigFile(Application):
    """gunicorn's configuration, read from the project's gunicorn.conf.py as `gunicorn -c` reads it."""

    def load_config(self):
        self.load_config_from_file(str(ROOT / "gunicorn.conf.py"))

    def load(self):
        raise AssertionError("not serving")


@pytest.fixture
def boot(monkeypatch):
    """Build (gunicorn cfg, worker) with extra environment variables, as the master does before forking."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    workers = []

    def build(**variables: str):
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        module = importlib.reload(lebrq.workers)  # its limits are read from the environment at import
        cfg = ConfigFile().cfg
        worker = module.UvicornWorker(
            age=1, ppid=os.getpid(), sockets=[], app=None, timeout=cfg.timeout, cfg=cfg, log=Logger(cfg)
        )
        workers.append(worker)
        return cfg, worker

    yield build
    for worker in workers:
        worker.tmp.close()
    monkeypatch.undo()
    importlib.reload(lebrq.workers)


def test_defaults_carry_the_seeds_uvicorn_limits(boot):
    cfg, worker = boot()
    assert isinstance(worker, uvicorn_worker.UvicornWorker)
    assert cfg.worker_class_str == "lebrq.workers.UvicornWorker"
    assert cfg.wsgi_app == "lebrq.asgi:application"
    assert (cfg.bind, cfg.workers, cfg.backlog, cfg.keepalive) == (["127.0.0.1:8002"], 2, 1024, 5)
    assert (cfg.max_requests, cfg.max_requests_jitter) == (2000, 200)
    assert (cfg.timeout, cfg.graceful_timeout) == (30, 60)
    assert cfg.worker_tmp_dir == "/dev/shm"
    assert cfg.control_socket_disable is True
    config = worker.config
    assert config.limit_concurrency == 30
    assert config.timeout_keep_alive == 5  # gunicorn's own keepalive default would give 2
    assert config.backlog == 1024
    assert config.lifespan == "off"
    assert config.http == "lebrq.http.protocols:AutoHTTPProtocol"  # admission counts requests, not sockets
    assert 2000 <= config.limit_max_requests <= 2200
    assert config.limit_max_requests == worker.max_requests


def test_every_value_comes_from_the_environment(boot, tmp_path):
    cfg, worker = boot(
        GUNICORN_BIND="127.0.0.1:9001,[::1]:9001",
        WEB_CONCURRENCY="3",
        UVICORN_LIMIT_CONCURRENCY="50",
        UVICORN_TIMEOUT_KEEP_ALIVE="7",
        UVICORN_BACKLOG="2048",
        GUNICORN_MAX_REQUESTS="500",
        GUNICORN_MAX_REQUESTS_JITTER="0",
        GUNICORN_TIMEOUT="45",
        GUNICORN_GRACEFUL_TIMEOUT="120",
        GUNICORN_WORKER_TMP_DIR=str(tmp_path),
        GUNICORN_CONTROL_SOCKET=str(tmp_path / "gunicorn.ctl"),
        GUNICORN_LOG_LEVEL="warning",
    )
    assert (cfg.bind, cfg.workers, cfg.backlog, cfg.keepalive) == (["127.0.0.1:9001", "[::1]:9001"], 3, 2048, 7)
    assert (cfg.max_requests, cfg.max_requests_jitter, cfg.timeout, cfg.graceful_timeout) == (500, 0, 45, 120)
    assert (cfg.worker_tmp_dir, cfg.loglevel) == (str(tmp_path), "warning")
    assert (cfg.control_socket, cfg.control_socket_disable) == (str(tmp_path / "gunicorn.ctl"), False)
    config = worker.config
    assert (config.limit_concurrency, config.timeout_keep_alive, config.backlog) == (50, 7, 2048)
    assert config.limit_max_requests == 500


def test_max_requests_zero_means_no_recycling(boot):
    _, worker = boot(GUNICORN_MAX_REQUESTS="0")
    assert worker.config.limit_max_requests == sys.maxsize


def test_a_non_integer_limit_is_refused_by_name(boot):
    with pytest.raises(ValueError, match=r"^UVICORN_LIMIT_CONCURRENCY must be an integer, got 'thirty'$"):
        boot(UVICORN_LIMIT_CONCURRENCY="thirty")


def test_the_worker_gets_uvloop_and_httptools():
    import uvicorn
    import uvloop
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as BaseHttpToolsProtocol

    from lebrq.http.protocols import HttpToolsProtocol
    from lebrq.workers import UvicornWorker

    config = uvicorn.Config("lebrq.asgi:application", **UvicornWorker.CONFIG_KWARGS)
    loop = config.get_loop_factory()()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol  # the project's admission control on httptools
    assert issubclass(HttpToolsProtocol, BaseHttpToolsProtocol)
