"""Load: concurrent clients on a realistic mix against one uvicorn worker on MariaDB, with the seed's success
criteria measured.

    .venv/bin/python bench/load.py                       # 30 clients for 60 s
    .venv/bin/python bench/load.py --minutes 10          # the full run
    .venv/bin/python bench/load.py --seconds 20 --check  # exit 1 when a target is missed

Set-up (all its own, removed afterwards): a fresh MariaDB database ``lebrq_bench_<pid>`` on ``--database-url``'s
server (default ``mysql://root@127.0.0.1:3306``), migrated and seeded with ``seed_demo``; a temp dir for
MEDIA_ROOT and the upload temp dir; one uvicorn worker (``lebrq.asgi:application``, default settings, so the
per-process pool is 2 + 2 connections; its throttle counters in a file cache of its own, ``CACHE_URL``); one
customer account per ``--per-account`` clients (``bench-0``, ``bench-1``…, made in the database with
``manage.py shell``). Through the API, the demo customer uploads the sample video (``venue-tour.mp4`` from the
shared media); each client logs in as its account from its own source address, 127.0.0.(N+2) for client N, as real
customers would, so the per-address login throttles and the per-user upload limit (``UPLOADS_PER_USER``, hence at
most 2 clients an account) count each customer apart; each account books ``--bookings`` pending bookings (of 3
hours, on the hour, a day apart from 400 days ahead, so in the future, on whole minutes and never overlapping its
own; the accounts spread over the venue's spaces).

Each client is an asyncio task with its own keep-alive connection (httpx, from its own address; idle connections
are dropped after 4 s, before the server's 5 s keep-alive timeout) and its own bearer token, refreshed through
``/api/auth/refresh`` a minute before it expires (not counted as a request of the mix). It loops until the time is
up: picks a request by weight, sends it, reads the whole answer, then waits a random think time (exponential, mean
``--think`` seconds, as a person or an app screen would). Requests and weights:

- ``booking list`` (35): ``GET /api/bookings?page=N`` (20 a page) of the account's bookings, 200;
- ``booking detail`` (35): ``GET /api/bookings/{id}`` of one of the account's bookings, 200;
- ``video range`` (15): ``GET /static/<video>`` with ``Range`` of 512 KiB at a random offset, 206;
- ``image upload`` (10): ``POST /api/uploads/image``, a 158 KiB JPEG (``camera-with-gps.jpg``), 201; each with a
  fresh ``Idempotency-Key``, sent once more with the same key after a 502 or 504 or a failed connection, as a client
  app would (a proxy never replays a POST; the key makes the retry safe: the server answers the upload already
  stored instead of storing a second one); a GET is sent once more, the same, when it got no whole answer (a
  failed connection or a cut body); either retry counts as one request, and the retries are counted;
- ``invoice`` (5): ``GET /api/bookings/{id}/invoice`` of one of the account's first ``INVOICES_PER_ACCOUNT`` (2)
  bookings, the PDF, 200 (a customer fetches the invoices of a few bookings, not of all of them).

Latency is client-side, from sending to the last byte. Anything but the expected status (or no answer) is a
failure. Every second the worker's RSS is read (psutil); every 50 ms the bench database's connections are
counted in ``information_schema.PROCESSLIST``. RSS drift compares the mean RSS of the last fifth of the run with
that of the first fifth after a warm-up (the first tenth of the run, not counted). Prints one table per request
kind and the seed's success-criteria table with the project's targets; writes ``<out>/load.csv`` (every
request) and ``<out>/load-rss.png`` (RSS and requests per second over time).
"""

