"""The ASGI entry point runs the system checks (`lebrq.checks.run_startup_checks`): uvicorn and gunicorn refuse to
start on a bad setting, naming the check's ID, and start with a warning logged."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

from lebrq.checks import existing_ancestor

from .harness import ROOT, free_port, start_and_wait, stop_process, uvicorn_command

pytestmark = pytest.mark.live


def server_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'startup.sqlite3'}",  # /health needs no database
        "MEDIA_ROOT": str(tmp_path / "media"),
        "FILE_UPLOAD_TEMP_DIR": str(tmp_path / "tmp"),
        "INVOICE_CACHE_DIR": str(tmp_path / "invoices"),
        "STATIC_ROOT": str(tmp_path / "static"),
        "PYTHONUNBUFFERED": "1",
        **settings,
    }


def run_until_exit(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("name", "value", "check_id"),
    [
        ("FILE_UPLOAD_MAX_MEMORY_SIZE", "0", "lebrq.E001"),
        ("MEMORY_THRESHOLD_PERCENT", "95", "lebrq.E003"),
        ("INVOICE_MAX_CONCURRENT_RENDERS", "0", "lebrq.E005"),
    ],
)
def test_uvicorn_refuses_to_start_on_a_bad_setting(tmp_path, name, value, check_id):
    result = run_until_exit(
        uvicorn_command("lebrq.asgi:application", free_port()), server_env(tmp_path, **{name: value})
    )
    assert result.returncode != 0
    assert f"({check_id}) {name}" in result.stderr
    assert "Uvicorn running" not in result.stderr


def test_gunicorn_refuses_to_start_on_a_bad_setting(tmp_path):
    env = server_env(
        tmp_path,
        FILE_UPLOAD_MAX_MEMORY_SIZE="0",
        GUNICORN_BIND=f"127.0.0.1:{free_port()}",
        WEB_CONCURRENCY="1",
    )
    result = run_until_exit([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"], env)
    assert result.returncode == 3  # gunicorn's WORKER_BOOT_ERROR: the master stops instead of respawning
    assert "(lebrq.E001) FILE_UPLOAD_MAX_MEMORY_SIZE must be a positive number of bytes, got 0." in result.stderr
    assert "Reason: Worker failed to boot." in result.stderr


def test_uvicorn_starts_with_a_warning_logged(tmp_path):
    temp_dir = Path(tempfile.mkdtemp(prefix="lebrq-startup-", dir="/dev/shm"))
    try:
        if existing_ancestor(temp_dir).stat().st_dev == tmp_path.stat().st_dev:
            pytest.skip("/dev/shm is on the filesystem of the test's MEDIA_ROOT here")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = tmp_path / "server.log"
        env = server_env(tmp_path, FILE_UPLOAD_TEMP_DIR=str(temp_dir))
        popen = start_and_wait(uvicorn_command("lebrq.asgi:application", port), env=env, log=log, url=url, timeout=30)
        try:
            assert httpx.get(url + "/health").json() == {"status": "ok"}
            assert popen.poll() is None
        finally:
            stop_process(popen)
        assert f"System check: ?: (lebrq.W001) FILE_UPLOAD_TEMP_DIR ({temp_dir}) is on another filesystem" in (
            log.read_text()
        )
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)
