"""Throughput of the two commonest reads: ours against a FastAPI peer built the way the original backend is
built (`bench/fastapi_app.py`), and optionally against another checkout of ours (e.g. an older commit).

    .venv/bin/python bench/throughput.py                          # SQLite and MariaDB, 2 rounds of 20 s each
    .venv/bin/python bench/throughput.py --dbs sqlite --seconds 10 --rounds 1
    .venv/bin/python bench/throughput.py --baseline /path/to/checkout --check

For each database (``sqlite``: a file in a temp dir; ``mysql``: a fresh database ``lebrq_tput_<pid>`` on
``--database-url``'s server, dropped afterwards), migrated and seeded with ``seed_demo`` (3 venues; the demo
customer's 5 bookings), it starts one uvicorn worker per server, each on the same server stack (``--stack``:
``fast`` = uvloop + httptools, ``plain`` = asyncio + h11):

- ``ours``: ``lebrq.asgi:application`` of this checkout, default settings;
- ``fastapi``: the peer, same database, same JSON (checked before measuring: the bench stops if the bodies
  differ), its SQLAlchemy QueuePool sized as ours (2 + 2);
- ``base`` (with ``--baseline DIR``): ``lebrq.asgi:application`` of the checkout in DIR, run with this venv, on
  ``--baseline-stack`` (default ``plain``: the stack it ran on before uvloop/httptools were dependencies). Its
  answers must be 200s but may lack keys that ours added since (commit 4421aeb's bookings have no
  ``cancellation_deadline`` nor GST totals): it then does less work per request than ours.

Then, ``--rounds`` times, servers in alternating order: for ``GET /api/venues`` (public) and ``GET
/api/bookings`` (bearer token) a 2-second wrk warm-up, then ``wrk -t2 -c50 -d<seconds>s --latency``, reading
the worker's CPU time (user + system, ``/proc`` through psutil) before and after. Prints per database and read the
median over rounds of req/s, p50 and p99 latency (ms) and CPU ms per request, then the ratios, then one line
per target: ours ≥ 1.0× the peer's req/s on both reads, ours' CPU per request ≤ 0.5× the baseline's (only with
``--baseline``). ``--check`` exits 1 when a target is missed. The client (wrk) shares the CPUs with the worker:
compare ratios within one run, not figures across machines. wrk: ``apt-get install wrk`` (scripts/sysdeps.sh).
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.load import mysql_connect  # noqa: E402
from tests.live.harness import free_port, stop_process  # noqa: E402

READS = {"venues": "/api/venues", "bookings": "/api/bookings"}
STACKS = {"fast": ["--loop", "uvloop", "--http", "httptools"], "plain": ["--loop", "asyncio", "--http", "h11"]}
SECRET_KEY = "throughput-bench-secret-key-not-for-production-0123456789"
TARGET_REQS_RATIO = 1.0
TARGET_CPU_RATIO = 0.5


@dataclass
class Run:
    db: str
    server: str
    read: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float
    errors: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> dict:
    """Requests, req/s, p50/p99 (ms) and errors (non-2xx plus socket errors) from ``wrk --latency`` output."""
    percentiles = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)\s*$", output, re.M))
    if len(percentiles) != 2:
        raise RuntimeError(f"no latency distribution in wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": _ms(percentiles["50"]),
        "p99_ms": _ms(percentiles["99"]),
        "errors": (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, socket.groups())) if socket else 0),
    }


def wrk(url: str, seconds: float, connections: int, headers: dict) -> str:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--latency", url]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


class Database:
    """A seeded database for one run: its Django ``DATABASE_URL`` and the peer's SQLAlchemy URL."""

    def __init__(self, kind: str, directory: Path, server_url: str):
        self.kind, self.server_url = kind, server_url
        if kind == "sqlite":
            path = directory / "bench.sqlite3"
            self.django_url, self.peer_url = f"sqlite:///{path}", f"sqlite+aiosqlite:///{path}"
        else:
            self.name = f"lebrq_tput_{os.getpid()}"
            conn = mysql_connect(server_url)
            with conn.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{self.name}`")
                cursor.execute(f"CREATE DATABASE `{self.name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            conn.close()
            parts = urlsplit(server_url)
            self.django_url = parts._replace(path=f"/{self.name}").geturl()
            self.peer_url = parts._replace(scheme="mysql+asyncmy", path=f"/{self.name}").geturl() + "?charset=utf8mb4"

    def drop(self) -> None:
        if self.kind == "mysql":
            conn = mysql_connect(self.server_url)
            with conn.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{self.name}`")
            conn.close()


class Server:
    def __init__(self, name: str, app: str, cwd: Path, stack: str, env: dict, directory: Path):
        self.name, self.app, self.cwd, self.stack, self.env = name, app, cwd, stack, env
        self.log = directory / f"{name}.log"
        self.popen = None
        self.url = ""

    def start(self) -> "Server":
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "uvicorn", self.app, "--host", "127.0.0.1", "--port", str(port)]
        command += [*STACKS[self.stack], "--timeout-keep-alive", "5", "--log-level", "warning", "--no-access-log"]
        env = {**self.env, "PYTHONPATH": str(self.cwd)}
        self.popen = subprocess.Popen(
            command, cwd=self.cwd, env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()}")
            try:
                httpx.get(self.url + "/api/venues", timeout=2)
                return self
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer: {self.log.read_text()}")

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.popen.pid).cpu_times()
        return times.user + times.system

    def stop(self) -> None:
        stop_process(self.popen)


def prepare(db: Database, env: dict) -> None:
    script = (
        "from django.core.management import call_command; "
        "call_command('migrate', verbosity=0); call_command('seed_demo')"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )


def measure(server: Server, read: str, seconds: float, connections: int, headers: dict, db: str) -> Run:
    url = server.url + READS[read]
    wrk(url, 2, connections, headers)  # warm-up: threads, connections, caches
    before = server.cpu_seconds()
    result = parse_wrk(wrk(url, seconds, connections, headers))
    cpu = server.cpu_seconds() - before
    return Run(db, server.name, read, cpu_ms=cpu * 1000 / max(result["requests"], 1), **result)


def bench_database(kind: str, args, directory: Path) -> list[Run]:
    db = Database(kind, directory, args.database_url)
    base_env = {
        **os.environ,
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": db.django_url,
        "MEDIA_ROOT": str(directory / "media"),
        "FILE_UPLOAD_TEMP_DIR": str(directory / "tmp"),
        "STATIC_ROOT": str(directory / "static"),
        "PYTHONUNBUFFERED": "1",
    }
    servers: list[Server] = []
    try:
        prepare(db, base_env)
        servers.append(Server("ours", "lebrq.asgi:application", ROOT, args.stack, base_env, directory))
        peer_env = {**base_env, "PEER_DATABASE_URL": db.peer_url}
        servers.append(Server("fastapi", "bench.fastapi_app:app", ROOT, args.stack, peer_env, directory))
        if args.baseline:
            baseline = Path(args.baseline).resolve()
            servers.append(Server("base", "lebrq.asgi:application", baseline, args.baseline_stack, base_env, directory))
        for server in servers:
            server.start()
        login = {"username": "customer", "password": "lebrq-customer"}
        token = httpx.post(servers[0].url + "/api/auth/login", json=login).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        for read in READS:
            answers = {s.name: httpx.get(s.url + READS[read], headers=auth) for s in servers}
            if any(answer.status_code != 200 for answer in answers.values()):
                raise SystemExit(f"{kind} {READS[read]}: not every server answers 200: {answers}")
            ours, peer = answers["ours"].json(), answers["fastapi"].json()
            if peer != ours:  # the baseline, an older version of ours, may lack keys added since
                where = first_difference(ours, peer)
                raise SystemExit(f"{kind} {READS[read]}: the peer's body differs from ours at {where}")
        runs = []
        for round_number in range(args.rounds):
            order = servers if round_number % 2 == 0 else servers[::-1]
            for read in READS:
                for server in order:
                    headers = auth if read == "bookings" else {}
                    run = measure(server, read, args.seconds, args.connections, headers, kind)
                    print(
                        f"  {kind} {read:8} {server.name:7} {run.rps:8.0f} req/s  p50 {run.p50_ms:6.1f} ms  "
                        f"p99 {run.p99_ms:6.1f} ms  {run.cpu_ms:5.2f} CPU ms/req  errors {run.errors}",
                        flush=True,
                    )
                    runs.append(run)
        return runs
    finally:
        for server in servers:
            server.stop()
        db.drop()


def first_difference(ours, theirs, path: str = "") -> str:
    """Where two JSON values first differ: a path like ``items[0].cancellation_deadline`` and both values."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for key in [*ours, *(key for key in theirs if key not in ours)]:
            if ours.get(key, "<missing>") != theirs.get(key, "<missing>"):
                return first_difference(ours.get(key, "<missing>"), theirs.get(key, "<missing>"), f"{path}.{key}")
    elif isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        for index, (mine, other) in enumerate(zip(ours, theirs, strict=True)):
            if mine != other:
                return first_difference(mine, other, f"{path}[{index}]")
    return f"{path.lstrip('.') or '(top)'}: ours {json.dumps(ours)[:200]}, theirs {json.dumps(theirs)[:200]}"


def median_of(runs: list[Run], db: str, server: str, read: str) -> Run | None:
    chosen = [r for r in runs if (r.db, r.server, r.read) == (db, server, read)]
    if not chosen:
        return None
    return Run(
        db,
        server,
        read,
        sum(r.requests for r in chosen),
        statistics.median(r.rps for r in chosen),
        statistics.median(r.p50_ms for r in chosen),
        statistics.median(r.p99_ms for r in chosen),
        statistics.median(r.cpu_ms for r in chosen),
        sum(r.errors for r in chosen),
    )


def report(runs: list[Run], dbs: list[str], servers: list[str]) -> list[str]:
    """Print the table and the ratios; return the missed targets."""
    print("\n| db | read | server | req/s | p50 ms | p99 ms | CPU ms/req | errors |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for db in dbs:
        for read in READS:
            for server in servers:
                r = median_of(runs, db, server, read)
                if r:
                    print(
                        f"| {db} | {read} | {server} | {r.rps:.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | "
                        f"{r.cpu_ms:.2f} | {r.errors} |"
                    )
    print("\n| db | read | req/s ours/fastapi | p99 ours/fastapi | CPU ours/fastapi | CPU ours/base |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    missed = []
    for db in dbs:
        for read in READS:
            ours, peer, base = (median_of(runs, db, s, read) for s in ("ours", "fastapi", "base"))
            cpu_base = f"{ours.cpu_ms / base.cpu_ms:.2f}×" if base else "–"
            print(
                f"| {db} | {read} | {ours.rps / peer.rps:.2f}× | {ours.p99_ms / peer.p99_ms:.2f}× | "
                f"{ours.cpu_ms / peer.cpu_ms:.2f}× | {cpu_base} |"
            )
            if ours.rps < TARGET_REQS_RATIO * peer.rps:
                missed.append(f"{db} {read}: ours {ours.rps:.0f} req/s < {TARGET_REQS_RATIO}× fastapi {peer.rps:.0f}")
            if base and ours.cpu_ms > TARGET_CPU_RATIO * base.cpu_ms:
                missed.append(
                    f"{db} {read}: ours {ours.cpu_ms:.2f} CPU ms/req > {TARGET_CPU_RATIO}× base {base.cpu_ms:.2f}"
                )
            if ours.errors:
                missed.append(f"{db} {read}: ours had {ours.errors} errors")
    print()
    reqs_missed = any(" req/s < " in line for line in missed)
    print(f"target: ours ≥ {TARGET_REQS_RATIO}× fastapi req/s on both reads: {'missed' if reqs_missed else 'met'}")
    if any(run.server == "base" for run in runs):
        cpu_missed = any(" CPU ms/req > " in line for line in missed)
        print(f"target: ours ≤ {TARGET_CPU_RATIO}× base CPU per request: {'missed' if cpu_missed else 'met'}")
    return missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dbs", default="sqlite,mysql", help="comma-separated: sqlite, mysql")
    parser.add_argument("--database-url", default="mysql://root@127.0.0.1:3306", help="MariaDB server (no db)")
    parser.add_argument("--seconds", type=float, default=20, help="wrk duration per measurement")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections")
    parser.add_argument("--rounds", type=int, default=2, help="alternated rounds (medians are reported)")
    parser.add_argument("--stack", choices=sorted(STACKS), default="fast", help="server stack of ours and the peer")
    parser.add_argument("--baseline", help="a checkout of ours to compare with (e.g. a git worktree of main)")
    parser.add_argument("--baseline-stack", choices=sorted(STACKS), default="plain")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install wrk (scripts/sysdeps.sh installs it)")
    dbs = [db.strip() for db in args.dbs.split(",") if db.strip()]
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="lebrq-tput-") as tmp:
        for db in dbs:
            directory = Path(tmp) / db
            directory.mkdir()
            runs += bench_database(db, args, directory)
    servers = ["ours", "fastapi"] + (["base"] if args.baseline else [])
    missed = report(runs, dbs, servers)
    for line in missed:
        print("MISSED:", line)
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