import argparse
import asyncio
import csv
import math
import os
import random
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python bench/<script>.py`: the project's packages, for the shared harness
    sys.path.insert(0, str(ROOT))

from tests.live.harness import (  # noqa: E402
    PeriodicSampler,
    free_port,
    start_and_wait,
    stop_process,
    uvicorn_command,
)

SHARED_MEDIA = Path(os.environ.get("LEBRQ_SHARED_MEDIA", ROOT.parent / "shared" / "media"))
MiB = 1024 * 1024
RANGE_BYTES = 512 * 1024
KEEPALIVE_EXPIRY = 4.0  # seconds a client keeps an idle connection; uvicorn closes them after 5 (--timeout-keep-alive)
PASSWORD = "bench-password"  # of every bench-N account
INVOICES_PER_ACCOUNT = 2  # bookings of an account whose invoice its clients fetch
REFRESH_MARGIN = 60.0  # seconds before its access token expires that a client refreshes it
MAX_PER_ACCOUNT = 2  # clients sharing an account: the default UPLOADS_PER_USER, uploads at once of one user

#: kind → (weight, expected status)
MIX = {
    "booking list": (35, 200),
    "booking detail": (35, 200),
    "video range": (15, 206),
    "image upload": (10, 201),
    "invoice": (5, 200),
}
BOOKING_READS = ("booking list", "booking detail")

# Targets: the seed's success criteria, then the project's stricter ones.
SEED_AVERAGE_RSS_MB = 400
SEED_SUCCESS_PERCENT = 99.9
SEED_P95_SECONDS = 2.0
TARGET_BOOKING_P95_MS = 50
TARGET_SUCCESS_PERCENT = 100.0
TARGET_RSS_DRIFT_PERCENT = 5.0
TARGET_DB_CONNECTIONS = 4


def server_env(server_url: str, database: str, directory: Path) -> dict:
    """A fresh MariaDB database ``database`` on ``server_url`` (dropped first if it exists) and the environment of
    a benchmark server using it, with its media, temp and static directories under ``directory``."""
    conn = mysql_connect(server_url)
    with conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
        cursor.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    conn.close()
    return {
        **os.environ,
        "DATABASE_URL": urlsplit(server_url)._replace(path=f"/{database}").geturl(),
        "MEDIA_ROOT": str(directory / "media"),
        "FILE_UPLOAD_TEMP_DIR": str(directory / "tmp"),
        "STATIC_ROOT": str(directory / "static"),
        "PYTHONUNBUFFERED": "1",
    }


def mysql_connect(url: str, database: str | None = None):
    import MySQLdb

    parts = urlsplit(url)
    kwargs = {"db": database} if database else {}
    return MySQLdb.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "root",
        passwd=parts.password or "",
        **kwargs,
    )


def seed_code(accounts: int) -> str:
    """Python for ``manage.py shell -c``: migrate, ``seed_demo``, then ``accounts`` customer accounts ``bench-N``
    (password `PASSWORD`, hashed once for all)."""
    return (
        "from django.core.management import call_command; from django.contrib.auth import get_user_model; "
        "from django.contrib.auth.hashers import make_password; "
        "call_command('migrate', verbosity=0); call_command('seed_demo'); "
        f"password = make_password({PASSWORD!r}); "
        "get_user_model().objects.bulk_create(get_user_model()(username=f'bench-{n}', password=password, "
        f"email=f'bench-{{n}}@lebrq.example') for n in range({accounts}))"
    )


@dataclass
class Server:
    """One uvicorn worker on its own MariaDB database and media dirs (see the module docstring)."""

    server_url: str  # mysql://user@host:port, without a database
    directory: Path
    database: str = field(default_factory=lambda: f"lebrq_bench_{os.getpid()}")
    env: dict = field(default_factory=dict)
    url: str = ""
    popen: subprocess.Popen | None = None

    @property
    def log(self) -> Path:
        return self.directory / "server.log"

    @property
    def process(self) -> psutil.Process:
        return psutil.Process(self.popen.pid)

    def start(self, accounts: int) -> "Server":
        """Create, migrate and seed the database, add the ``accounts`` customer accounts, start the worker."""
        self.env = {
            **server_env(self.server_url, self.database, self.directory),
            "CACHE_URL": f"filecache://{self.directory / 'cache'}",  # throttle counters of this run only
        }
        prepare = seed_code(accounts)
        manage = [sys.executable, "manage.py", "shell", "-c", prepare]
        subprocess.run(manage, cwd=ROOT, env=self.env, check=True, stdout=subprocess.DEVNULL)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        command = uvicorn_command("lebrq.asgi:application", port)
        self.popen = start_and_wait(command, env=self.env, log=self.log, url=self.url)
        return self

    def stop(self) -> None:
        stop_process(self.popen)
        conn = mysql_connect(self.server_url)
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{self.database}`")
        conn.close()


