"""Abuse: honest load side by side with clients that connect and do little, against the seed's uvicorn command.

    .venv/bin/python bench/abuse.py                     # 60 s
    .venv/bin/python bench/abuse.py --seconds 120 --check

Layout (a) only: one uvicorn worker started with the seed's command line (``--limit-concurrency 30
--timeout-keep-alive 5 --backlog 1024 --workers 1``) and the project's ``UVICORN_HTTP``/``UVICORN_LOOP``, on a
fresh MariaDB database (as bench/load.py), everything on loopback and removed afterwards.

Honest clients (``--clients``, 30): each its own account (``bench-N``) and its own source address
(127.0.0.(N+2)), a keep-alive connection, think time as bench/load.py; mix: its booking list (35), the venue list
(35), a 512 KiB range of the sample video (20), an image upload (10).

Attackers, side by side, all from 127.0.0.1 and reconnecting whenever the server closes on them:
300 silent sockets; 100 request heads sent a byte a second; 60 anonymous ``POST /api/uploads/video`` declaring
5,000,000 bytes and sending 10 bytes every 8 s; 10 authenticated ones of one account; 8 clients that ask for a
~5 MB booking list and never read it.

Prints per request kind: count, success rate, p50/p95/p99 and 503s; then peak DB connections, the worker's RSS
(drift: last fifth of the run against the first fifth after a tenth of warm-up), free disk of the upload temp dir
and the worker's open-but-deleted files, before and after. ``--check`` exits 1 when a target is missed: honest
success >= 99.9 % (100 % for GETs), p95 < 2 s, disk and deleted files back to their start, RSS drift <= 5 %.
"""

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from load import Recorder, mysql_connect, percentile, server_env  # noqa: E402

from tests.live.harness import free_port, start_and_wait, stop_process  # noqa: E402

SHARED_MEDIA = Path(os.environ.get("LEBRQ_SHARED_MEDIA", ROOT.parent / "shared" / "media"))
MiB = 1024 * 1024
RANGE_BYTES = 512 * 1024

#: kind -> (weight, expected status)
MIX = {"booking list": (35, 200), "venue list": (35, 200), "video range": (20, 206), "image upload": (10, 201)}
GETS = ("booking list", "venue list", "video range")
ATTACKERS = {"silent": 300, "slow head": 100, "anonymous trickle": 60, "authenticated trickle": 10, "never reads": 8}


