"""deploy/systemd: the units' memory limits are what lebrq.memory reads as the cgroup limit, the uvicorn unit
runs the seed's command line and the render unit the Celery worker with its limits."""

import configparser
import re
from pathlib import Path

import pytest

from lebrq.memory import cgroup_usage

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
GiB = 1024**3


def service(name: str) -> dict[str, str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string((UNITS / name).read_text().replace("\\\n", " "))
    return dict(parser["Service"])


def size(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([KMG]?)", value).groups()
    return int(number) * 1024 ** " KMG".index(unit or " ")


@pytest.mark.parametrize(
    ("name", "memory_max"),
    [("lebrq-gunicorn.service", 2 * GiB), ("lebrq-uvicorn.service", GiB), ("lebrq-render.service", GiB)],
)
def test_memory_accounting_and_limits(name, memory_max):
    unit = service(name)
    assert unit["MemoryAccounting"] == "yes"
    assert size(unit["MemoryMax"]) == memory_max
    # Throttling starts just above the guard's critical stage (90 % of MemoryMax), below the OOM kill.
    assert 0.9 * memory_max <= size(unit["MemoryHigh"]) < memory_max
    assert unit["EnvironmentFile"] == "/etc/lebrq/lebrq.env"
    assert unit["KillMode"] == "mixed"
    assert int(unit["TimeoutStopSec"]) > 60  # longer than gunicorn's graceful_timeout
    assert unit["NoNewPrivileges"] == "yes"
    assert unit["ProtectSystem"] == "strict"


def test_uvicorn_unit_runs_the_seeds_command():
    command = service("lebrq-uvicorn.service")["ExecStart"].split()
    assert command[1:4] == ["lebrq.asgi:application", "--host", "0.0.0.0"]
    assert " ".join(command[4:]) == (
        "--port 8002 --ssl-keyfile=/etc/lebrq/tls/privkey.pem --ssl-certfile=/etc/lebrq/tls/fullchain.pem "
        "--limit-concurrency 30 --timeout-keep-alive 5 --backlog 1024 --workers 1"
    )


def test_uvicorn_unit_selects_the_projects_protocol():
    """uvicorn reads UVICORN_HTTP: the protocol class that counts requests, not sockets (lebrq.http.protocols)."""
    assert service("lebrq-uvicorn.service")["Environment"] == (
        "UVICORN_HTTP=lebrq.http.protocols:AutoHTTPProtocol UVICORN_LOOP=lebrq.http.loops:new_event_loop"
    )
    example = (ROOT / "deploy" / "lebrq.env.example").read_text().splitlines()
    assert "UVICORN_HTTP=lebrq.http.protocols:AutoHTTPProtocol" in example
    assert "UVICORN_LOOP=lebrq.http.loops:new_event_loop" in example


def test_render_unit_runs_the_celery_worker_with_its_limits():
    command = service("lebrq-render.service")["ExecStart"].split()
    assert command[:4] == ["/srv/lebrq/app/.venv/bin/celery", "-A", "lebrq", "worker"]
    assert " ".join(command[4:]) == (
        "--concurrency 2 --max-memory-per-child 300000 --max-tasks-per-child 200 --without-gossip --without-mingle "
        "--loglevel INFO -n render@%H"
    )


def test_gunicorn_unit_uses_the_project_config():
    assert service("lebrq-gunicorn.service")["ExecStart"].endswith("gunicorn -c /srv/lebrq/app/gunicorn.conf.py")


def test_memory_max_of_the_unit_is_the_limit_lebrq_memory_reads(tmp_path):
    """Under systemd (cgroup v2) the process's cgroup is the unit's; its memory.max is MemoryMax."""
    unit_dir = tmp_path / "system.slice" / "lebrq-gunicorn.service"
    unit_dir.mkdir(parents=True)
    (unit_dir / "memory.max").write_text(f"{size(service('lebrq-gunicorn.service')['MemoryMax'])}\n")
    (unit_dir / "memory.current").write_text(f"{900 * 1024**2}\n")
    (unit_dir / "memory.stat").write_text(f"anon 1\ninactive_file {100 * 1024**2}\n")
    (tmp_path / "memory.max").write_text("max\n")
    proc_cgroup = tmp_path / "cgroup"
    proc_cgroup.write_text("0::/system.slice/lebrq-gunicorn.service\n")
    assert cgroup_usage(tmp_path, proc_cgroup, host_total=24 * GiB) == (2 * GiB, 800 * 1024**2, "cgroup-v2")