@dataclass
class Customer:
    """One client's customer: its account, source address, tokens and the account's bookings."""

    username: str
    address: str  # 127.0.0.x the client connects from
    access_token: str = ""
    refresh_token: str = ""
    expires: float = 0.0  # time.time() at which the access token expires
    booking_ids: list[int] = field(default_factory=list)
    invoice_ids: list[int] = field(default_factory=list)  # bookings whose invoice the client fetches
    pages: int = 1
    verify: ssl.SSLContext | bool = True  # httpx's verify, for a server with a certificate of its own

    def transport(self) -> httpx.AsyncHTTPTransport:
        """A transport whose connections leave from the client's own address and are dropped after
        `KEEPALIVE_EXPIRY` seconds idle (a client given a transport takes its limits from it, not its own)."""
        return httpx.AsyncHTTPTransport(
            local_address=self.address, verify=self.verify, limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY)
        )

    def take(self, tokens: dict) -> None:
        """Keep the tokens of a login or refresh answer (``{access_token, expires_in (seconds), refresh_token}``)."""
        self.access_token, self.refresh_token = tokens["access_token"], tokens["refresh_token"]
        self.expires = time.time() + tokens["expires_in"]

    async def keep_fresh(self, client: httpx.AsyncClient) -> None:
        """Refresh the access token when it expires within ``REFRESH_MARGIN`` seconds; the client's header follows.

        Raises `httpx.HTTPStatusError` when the refresh is refused."""
        if time.time() >= self.expires - REFRESH_MARGIN:
            answer = await client.post("/api/auth/refresh", json={"refresh_token": self.refresh_token})
            self.take(answer.raise_for_status().json())
        client.headers["Authorization"] = f"Bearer {self.access_token}"


@dataclass
class Fixture:
    """What the clients use: one `Customer` per client, the video's URL and size, the image bytes."""

    customers: list[Customer]
    video_url: str
    video_size: int
    image: bytes


