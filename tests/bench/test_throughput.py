"""`bench/throughput.py`: its wrk parsing (exact figures), and a short run on SQLite as a slow test (``pytest -m
slow tests/bench``; `make test` leaves it out) — the servers answer the same JSON and nothing fails. The req/s
and CPU ratios are printed, not asserted (noisy on a shared machine; `--check` is the gate)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.throughput import Run, main, parse_wrk, report  # noqa: E402

WRK_OUTPUT = """Running 15s test @ http://127.0.0.1:39867/api/bookings
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   429.67ms  290.26ms   1.97s    73.02%
    Req/Sec    66.03     55.85   252.00     69.23%
  Latency Distribution
     50%  439.70ms
     75%  634.26ms
     90%  784.57ms
     99%    1.23s{trailing}
  1793 requests in 15.05s, 7.16MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:    119.13
Transfer/sec:    487.33KB
""".format(trailing=" ")  # wrk pads this line with a space


def test_parse_wrk():
    assert parse_wrk(WRK_OUTPUT) == {
        "requests": 1793,
        "rps": 119.13,
        "p50_ms": pytest.approx(439.70),
        "p99_ms": pytest.approx(1230.0),
        "errors": 7,
    }


def test_parse_wrk_microseconds_and_no_errors():
    output = WRK_OUTPUT.replace("439.70ms", "812.00us").split("  Socket errors")[0] + "Requests/sec:    9.5\n"
    parsed = parse_wrk(output)
    assert parsed["p50_ms"] == pytest.approx(0.812)
    assert parsed["errors"] == 0
    assert parsed["rps"] == 9.5


def runs_of(**figures) -> list[Run]:
    """One SQLite run per (server, read): ``figures[f"{server}_{read}"] = (req/s, CPU ms per request)``."""
    return [
        Run("sqlite", key.split("_")[0], key.split("_")[1], 1000, rps, 10.0, 50.0, cpu, 0)
        for key, (rps, cpu) in figures.items()
    ]


def test_report_lists_every_missed_target(capsys):
    runs = runs_of(
        ours_venues=(990, 1.5),  # fewer req/s than the peer
        fastapi_venues=(1000, 1.6),
        base_venues=(400, 4.0),
        ours_bookings=(500, 2.6),  # more than half the baseline's CPU per request
        fastapi_bookings=(300, 4.0),
        base_bookings=(200, 5.0),
    )
    assert report(runs, ["sqlite"], ["ours", "fastapi", "base"]) == [
        "sqlite venues: ours 990 req/s < 1.0× fastapi 1000",
        "sqlite bookings: ours 2.60 CPU ms/req > 0.5× base 5.00",
    ]
    out = capsys.readouterr().out
    assert "| sqlite | venues | 0.99× | 1.00× | 0.94× | 0.38× |" in out
    assert "target: ours ≥ 1.0× fastapi req/s on both reads: missed" in out
    assert "target: ours ≤ 0.5× base CPU per request: missed" in out


def test_report_with_every_target_met_lists_nothing():
    runs = runs_of(
        ours_venues=(1000, 1.5),
        fastapi_venues=(1000, 1.6),
        base_venues=(400, 3.0),
        ours_bookings=(500, 2.5),
        fastapi_bookings=(300, 4.0),
        base_bookings=(200, 5.0),
    )
    assert report(runs, ["sqlite"], ["ours", "fastapi", "base"]) == []


def test_check_exits_1_when_a_target_is_missed(monkeypatch):
    missed = runs_of(
        ours_venues=(900, 1.0), fastapi_venues=(1000, 1.0), ours_bookings=(500, 1), fastapi_bookings=(400, 1)
    )
    monkeypatch.setattr("bench.throughput.bench_database", lambda kind, args, directory: missed)
    assert main(["--dbs", "sqlite", "--check"]) == 1
    assert main(["--dbs", "sqlite"]) == 0  # without --check the table is only printed
    met = runs_of(
        ours_venues=(1000, 1.0), fastapi_venues=(1000, 1.0), ours_bookings=(500, 1), fastapi_bookings=(400, 1)
    )
    monkeypatch.setattr("bench.throughput.bench_database", lambda kind, args, directory: met)
    assert main(["--dbs", "sqlite", "--check"]) == 0


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("wrk"), reason="wrk is not installed (scripts/sysdeps.sh)")
def test_short_sqlite_run_serves_the_same_json_without_errors():
    run = subprocess.run(
        [sys.executable, "bench/throughput.py", "--dbs", "sqlite", "--seconds", "3", "--rounds", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    print(run.stdout)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "differs" not in run.stdout + run.stderr
    assert "had" not in "".join(line for line in run.stdout.splitlines() if line.startswith("MISSED"))
    for server in ("ours", "fastapi"):
        for read in ("venues", "bookings"):
            assert f"| sqlite | {read} | {server} |" in run.stdout