@dataclass
class Seed:
    """The seed's uvicorn on its own MariaDB database and directories."""

    server_url: str
    directory: Path
    database: str = f"lebrq_abuse_{os.getpid()}"
    env: dict | None = None
    url: str = ""
    popen: subprocess.Popen | None = None

    def start(self, clients: int) -> "Seed":
        self.env = {
            **server_env(self.server_url, self.database, self.directory),
            "CACHE_URL": f"filecache://{self.directory / 'cache'}",  # throttle counters of this run only
            "UVICORN_HTTP": "lebrq.http.protocols:AutoHTTPProtocol",
            "UVICORN_LOOP": "lebrq.http.loops:new_event_loop",
        }
        (self.directory / "tmp").mkdir(parents=True, exist_ok=True)
        prepare = (
            "from django.core.management import call_command; from django.contrib.auth.models import User; "
            "from bookings.models import Booking; "
            "call_command('migrate', verbosity=0); call_command('seed_demo'); "
            f"[User.objects.create_user(f'bench-{{n}}', password='bench-password') for n in range({clients})]; "
            "Booking.objects.filter(customer__username='customer').update(customer_note='n' * 1_000_000)"
        )
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", prepare],
            cwd=ROOT,
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        command = [
            sys.executable, "-m", "uvicorn", "lebrq.asgi:application", "--host", "0.0.0.0", "--port", str(port),
            "--limit-concurrency", "30", "--timeout-keep-alive", "5", "--backlog", "1024", "--workers", "1",
            "--log-level", "warning",
        ]  # fmt: skip
        self.popen = start_and_wait(command, env=self.env, log=self.directory / "server.log", url=self.url)
        return self

    def stop(self) -> None:
        stop_process(self.popen)
        conn = mysql_connect(self.server_url)
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{self.database}`")
        conn.close()


def deleted_open_files(pid: int) -> int:
    """Files the process holds open that have been unlinked (``/proc/<pid>/fd`` links ending "(deleted)")."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/{pid}/fd/{fd}").endswith("(deleted)")
    return count


# --- attackers ---------------------------------------------------------------------------------------------------


async def attacker(kind: str, host: str, port: int, token: str, deadline: float, counts: dict) -> None:
    """One attacking client of ``kind``, reconnecting (after 0.2 s) whenever the server closes on it."""
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection(host, port, local_addr=("127.0.0.1", 0))
        except OSError:
            await asyncio.sleep(0.2)
            continue
        counts[kind] += 1
        try:
            await asyncio.wait_for(attack(kind, reader, writer, token, host), max(0.1, deadline - time.monotonic()))
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
        await asyncio.sleep(0.2)


async def attack(kind: str, reader, writer, token: str, host: str) -> None:
    if kind == "silent":
        await reader.read()  # until the server closes
    elif kind == "slow head":
        for byte in f"GET /api/venues HTTP/1.1\r\nHost: {host}\r\n".encode():
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(1)
        await reader.read()
    elif kind in ("anonymous trickle", "authenticated trickle"):
        auth = f"Authorization: Bearer {token}\r\n" if kind == "authenticated trickle" else ""
        head = (
            f"POST /api/uploads/video HTTP/1.1\r\nHost: {host}\r\n{auth}"
            "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 5000000\r\n\r\n"
        )
        writer.write(head.encode())
        while not reader.at_eof():
            writer.write(b"0123456789")
            await writer.drain()
            try:
                if await asyncio.wait_for(reader.read(65536), 8) == b"":
                    return
            except TimeoutError:
                pass
    elif kind == "never reads":
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        head = f"GET /api/bookings?page_size=100 HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n"
        writer.write(head.encode())
        await writer.drain()
        while not writer.is_closing():  # never reads; notices the server's close only by a failed write
            await asyncio.sleep(5)
            writer.write(b"\r\n")
            await writer.drain()


# --- honest clients ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    kind: str
    started: float
    seconds: float
    status: int
    code: str  # the error body's "code" of a 503


async def honest(
    number: int, url: str, token: str, video: str, image: bytes, begin: float, deadline: float, think: float, samples
):
    rng = random.Random(number)
    address = f"127.0.0.{number + 2}"
    transport = httpx.AsyncHTTPTransport(local_address=address)
    limits = httpx.Limits(keepalive_expiry=4.0)
    async with httpx.AsyncClient(base_url=url, transport=transport, timeout=30, limits=limits) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        kinds, weights = list(MIX), [weight for weight, _ in MIX.values()]
        await asyncio.sleep(rng.uniform(0, think))
        while time.monotonic() < deadline:
            kind = rng.choices(kinds, weights)[0]
            started, status, code = time.monotonic(), 0, ""
            try:
                if kind == "booking list":
                    response = await client.get("/api/bookings")
                elif kind == "venue list":
                    response = await client.get("/api/venues")
                elif kind == "video range":
                    first = rng.randrange(0, 2 * MiB)
                    response = await client.get(video, headers={"Range": f"bytes={first}-{first + RANGE_BYTES - 1}"})
                else:
                    response = await client.post("/api/uploads/image", files={"file": ("p.jpg", image, "image/jpeg")})
                status = response.status_code
                if status == 503:
                    code = response.json().get("code", "")
            except httpx.HTTPError as exc:
                code = type(exc).__name__
            samples.append(Sample(kind, started - begin, time.monotonic() - started, status, code))
            await asyncio.sleep(rng.expovariate(1 / think))


async def run(seed: Seed, clients: int, seconds: float, think: float) -> tuple[list[Sample], dict]:
    host, port = "127.0.0.1", int(seed.url.rsplit(":", 1)[1])
    login = {"username": "customer", "password": "lebrq-customer"}
    async with httpx.AsyncClient(base_url=seed.url, timeout=60) as client:
        token = (await client.post("/api/auth/login", json=login)).json()["access_token"]
        video = SHARED_MEDIA / "venue-tour.mp4"
        with video.open("rb") as source:
            uploaded = await client.post(
                "/api/uploads/video",
                files={"file": (video.name, source, "video/mp4")},
                headers={"Authorization": f"Bearer {token}"},
            )
        video_url = uploaded.json()["url"]
        tokens = []  # one account each, logged in before the clock starts
        for n in range(clients):  # from the client's own address, as its requests come later (login throttles)
            transport = httpx.AsyncHTTPTransport(local_address=f"127.0.0.{n + 2}")
            async with httpx.AsyncClient(base_url=client.base_url, transport=transport) as own:
                login = {"username": f"bench-{n}", "password": "bench-password"}
                answer = await own.post("/api/auth/login", json=login)
            tokens.append(answer.raise_for_status().json()["access_token"])
    image = (SHARED_MEDIA / "camera-with-gps.jpg").read_bytes()
    samples: list[Sample] = []
    counts = dict.fromkeys(ATTACKERS, 0)
    begin = time.monotonic()
    deadline = begin + seconds
    tasks = [
        attacker(kind, host, port, token, deadline, counts) for kind, number in ATTACKERS.items() for _ in range(number)
    ]
    tasks += [honest(n, seed.url, tokens[n], video_url, image, begin, deadline, think, samples) for n in range(clients)]
    await asyncio.gather(*tasks)
    return samples, counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--think", type=float, default=1.0, help="mean think time of honest clients, seconds")
    parser.add_argument("--database-url", default="mysql://root@127.0.0.1:3306")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    directory = Path(tempfile.mkdtemp(prefix="lebrq-abuse-"))
    seed = Seed(args.database_url, directory).start(args.clients)
    try:
        worker = psutil.Process(seed.popen.pid)
        temp_dir = directory / "tmp"
        disk_before, deleted_before = shutil.disk_usage(temp_dir).free, deleted_open_files(worker.pid)
        with Recorder(worker, args.database_url, seed.database) as recorder:
            samples, counts = asyncio.run(run(seed, args.clients, args.seconds, args.think))
        time.sleep(2)  # the server closes what the attackers left
        disk_after, deleted_after = shutil.disk_usage(temp_dir).free, deleted_open_files(worker.pid)
        leftovers = len(list(temp_dir.iterdir()))
        alive = seed.popen.poll() is None
    finally:
        seed.stop()
        shutil.rmtree(directory, ignore_errors=True)

    print(f"\nabuse: {args.clients} honest clients for {args.seconds:.0f} s beside attackers {ATTACKERS}")
    print(f"attacker connections made: {counts}\n")
    print(f"{'kind':<14} {'n':>6} {'success %':>10} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'503s':>5}")
    results = {}
    for kind, (_, expected) in MIX.items():
        mine = [s for s in samples if s.kind == kind]
        if not mine:
            continue
        ms = [s.seconds * 1000 for s in mine]
        success = 100 * sum(s.status == expected for s in mine) / len(mine)
        results[kind] = success
        print(
            f"{kind:<14} {len(mine):>6} {success:>10.2f} {percentile(ms, 50):>8.0f} {percentile(ms, 95):>8.0f} "
            f"{percentile(ms, 99):>8.0f} {sum(s.status == 503 for s in mine):>5}"
        )
    failures = sorted({(s.status, s.code) for s in samples if s.status != MIX[s.kind][1]})
    print("failures (status, code):", ", ".join(f"{status} {code}" for status, code in failures) or "none")
    total = 100 * sum(s.status == MIX[s.kind][1] for s in samples) / len(samples)
    p95 = percentile([s.seconds for s in samples], 95)
    warm = [value for at, value in recorder.rss if at >= args.seconds / 10]
    fifth = max(1, len(warm) // 5)
    drift = 100 * (statistics.mean(warm[-fifth:]) / statistics.mean(warm[:fifth]) - 1) if warm else 0.0
    get_success = min(results.get(kind, 100.0) for kind in GETS)
    disk_used = (disk_before - disk_after) / MiB
    peak_rss = max(value for _, value in recorder.rss) / MiB
    rows = [
        ("honest success", ">= 99.9 %", f"{total:.2f} %", total >= 99.9),
        ("GET success", "100 %", f"{get_success:.2f} %", get_success == 100.0),
        ("p95, all honest requests", "< 2 s", f"{p95:.3f} s", p95 < 2.0),
        ("free disk of the temp dir", "back to start", f"{disk_used:+.1f} MiB used, {leftovers} files",
         leftovers == 0 and disk_used < 1),
        ("open deleted files", "back to start", f"{deleted_before} -> {deleted_after}",
         deleted_after <= deleted_before),
        ("worker RSS drift", "<= 5 %", f"{drift:+.1f} % (peak {peak_rss:.0f} MiB)", drift <= 5.0),
        ("peak DB connections", "<= 4", str(recorder.peak_connections), recorder.peak_connections <= 4),
        ("worker alive", "yes", "yes" if alive else "no", alive),
    ]  # fmt: skip
    print(f"\n{'criterion':<28} {'target':<14} {'measured':<34} met")
    for name, target, measured, met in rows:
        print(f"{name:<28} {target:<14} {measured:<34} {'yes' if met else 'NO'}")
    return 1 if args.check and not all(met for *_, met in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
