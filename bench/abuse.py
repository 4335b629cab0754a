"""Abuse: honest load side by side with clients that connect and do little, against either server layout.

    .venv/bin/python bench/abuse.py                          # layout a, 45 s warm-up + 60 s
    .venv/bin/python bench/abuse.py --layout b --seconds 120 --check

Layouts (bench/abuse_servers.py): ``a``, one uvicorn worker started with the seed's command line; ``b``, nginx (the
deploy template, TLS) in front of gunicorn with 2 uvicorn workers, each replaced by gunicorn's ``max_requests``
restart about once a minute. Each on a fresh MariaDB database (as bench/load.py), everything on loopback and
removed afterwards.

Honest clients (``--clients``, 30): each its own account (``bench-N``) and its own source address
(127.0.0.(N+2)), a keep-alive connection, think time as bench/load.py; mix: its booking list (35), the venue list
(35), a 512 KiB range of the sample video (20), an image upload (10). Each client first makes one request of every
kind, then follows the mix.

Attackers, side by side from the start, all from 127.0.0.1 and reconnecting whenever the server closes on them:
300 silent sockets; 100 request heads sent a byte a second; 60 anonymous ``POST /api/uploads/video`` declaring
5,000,000 bytes and sending 10 bytes every 8 s; 10 authenticated ones of one account; 8 clients that ask for a
~5 MB booking list and never read it. In layout b all but the silent ones speak TLS to nginx.

The first ``--warmup`` seconds (45) are a warm-up: every request kind, honest and hostile, has run before the RSS
baseline is taken (caches, request threads, connection pools, libvips loaded once per process), and the clients
that never read have been through one whole cycle: each answer (~5 MB) waits in a temporary file until SEND_TIMEOUT
(30 s) disconnects them, then they ask again. Worker RSS
drift is the mean RSS of the last fifth of the measured time against that of its first fifth (layout b: the mean
over the workers alive, which restarts replace). Success rates and latencies count every honest request, warm-up
included.

Prints per request kind: count, success rate, p50/p95/p99 and 503s; then peak DB connections, worker RSS, the
bytes and files in the temp dirs where bodies are spooled (the upload temp dir; nginx's client-body and proxy temp
dirs in layout b), free disk of that filesystem (shared with everything else on the host, and honest uploads add
to the media dir: printed, not checked) and the workers' open-but-deleted files, before and after. ``--check``
exits 1 when a target is missed: honest success >= 99.9 % (100 % for GETs), p95 < 2 s, temp dirs and deleted files
back to their start, RSS drift <= 5 %.
"""

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import socket
import statistics
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

from abuse_servers import WORKERS, Fronted, Layout, Seed  # noqa: E402
from load import KEEPALIVE_EXPIRY, Recorder, percentile  # noqa: E402

SHARED_MEDIA = Path(os.environ.get("LEBRQ_SHARED_MEDIA", ROOT.parent / "shared" / "media"))
MiB = 1024 * 1024
RANGE_BYTES = 512 * 1024

#: kind -> (weight, expected status)
MIX = {"booking list": (35, 200), "venue list": (35, 200), "video range": (20, 206), "image upload": (10, 201)}
GETS = ("booking list", "venue list", "video range")
ATTACKERS = {"silent": 300, "slow head": 100, "anonymous trickle": 60, "authenticated trickle": 10, "never reads": 8}
LAYOUTS = {"a": Seed, "b": Fronted}


def deleted_open_files(pids: list[int]) -> int:
    """Files the processes hold open that have been unlinked (``/proc/<pid>/fd`` links ending "(deleted)")."""
    count = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    count += os.readlink(f"/proc/{pid}/fd/{fd}").endswith("(deleted)")
    return count


def temp_usage(directories: list[Path]) -> tuple[int, int]:
    """(bytes, files) under ``directories`` (missing ones count nothing)."""
    size = files = 0
    for directory in directories:
        for path in directory.rglob("*") if directory.exists() else ():
            with contextlib.suppress(OSError):
                if path.is_file():
                    size, files = size + path.stat().st_size, files + 1
    return size, files


class AbuseRecorder(Recorder):
    """bench/load.py's `Recorder` over the layout's workers: every second the mean RSS of the workers alive (and
    the process ids seen, so that restarts are counted); every 50 ms the database's connections."""

    def __init__(self, layout: Layout, server_url: str):
        super().__init__(None, server_url, layout.database)
        self.layout = layout
        self.pids: set[int] = set()
        self.restarts: list[int] = []  # seconds into the run at which a new worker was seen

    def sample(self) -> None:
        now = time.monotonic() - self.begin
        with self.conn.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = %s", [self.database])
            self.peak_connections = max(self.peak_connections, cursor.fetchone()[0])
        if now >= self.next_rss:
            sizes, known = [], set(self.pids)
            for worker in self.layout.workers():
                with contextlib.suppress(Exception):
                    sizes.append(worker.memory_info().rss)
                    if known and worker.pid not in known:
                        self.restarts.append(round(now))
                    self.pids.add(worker.pid)
            if sizes:
                self.rss.append((now, statistics.mean(sizes)))
            self.next_rss += 1.0