def booking_times(bookings: int) -> list[tuple[str, str]]:
    """``bookings`` (start, end) pairs in ISO 8601: 3 hours from the hour, a day apart, from 400 days ahead (far
    from the demo bookings, within BOOKING_MAX_HORIZON), so each follows the booking rules and none overlap."""
    first = (int(time.time()) // 3600 + 400 * 24) * 3600

    def iso(at: int) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:00+00:00", time.gmtime(at))

    return [(iso(first + n * 86400), iso(first + n * 86400 + 3 * 3600)) for n in range(bookings)]


async def prepare_account(url: str, customers: list[Customer], space_id: int, bookings: int) -> None:
    """Log each of an account's clients in from its own address; book ``bookings`` pending bookings of
    ``space_id`` as the first; give every client the account's booking ids, invoice ids and page count.

    Raises `httpx.HTTPStatusError` when the server refuses a login or booking."""
    for customer in customers:
        async with httpx.AsyncClient(base_url=url, transport=customer.transport(), timeout=60) as client:
            answer = await client.post("/api/auth/login", json={"username": customer.username, "password": PASSWORD})
            customer.take(answer.raise_for_status().json())
    first = customers[0]
    headers = {"Authorization": f"Bearer {first.access_token}"}
    async with httpx.AsyncClient(base_url=url, transport=first.transport(), headers=headers, timeout=60) as client:
        for begin, end in booking_times(bookings):
            booking = {"space_id": space_id, "start_datetime": begin, "end_datetime": end, "attendees": 10}
            created = await client.post("/api/bookings", json=booking)
            if created.status_code != 201:
                raise RuntimeError(f"{first.username} booking {booking}: {created.status_code} {created.text}")
        listing = (await client.get("/api/bookings", params={"page_size": 100})).raise_for_status().json()
    booking_ids = [item["id"] for item in listing["items"]]
    invoiced = [item["id"] for item in listing["items"] if item["status"] not in ("cancelled", "rejected")]
    for customer in customers:
        customer.booking_ids = booking_ids
        customer.invoice_ids = invoiced[:INVOICES_PER_ACCOUNT]
        customer.pages = math.ceil(listing["pagination"]["total"] / 20)  # at the default 20 a page


async def prepare_accounts(url: str, customers: list[Customer], per_account: int, spaces: list[int], bookings: int):
    """`prepare_account` for every account, four at a time (the worker's database connections)."""
    gate = asyncio.Semaphore(4)

    async def one(number: int) -> None:
        async with gate:
            mine = customers[number * per_account : (number + 1) * per_account]
            await prepare_account(url, mine, spaces[number % len(spaces)], bookings)

    await asyncio.gather(*(one(n) for n in range(math.ceil(len(customers) / per_account))))


def prepare(server: Server, clients: int, per_account: int, bookings: int) -> Fixture:
    """Upload the sample video as the demo customer; log ``clients`` clients in, ``per_account`` to an account,
    each from its own address, and book ``bookings`` pending bookings for each account."""
    login = {"username": "customer", "password": "lebrq-customer"}
    token = httpx.post(server.url + "/api/auth/login", json=login).raise_for_status().json()["access_token"]
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        video = SHARED_MEDIA / "venue-tour.mp4"
        with video.open("rb") as source:
            answer = client.post("/api/uploads/video", files={"file": (video.name, source, "video/mp4")})
        answer.raise_for_status()
        spaces = [space["id"] for venue in client.get("/api/venues").json() for space in venue["spaces"]]
    customers = [Customer(f"bench-{n // per_account}", f"127.0.0.{n + 2}") for n in range(clients)]
    asyncio.run(prepare_accounts(server.url, customers, per_account, spaces, bookings))
    return Fixture(
        customers=customers,
        video_url=answer.json()["url"],
        video_size=answer.json()["size"],
        image=(SHARED_MEDIA / "camera-with-gps.jpg").read_bytes(),
    )


@dataclass(frozen=True)
class Sample:
    kind: str
    started: float  # seconds since the load began
    seconds: float
    status: int  # 0: no answer
    code: str  # the error body's "code" for a 503
    retried: bool = False  # sent a second time (`request`): an upload with its Idempotency-Key, or a cut GET


#: Answers of a proxy whose upstream failed (RFC 9110 §15.6.3, §15.6.5): a POST is sent once more with its key.
RETRY_STATUSES = (502, 504)


async def upload_image(client: httpx.AsyncClient, fixture: Fixture) -> tuple[httpx.Response, bool]:
    """POST the fixture's image with a fresh ``Idempotency-Key``; after a 502/504 or a transport error (no answer),
    once more with the same key. Returns (the last answer, whether it was sent twice); a second transport error
    is raised."""
    headers = {"Idempotency-Key": str(uuid.uuid4())}

    async def send() -> httpx.Response:
        files = {"file": ("photo.jpg", fixture.image, "image/jpeg")}
        return await client.post("/api/uploads/image", files=files, headers=headers)

    try:
        response = await send()
    except httpx.TransportError:
        return await send(), True
    if response.status_code in RETRY_STATUSES:
        return await send(), True
    return response, False


async def request(
    client: httpx.AsyncClient, kind: str, fixture: Fixture, customer: Customer, rng: random.Random
) -> tuple[httpx.Response, bool]:
    """One request of ``kind``: (its answer, whether it was sent twice). An upload: `upload_image`. A read (a GET):
    sent once more, the same, when the first got no whole answer (a transport error: the connection failed or the
    body was cut, as when the app host streaming it dies — past the response head no proxy can send it elsewhere),
    as a browser's media player or an app re-requests; a second transport error is raised."""
    if kind == "image upload":
        return await upload_image(client, fixture)
    path, options = read_request(kind, fixture, customer, rng)
    try:
        return await client.get(path, **options), False
    except httpx.TransportError:
        return await client.get(path, **options), True


def read_request(kind: str, fixture: Fixture, customer: Customer, rng: random.Random) -> tuple[str, dict]:
    """(path, httpx keyword arguments) of one read of ``kind``: the same whenever it is sent."""
    if kind == "booking list":
        return "/api/bookings", {"params": {"page": rng.randint(1, customer.pages)}}
    if kind == "booking detail":
        return f"/api/bookings/{rng.choice(customer.booking_ids)}", {}
    if kind == "video range":
        first = rng.randrange(0, max(1, fixture.video_size - RANGE_BYTES))
        return fixture.video_url, {"headers": {"Range": f"bytes={first}-{first + RANGE_BYTES - 1}"}}
    return f"/api/bookings/{rng.choice(customer.invoice_ids)}/invoice", {}


async def run_clients(url: str, fixture: Fixture, seconds: float, think: float, seed: int):
    samples: list[Sample] = []
    kinds, weights = list(MIX), [weight for weight, _ in MIX.values()]
    # Made before the clock starts: building a client takes ~30 ms of blocking work (its SSL context), and 30 of
    # them made inside the loops would hold the event loop for a second, then release every client at once.
    # Idle connections are dropped after 4 s (`Customer.transport`), before uvicorn's keep-alive timeout (5 s)
    # closes them: with equal timeouts a request sent just as the server closes the connection fails (ReadError or
    # RemoteProtocolError), the race every HTTP client avoids by expiring its idle connections first.
    clients_made = [
        httpx.AsyncClient(base_url=url, transport=customer.transport(), timeout=60) for customer in fixture.customers
    ]
    begin = time.monotonic()
    deadline = begin + seconds

    async def client_loop(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        customer = fixture.customers[number]
        async with clients_made[number] as client:
            await asyncio.sleep(rng.uniform(0, think))  # clients start spread out, as they would
            while time.monotonic() < deadline:
                kind = rng.choices(kinds, weights)[0]
                await customer.keep_fresh(client)
                started = time.monotonic()
                status, code, retried = 0, "", False
                try:
                    response, retried = await request(client, kind, fixture, customer, rng)
                    status = response.status_code
                    if status == 503:
                        code = response.json().get("code", "")
                except httpx.HTTPError as exc:
                    code = type(exc).__name__
                samples.append(Sample(kind, started - begin, time.monotonic() - started, status, code, retried))
                await asyncio.sleep(rng.expovariate(1 / think) if think > 0 else 0)

    await asyncio.gather(*(client_loop(n) for n in range(len(fixture.customers))))
    return samples


class Recorder(PeriodicSampler):
    """On a thread: the worker's RSS every second; the bench database's connection count every 50 ms."""

    interval = 0.05

    def __init__(self, process: psutil.Process, server_url: str, database: str):
        self.process = process
        self.rss: list[tuple[float, int]] = []  # (seconds since start, bytes)
        self.peak_connections = 0
        self.conn = mysql_connect(server_url)
        self.database = database
        self.begin = time.monotonic()
        self.next_rss = 0.0

    def sample(self) -> None:
        now = time.monotonic() - self.begin
        with self.conn.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = %s", [self.database])
            self.peak_connections = max(self.peak_connections, cursor.fetchone()[0])
        if now >= self.next_rss:
            self.rss.append((now, self.process.memory_info().rss))
            self.next_rss += 1.0

    def __enter__(self) -> "Recorder":
        self.begin = time.monotonic()
        return super().__enter__()

    def finish(self) -> None:
        self.conn.close()


def percentile(values: list[float], percent: float) -> float:
    """Nearest-rank percentile of ``values`` (not empty)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(percent / 100 * len(ordered) + 0.5) - 1))]


@dataclass
class Summary:
    rows: list[tuple[str, int, float, float, float, float, int]]  # kind, n, p50, p95, p99 (ms), success %, 503s
    total: int
    success_percent: float
    p95_all_seconds: float
    booking_p95_ms: float
    count_503: int
    memory_503: int
    rss_average_mb: float
    rss_peak_mb: float
    rss_drift_percent: float
    peak_connections: int
    memory_errors: int
    requests_per_second: float
    worker_cpu_percent: float  # of one core, over the run
    load_average: float  # the machine's 1-minute load average at the end (other processes included)
    retried: int = 0  # requests sent a second time (`request`): 0 expected while the worker stays up


def summarise(samples: list[Sample], recorder: Recorder, seconds: float, log: str, cpu_seconds: float) -> Summary:
    rows = []
    for kind, (_, expected) in MIX.items():
        mine = [s for s in samples if s.kind == kind]
        if not mine:
            continue
        ms = [s.seconds * 1000 for s in mine]
        ok = sum(s.status == expected for s in mine)
        rows.append(
            (kind, len(mine), percentile(ms, 50), percentile(ms, 95), percentile(ms, 99), 100 * ok / len(mine),
             sum(s.status == 503 for s in mine))
        )  # fmt: skip
    ok_all = sum(s.status == MIX[s.kind][1] for s in samples)
    rss = [value for _, value in recorder.rss]
    warm = [value for at, value in recorder.rss if at >= seconds / 10]
    fifth = max(1, len(warm) // 5)
    drift = 100 * (statistics.mean(warm[-fifth:]) / statistics.mean(warm[:fifth]) - 1) if warm else 0.0
    return Summary(
        rows=rows,
        total=len(samples),
        success_percent=100 * ok_all / len(samples),
        p95_all_seconds=percentile([s.seconds for s in samples], 95),
        booking_p95_ms=percentile([s.seconds * 1000 for s in samples if s.kind in BOOKING_READS], 95),
        count_503=sum(s.status == 503 for s in samples),
        memory_503=sum(s.status == 503 and s.code == "memory_pressure" for s in samples),
        rss_average_mb=statistics.mean(rss) / MiB,
        rss_peak_mb=max(rss) / MiB,
        rss_drift_percent=drift,
        peak_connections=recorder.peak_connections,
        memory_errors=log.count("MemoryError"),
        requests_per_second=len(samples) / seconds,
        worker_cpu_percent=100 * cpu_seconds / seconds,
        load_average=os.getloadavg()[0],
        retried=sum(sample.retried for sample in samples),
    )


def criteria(summary: Summary, worker_alive: bool) -> list[tuple[str, str, str, bool]]:
    """(criterion, target, measured, met) rows: the seed's success criteria, then the project's targets."""
    s = summary
    return [
        ("MemoryError crashes", "0", f"{s.memory_errors}{'' if worker_alive else ' (worker died)'}",
         s.memory_errors == 0 and worker_alive),
        ("average memory (worker RSS)", f"< {SEED_AVERAGE_RSS_MB} MB", f"{s.rss_average_mb:.1f} MB",
         s.rss_average_mb < SEED_AVERAGE_RSS_MB),
        ("request success", f"≥ {SEED_SUCCESS_PERCENT} %", f"{s.success_percent:.3f} %",
         s.success_percent >= SEED_SUCCESS_PERCENT),
        ("p95 latency, all requests", f"< {SEED_P95_SECONDS:g} s", f"{s.p95_all_seconds * 1000:.1f} ms",
         s.p95_all_seconds < SEED_P95_SECONDS),
        ("503s due to memory (normal load)", "0", str(s.memory_503), s.memory_503 == 0),
        ("p95 latency, booking reads", f"≤ {TARGET_BOOKING_P95_MS} ms", f"{s.booking_p95_ms:.1f} ms",
         s.booking_p95_ms <= TARGET_BOOKING_P95_MS),
        ("request success (project)", f"{TARGET_SUCCESS_PERCENT:g} %", f"{s.success_percent:.3f} %",
         s.success_percent >= TARGET_SUCCESS_PERCENT),
        ("RSS drift over the run", f"≤ {TARGET_RSS_DRIFT_PERCENT:g} %", f"{s.rss_drift_percent:+.2f} %",
         abs(s.rss_drift_percent) <= TARGET_RSS_DRIFT_PERCENT),
        ("peak DB connections", f"≤ {TARGET_DB_CONNECTIONS}", str(s.peak_connections),
         s.peak_connections <= TARGET_DB_CONNECTIONS),
    ]  # fmt: skip


def print_report(summary: Summary, rows: list[tuple[str, str, str, bool]], args, clients: int) -> None:
    print(
        f"\n{clients} clients, {args.seconds:.0f} s, think time {args.think:g} s (mean): {summary.total} requests, "
        f"{summary.requests_per_second:.1f}/s, {summary.count_503} × 503, "
        f"{summary.retried} sent twice, peak RSS {summary.rss_peak_mb:.1f} MB; "
        f"worker CPU {summary.worker_cpu_percent:.0f} % of a core, machine load average {summary.load_average:.1f} "
        f"on {os.cpu_count()} CPUs\n"
    )
    print("| request | n | p50 ms | p95 ms | p99 ms | success | 503s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for kind, n, p50, p95, p99, success, count_503 in summary.rows:
        print(f"| {kind} | {n} | {p50:.1f} | {p95:.1f} | {p99:.1f} | {success:.2f} % | {count_503} |")
    print("\n| criterion | target | measured | met |")
    print("| --- | --- | --- | --- |")
    for name, target, measured, met in rows:
        print(f"| {name} | {target} | {measured} | {'yes' if met else '**no**'} |")


def write_csv(samples: list[Sample], path: Path) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["kind", "started_s", "seconds", "status", "code"])
        for s in samples:
            writer.writerow([s.kind, f"{s.started:.3f}", f"{s.seconds:.4f}", s.status, s.code])


def plot(samples: list[Sample], recorder: Recorder, summary: Summary, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    top.plot([at for at, _ in recorder.rss], [value / MiB for _, value in recorder.rss], color="tab:blue")
    top.axhline(summary.rss_average_mb, color="tab:gray", linestyle="--", label=f"average {summary.rss_average_mb:.1f}")
    top.set_ylabel("worker RSS (MiB)")
    top.legend(loc="lower right")
    top.set_title(f"LeBRQ load: {summary.total} requests, p95 booking reads {summary.booking_p95_ms:.1f} ms")
    seconds = int(max((s.started for s in samples), default=0)) + 1
    per_second = [0] * seconds
    for s in samples:
        per_second[int(s.started)] += 1
    bottom.plot(range(seconds), per_second, color="tab:green")
    bottom.set_ylabel("requests/s")
    bottom.set_xlabel("seconds")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="length of the load (default 60)")
    parser.add_argument("--minutes", type=float, default=None, help="length in minutes (overrides --seconds)")
    parser.add_argument("--clients", type=int, default=30, help="concurrent clients (default 30)")
    parser.add_argument("--think", type=float, default=1.0, help="mean think time between requests, seconds")
    parser.add_argument("--per-account", type=int, default=1, help="clients sharing a customer account (1 or 2)")
    parser.add_argument("--bookings", type=int, default=50, help="pending bookings of each account (default 50)")
    parser.add_argument("--database-url", default="mysql://root@127.0.0.1:3306", help="MariaDB server to use")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out", help="where load.csv and the PNG go")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the clients")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if args.minutes is not None:
        args.seconds = args.minutes * 60
    if not 1 <= args.per_account <= MAX_PER_ACCOUNT:
        parser.error(f"--per-account must be 1 to {MAX_PER_ACCOUNT} (uploads at once of one user, UPLOADS_PER_USER)")
    if not 1 <= args.clients <= 253:
        parser.error("--clients must be 1 to 253 (one source address each, 127.0.0.2 to 127.0.0.254)")
    args.out.mkdir(parents=True, exist_ok=True)

    directory = Path(tempfile.mkdtemp(prefix="lebrq-load-"))
    server = Server(urlsplit(args.database_url)._replace(path="").geturl(), directory)
    try:
        server.start(math.ceil(args.clients / args.per_account))
        fixture = prepare(server, args.clients, args.per_account, args.bookings)
        print(f"worker pid {server.popen.pid} on {server.url}, database {server.database}; warming up")
        asyncio.run(run_clients(server.url, fixture, 3, args.think, seed=0))  # imports, PDF fonts
        cpu_before = sum(server.process.cpu_times()[:2])
        with Recorder(server.process, server.server_url, server.database) as recorder:
            samples = asyncio.run(run_clients(server.url, fixture, args.seconds, args.think, args.seed))
        alive = server.popen.poll() is None
        cpu_seconds = sum(server.process.cpu_times()[:2]) - cpu_before if alive else 0.0
        summary = summarise(samples, recorder, args.seconds, server.log.read_text(), cpu_seconds)
    finally:
        server.stop()
    rows = criteria(summary, alive)
    print_report(summary, rows, args, args.clients)
    write_csv(samples, args.out / "load.csv")
    plot(samples, recorder, summary, args.out / "load-rss.png")
    print(f"\nwrote {args.out / 'load.csv'} and {args.out / 'load-rss.png'}")
    shutil.rmtree(directory, ignore_errors=True)
    return 1 if args.check and not all(met for *_, met in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
