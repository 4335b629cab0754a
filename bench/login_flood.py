"""Login flood benchmark: what 40 concurrent anonymous wrong-password logins cost a real uvicorn worker (the real
PBKDF2 hasher), with the throttles at their defaults and with them out of the way.

For each mode it starts one worker on a fresh SQLite database (migrated, seeded), measures ``GET /api/venues``
alone, then again while 40 clients post wrong passwords for the demo customer from one address for
``--seconds``; it prints the logins answered per status, the worker's CPU seconds, the latency of the catalogue
(median and max, ms), and whether the customer can still log in from another address.

    .venv/bin/python bench/login_flood.py [--seconds 10] [--clients 40]
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.live.harness import free_port, start_and_wait, stop_process, uvicorn_command  # noqa: E402

WRONG = {"username": "customer", "password": "not-the-password"}
RIGHT = {"username": "customer", "password": "lebrq-customer"}
MODES = {
    "throttled (defaults)": {},
    "unthrottled": {"THROTTLE_ADDRESS_RATE": "1000000/min", "THROTTLE_ACCOUNT_ADDRESS_RATE": "1000000/min"},
}


def start(directory: Path, extra: dict):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{directory / 'db.sqlite3'}",
        "MEDIA_ROOT": str(directory / "media"),
        "FILE_UPLOAD_TEMP_DIR": str(directory / "tmp"),
        "STATIC_ROOT": str(directory / "static"),
        "CACHE_URL": f"filecache://{directory / 'cache'}",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    for args in (["migrate", "--noinput", "-v0"], ["seed_demo"]):
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    return start_and_wait(uvicorn_command("lebrq.asgi:application", port), env=env, log=directory / "log", url=url), url


async def probe(client: httpx.AsyncClient, stop: asyncio.Event, latencies: list[float]) -> None:
    while not stop.is_set():
        began = time.perf_counter()
        (await client.get("/api/venues")).raise_for_status()
        latencies.append((time.perf_counter() - began) * 1000)
        await asyncio.sleep(0.1)


async def flood(client: httpx.AsyncClient, stop: asyncio.Event, statuses: Counter) -> None:
    while not stop.is_set():
        statuses[(await client.post("/api/auth/login", json=WRONG)).status_code] += 1


async def measure(url: str, seconds: float, clients: int, process: psutil.Process) -> dict:
    async with httpx.AsyncClient(base_url=url, timeout=60) as prober:
        alone: list[float] = []
        for _ in range(30):
            began = time.perf_counter()
            (await prober.get("/api/venues")).raise_for_status()
            alone.append((time.perf_counter() - began) * 1000)
        flooders = [httpx.AsyncClient(base_url=url, timeout=60) for _ in range(clients)]
        stop, statuses, during = asyncio.Event(), Counter(), []
        cpu_before = sum(process.cpu_times()[:2])
        tasks = [asyncio.create_task(flood(c, stop, statuses)) for c in flooders]
        tasks.append(asyncio.create_task(probe(prober, stop, during)))
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*tasks)
        cpu = sum(process.cpu_times()[:2]) - cpu_before
        for c in flooders:
            await c.aclose()
        elsewhere = await prober.post("/api/auth/login", json=RIGHT, headers={"X-Forwarded-For": "198.51.100.1"})
    return {
        "statuses": dict(sorted(statuses.items())),
        "cpu": cpu,
        "alone": statistics.median(alone),
        "median": statistics.median(during),
        "max": max(during),
        "elsewhere": elsewhere.status_code,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=40)
    options = parser.parse_args()
    rows = []
    for mode, extra in MODES.items():
        with tempfile.TemporaryDirectory() as directory:
            popen, url = start(Path(directory), extra)
            try:
                rows.append(
                    (mode, asyncio.run(measure(url, options.seconds, options.clients, psutil.Process(popen.pid))))
                )
            finally:
                stop_process(popen)
    print(f"{options.clients} clients posting wrong passwords for {options.seconds:.0f} s, one uvicorn worker, PBKDF2")
    header = ("mode", "logins by status", "worker CPU s", "venues alone ms", "venues during ms (median/max)")
    print(f"{header[0]:22} {header[1]:28} {header[2]:>12} {header[3]:>16} {header[4]:>30} {'right pw elsewhere':>19}")
    for mode, r in rows:
        during = f"{r['median']:.1f} / {r['max']:.1f}"
        print(f"{mode:22} {r['statuses']!s:28} {r['cpu']:12.1f} {r['alone']:16.1f} {during:>30} {r['elsewhere']:>19}")


if __name__ == "__main__":
    main()