# --- attackers ---------------------------------------------------------------------------------------------------


async def attacker(kind: str, layout: Layout, token: str, deadline: float, counts: dict) -> None:
    """One attacking client of ``kind``, reconnecting (after 0.2 s) whenever the server closes on it."""
    host, port = layout.host, layout.port
    tls = {"ssl": layout.ssl} if layout.ssl and kind != "silent" else {}
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, local_addr=("127.0.0.1", 0), **tls), 15
            )
        except (OSError, TimeoutError):
            await asyncio.sleep(0.2)
            continue
        counts[kind] += 1
        try:
            await asyncio.wait_for(attack(kind, reader, writer, token, host), max(0.1, deadline - time.monotonic()))
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
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
    idle: float = 0.0  # seconds since this client's previous request ended (its keep-alive connection's idle time)


async def honest(
    number: int, layout: Layout, token: str, video: str, image: bytes, begin: float, deadline: float, think, samples
):
    """One honest client: one request of each kind (in a random order), then the mix, until ``deadline``."""
    rng = random.Random(number)
    address = f"127.0.0.{number + 2}"
    # Idle connections dropped before the server's keep-alive timeout closes them (bench/load.py): the limits go
    # to the transport, since a client given a transport ignores its own.
    limits = httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY)
    transport = httpx.AsyncHTTPTransport(local_address=address, verify=layout.verify, limits=limits)
    async with httpx.AsyncClient(base_url=layout.url, transport=transport, timeout=30) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        kinds, weights = list(MIX), [weight for weight, _ in MIX.values()]
        first = rng.sample(kinds, len(kinds))
        await asyncio.sleep(rng.uniform(0, think))
        previous_end = time.monotonic()
        while time.monotonic() < deadline:
            kind = first.pop() if first else rng.choices(kinds, weights)[0]
            started, status, code = time.monotonic(), 0, ""
            try:
                if kind == "booking list":
                    response = await client.get("/api/bookings")
                elif kind == "venue list":
                    response = await client.get("/api/venues")
                elif kind == "video range":
                    first_byte = rng.randrange(0, 2 * MiB)
                    ranged = {"Range": f"bytes={first_byte}-{first_byte + RANGE_BYTES - 1}"}
                    response = await client.get(video, headers=ranged)
                else:
                    response = await client.post("/api/uploads/image", files={"file": ("p.jpg", image, "image/jpeg")})
                status = response.status_code
                if status >= 400:
                    with contextlib.suppress(ValueError):
                        code = response.json().get("code", "")
            except httpx.HTTPError as exc:
                code = type(exc).__name__
            ended = time.monotonic()
            samples.append(Sample(kind, started - begin, ended - started, status, code, started - previous_end))
            previous_end = ended
            await asyncio.sleep(rng.expovariate(1 / think))


async def run(layout: Layout, clients: int, seconds: float, think: float) -> tuple[list[Sample], dict]:
    login = {"username": "customer", "password": "lebrq-customer"}
    async with httpx.AsyncClient(base_url=layout.url, timeout=60, verify=layout.verify) as client:
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
        transport = httpx.AsyncHTTPTransport(local_address=f"127.0.0.{n + 2}", verify=layout.verify)
        async with httpx.AsyncClient(base_url=layout.url, transport=transport, timeout=60) as own:
            answer = await own.post("/api/auth/login", json={"username": f"bench-{n}", "password": "bench-password"})
        tokens.append(answer.raise_for_status().json()["access_token"])
    image = (SHARED_MEDIA / "camera-with-gps.jpg").read_bytes()
    samples: list[Sample] = []
    counts = dict.fromkeys(ATTACKERS, 0)
    begin = time.monotonic()
    deadline = begin + seconds
    tasks = [attacker(kind, layout, token, deadline, counts) for kind, n in ATTACKERS.items() for _ in range(n)]
    tasks += [honest(n, layout, tokens[n], video_url, image, begin, deadline, think, samples) for n in range(clients)]
    await asyncio.gather(*tasks)
    return samples, counts


def file_pids(layout: Layout) -> list[int]:
    """The processes whose open-but-deleted files count: the workers, and nginx's in layout b."""
    pids = [worker.pid for worker in layout.workers()]
    front = getattr(layout, "front", None)
    if front is not None:
        pids += [process.pid for process in psutil.Process(front.nginx.popen.pid).children()]
    return pids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default="a")
    parser.add_argument("--seconds", type=float, default=60, help="measured time after the warm-up")
    parser.add_argument("--warmup", type=float, default=45, help="seconds of warm-up before the RSS baseline")
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--think", type=float, default=1.0, help="mean think time of honest clients, seconds")
    parser.add_argument("--database-url", default="mysql://root@127.0.0.1:3306")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--max-requests", type=int, default=0, help="layout b: gunicorn's max_requests (default: "
                        "a minute of the honest clients' nominal rate per worker)")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (logs) and print its path")
    args = parser.parse_args(argv)

    directory = Path(tempfile.mkdtemp(prefix="lebrq-abuse-"))
    layout = LAYOUTS[args.layout](args.database_url, directory)
    if args.max_requests:
        layout.max_requests = args.max_requests
    try:
        layout.start(args.clients, args.think)
        temp_before, deleted_before = temp_usage(layout.temp_dirs), deleted_open_files(file_pids(layout))
        disk_before, media_before = shutil.disk_usage(directory).free, temp_usage([layout.media_dir])[0]
        with AbuseRecorder(layout, args.database_url) as recorder:
            samples, counts = asyncio.run(run(layout, args.clients, args.warmup + args.seconds, args.think))
        time.sleep(3)  # the server closes what the attackers left
        temp_after, deleted_after = temp_usage(layout.temp_dirs), deleted_open_files(file_pids(layout))
        disk_after, media_after = shutil.disk_usage(directory).free, temp_usage([layout.media_dir])[0]
        alive = len(layout.workers()) == (WORKERS if args.layout == "b" else 1)
    finally:
        layout.stop()
        if args.keep:
            print(f"logs kept in {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)

    print(f"\nabuse, layout {layout.name}: {args.clients} honest clients for {args.warmup:.0f} s warm-up + "
          f"{args.seconds:.0f} s beside attackers {ATTACKERS}")  # fmt: skip
    print(f"attacker connections made: {counts}")
    if args.layout == "b":
        print(
            f"max_requests {layout.max_requests} (+ up to {layout.max_requests // 10}): {len(recorder.restarts)} "
            f"worker restarts, new workers seen at {recorder.restarts} s"
        )
    print(f"\n{'kind':<14} {'n':>6} {'success %':>10} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'503s':>5}")
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
    failed = [s for s in samples if s.status != MIX[s.kind][1]]
    failures = sorted({(s.kind, s.status, s.code) for s in failed})
    print("failures (kind, status, code):", ", ".join(" ".join(map(str, f)) for f in failures) or "none")
    if failed:
        print(
            "failed requests, first 20 (started at s / took s / after the client was idle s):",
            ", ".join(
                f"{s.started:.1f}/{s.seconds:.3f}/{s.idle:.2f}" for s in sorted(failed, key=lambda s: s.started)[:20]
            ),
        )
    total = 100 * sum(s.status == MIX[s.kind][1] for s in samples) / len(samples)
    p95 = percentile([s.seconds for s in samples], 95)
    warm = [value for at, value in recorder.rss if at >= args.warmup]
    fifth = max(1, len(warm) // 5)
    baseline = statistics.mean(warm[:fifth]) if warm else 0
    drift = 100 * (statistics.mean(warm[-fifth:]) / baseline - 1) if warm else 0.0
    get_success = min(results.get(kind, 100.0) for kind in GETS)
    start_rss = recorder.rss[0][1] / MiB
    peak_rss = max(value for _, value in recorder.rss) / MiB
    temp_grew = temp_after[0] > temp_before[0] or temp_after[1] > temp_before[1]
    media_added = (media_after - media_before) / MiB
    free_change = (disk_after - disk_before) / MiB
    connections = 4 * (WORKERS if args.layout == "b" else 1)
    rows = [
        ("honest success", ">= 99.9 %", f"{total:.2f} %", total >= 99.9),
        ("GET success", "100 %", f"{get_success:.2f} %", get_success == 100.0),
        ("p95, all honest requests", "< 2 s", f"{p95:.3f} s", p95 < 2.0),
        ("temp dirs (bytes, files)", "back to start", f"{temp_before} -> {temp_after}", not temp_grew),
        ("free disk (info)", "-", f"{free_change:+.1f} MiB; uploads stored {media_added:.1f} MiB", True),
        ("open deleted files", "back to start", f"{deleted_before} -> {deleted_after}",
         deleted_after <= deleted_before),
        ("worker RSS drift, warmed", "<= 5 %",
         f"{drift:+.1f} % ({start_rss:.0f}/{baseline / MiB:.0f}/{peak_rss:.0f} MiB start/base/peak)", drift <= 5.0),
        ("peak DB connections", f"<= {connections}", str(recorder.peak_connections),
         recorder.peak_connections <= connections),
        ("workers alive", "yes", "yes" if alive else "no", alive),
    ]  # fmt: skip
    print(f"\n{'criterion':<28} {'target':<14} {'measured':<46} met")
    for name, target, measured, met in rows:
        print(f"{name:<28} {target:<14} {measured:<46} {'yes' if met else 'NO'}")
    return 1 if args.check and not all(met for *_, met in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
