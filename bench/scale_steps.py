"""The four steps of bench/scale.py — consistency, failover, scaling, memory — each returning its `Check`s, and
what they share: logins from a client address, the RSS recorder, the report table."""

import asyncio
import hashlib
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from bench import load
from bench.scale_checks import (
    TARGET_GET_SUCCESS_PERCENT,
    TARGET_RSS_MB,
    TARGET_SCALING,
    TARGET_SUCCESS_PERCENT,
    Check,
    gapless,
    reconcile,
    result,
    scaling_ratio,
    skipped,
    success_percent,
)
from bench.scale_hosts import in_namespace, needed_routes
from bench.scale_services import BUCKET, s3_client
from bench.throughput import parse_wrk, wrk
from tests.live.harness import PeriodicSampler

SHARED_MEDIA = load.SHARED_MEDIA
MiB = 1024 * 1024
INVOICE_DEADLINE = 180.0  # seconds the 40 concurrent issues get, 503 retries included
CUSTOMER = ("customer", "lebrq-customer")  # the demo customer (seed_demo), owner of BK-00000DE001…005
routes = needed_routes


def isolation(host) -> list[str]:
    """Problems if ``host`` reaches the machine's own services on 127.0.0.1 (MariaDB 3306, Redis 6379): inside a
    namespace its loopback is its own, so nothing should answer there."""
    problems = []
    for port in (3306, 6379):
        probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), 1)"
        answer = subprocess.run(in_namespace(host.namespace, [sys.executable, "-c", probe]), capture_output=True)
        if answer.returncode == 0:
            problems.append(f"{host.name} reaches the machine's 127.0.0.1:{port}")
    return problems


def client(url: str, source: str, token: str | None = None, verify=True) -> httpx.Client:
    """An HTTP client whose connections leave from ``source`` (one of the bridge's addresses)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.HTTPTransport(local_address=source, verify=verify)
    return httpx.Client(base_url=url, headers=headers, transport=transport, timeout=120)


def login(url: str, source: str, username: str, password: str, verify=True) -> str:
    with client(url, source, verify=verify) as http:
        answer = http.post("/api/auth/login", json={"username": username, "password": password})
        return answer.raise_for_status().json()["access_token"]


def get_until_ready(http: httpx.Client, path: str, deadline: float, **kwargs) -> httpx.Response:
    """GET ``path``, again after Retry-After while the answer is 503 (render slots busy) and time remains."""
    while True:
        answer = http.get(path, **kwargs)
        if answer.status_code != 503 or time.monotonic() > deadline:
            return answer
        time.sleep(float(answer.headers.get("Retry-After", "1")))


def consistency(topology, apps, front, db, s3, issues: int) -> list[Check]:
    """Step 1: an upload through A read through B, an invoice rendered once served by both, ``issues`` tax
    invoices issued at once through both hosts (gapless numbers)."""
    a, b = apps["app-a"], apps["app-b"]
    source = topology.operator
    token = login(a.url, source, *CUSTOMER)
    checks = []
    step = "consistency"
    if s3 is None:
        checks.append(skipped(step, "upload through A, ranges through B", "same bytes, same ETag"))
        checks.append(skipped(step, "invoice rendered once, served by A and B", "same PDF, one render"))
    else:
        checks.append(upload_read_elsewhere(a, b, source, token, db))
        checks.append(invoice_served_by_both(a, b, source, token, db))
    checks.append(concurrent_issues(topology, a, b, db, issues))
    for check in checks:
        print(f"  {check.step}: {check.name}: {check.measured} ({result(check)})")
    return checks


def upload_read_elsewhere(a, b, source: str, token: str, db) -> Check:
    name, target = "upload through A, ranges through B", "206 bytes = stored bytes, same ETag, nosniff"
    video = SHARED_MEDIA / "venue-tour.mp4"
    with client(a.url, source, token) as http_a, video.open("rb") as body:
        answer = http_a.post("/api/uploads/video", files={"file": (video.name, body, "video/mp4")})
    if answer.status_code != 201:
        return Check("consistency", name, target, f"upload answered {answer.status_code}", False)
    info = answer.json()
    with client(b.url, source, token) as http_b:
        whole = http_b.get(info["url"])
        single = http_b.get(info["url"], headers={"Range": "bytes=1000-2999"})
        suffix = http_b.get(info["url"], headers={"Range": "bytes=-1000"})
        double = http_b.get(info["url"], headers={"Range": "bytes=0-99,5000-5099"})
    (sha,) = db.query("SELECT sha256 FROM uploads_upload WHERE id = %s", [info["id"]])[0]
    body = whole.content
    problems = []
    if whole.status_code != 200 or hashlib.sha256(body).hexdigest() != sha:
        problems.append(f"whole file {whole.status_code}, SHA-256 differs from the row's")
    if (single.status_code, single.content) != (206, body[1000:3000]):
        problems.append(f"range {single.status_code}")
    if (suffix.status_code, suffix.content) != (206, body[-1000:]):
        problems.append(f"suffix range {suffix.status_code}")
    parts_found = body[:100] in double.content and body[5000:5100] in double.content
    if (
        double.status_code != 206
        or "multipart/byteranges" not in double.headers.get("content-type", "")
        or not (parts_found)
    ):
        problems.append(f"two ranges {double.status_code} {double.headers.get('content-type')}")
    if single.headers.get("etag") != whole.headers.get("etag") or not whole.headers.get("etag"):
        problems.append("ETags differ")
    if single.headers.get("x-content-type-options") != "nosniff":
        problems.append("no nosniff")
    measured = "; ".join(problems) or f"{len(body):,} bytes, 1, suffix and 2 ranges equal through B"
    return Check("consistency", name, target, measured, not problems)


def invoice_served_by_both(a, b, source: str, token: str, db) -> Check:
    name, target = "invoice rendered once, served by A and B", "same PDF bytes and ETag"
    ((booking_id,),) = db.query("SELECT id FROM bookings_booking WHERE booking_reference = 'BK-00000DE003'")
    deadline = time.monotonic() + 60
    with client(a.url, source, token) as http_a, client(b.url, source, token) as http_b:
        first = get_until_ready(http_a, f"/api/bookings/{booking_id}/invoice", deadline)
        second = get_until_ready(http_b, f"/api/bookings/{booking_id}/invoice", deadline)
    same = first.content == second.content and first.headers.get("etag") == second.headers.get("etag")
    met = first.status_code == second.status_code == 200 and same
    measured = f"A {first.status_code}, B {second.status_code}, " + ("same PDF" if same else "different PDFs")
    return Check("consistency", name, target, f"{measured} ({len(first.content):,} bytes)", met)


def concurrent_issues(topology, a, b, db, issues: int) -> Check:
    """``issues`` customers (bench-0…) each fetch the invoice of their paid booking of the past at once, through
    A and B alternately (retrying 503s); then every tax invoice number of the database must be gapless."""
    name, target = f"{issues} concurrent tax-invoice issues over A and B", "distinct numbers, no gap"
    bookings = dict(db.query("SELECT u.username, b.id FROM bookings_booking b JOIN auth_user u ON u.id = "
                             "b.customer_id WHERE b.event_type = 'scale-check'"))  # fmt: skip
    hosts = [a if n % 2 == 0 else b for n in range(issues)]
    tokens = [login(hosts[n].url, topology.clients[n], f"bench-{n}", load.PASSWORD) for n in range(issues)]

    def fetch(n: int) -> int:
        with client(hosts[n].url, topology.clients[n], tokens[n]) as http:
            deadline = time.monotonic() + INVOICE_DEADLINE
            return get_until_ready(http, f"/api/bookings/{bookings[f'bench-{n}']}/invoice", deadline).status_code

    async def all_at_once() -> list[int]:
        return await asyncio.gather(*(asyncio.to_thread(fetch, n) for n in range(issues)))

    began = time.monotonic()
    statuses = asyncio.run(all_at_once())
    numbers = [row[0] for row in db.query("SELECT invoice_number FROM bookings_booking WHERE invoice_number <> ''")]
    ours = [row[0] for row in db.query("SELECT invoice_number FROM bookings_booking WHERE event_type = 'scale-check'")]
    ok, detail = gapless(numbers)
    met = ok and statuses.count(200) == issues and all(ours) and len(set(ours)) == issues
    measured = f"{statuses.count(200)}/{issues} PDFs in {time.monotonic() - began:.1f} s, {detail}"
    return Check("consistency", name, target, measured, met)


def load_fixture(topology, front, clients: int, bookings: int) -> load.Fixture:
    """bench/load.py's fixture through nginx: the demo customer's video; ``clients`` clients, one account each
    (bench-N), each logged in from its own address, each account with ``bookings`` pending bookings."""
    verify = front.verify
    token = login(front.url, topology.operator, *CUSTOMER, verify=verify)
    with client(front.url, topology.operator, token, verify) as http:
        video = SHARED_MEDIA / "venue-tour.mp4"
        with video.open("rb") as body:
            answer = http.post("/api/uploads/video", files={"file": (video.name, body, "video/mp4")}).raise_for_status()
        spaces = [space["id"] for venue in http.get("/api/venues").json() for space in venue["spaces"]]
    customers = [load.Customer(f"bench-{n}", topology.clients[n], verify=verify) for n in range(clients)]
    asyncio.run(load.prepare_accounts(front.url, customers, 1, spaces, bookings))
    return load.Fixture(customers, answer.json()["url"], answer.json()["size"],
                        (SHARED_MEDIA / "camera-with-gps.jpg").read_bytes())  # fmt: skip


def failover(topology, apps, front, db, s3, fixture, seconds: float) -> list[Check]:
    """Step 2: the load through nginx; half-way, SIGKILL to A's gunicorn master and worker at once."""
    a, b = apps["app-a"], apps["app-b"]
    asyncio.run(load.run_clients(front.url, fixture, 3, 1.0, seed=0))  # warm-up: imports, PDF fonts
    (last_id,) = db.query("SELECT COALESCE(MAX(id), 0) FROM uploads_upload")[0]
    killed = {}

    async def run_and_kill():
        clients = asyncio.create_task(load.run_clients(front.url, fixture, seconds, 1.0, seed=1))
        await asyncio.sleep(seconds / 2)
        pids = a.pids()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        killed.update(pids=pids, at=seconds / 2)
        return await clients

    samples = asyncio.run(run_and_kill())
    a.popen.wait(10)
    statuses = [("POST" if s.kind == "image upload" else "GET", s.status, load.MIX[s.kind][1]) for s in samples]
    overall, gets, failed_posts = success_percent(statuses)
    retried_gets = sum(s.retried and s.kind != "image upload" for s in samples)
    near = [s for s in samples if s.status != load.MIX[s.kind][1]]
    print(f"  failover: {len(samples)} requests, SIGKILL to pids {killed['pids']} at {killed['at']:.0f} s; "
          f"failures: {[(s.kind, s.status or s.code, round(s.started, 1)) for s in near][:10]}")  # fmt: skip
    checks = [
        Check("failover", "success", f"≥ {TARGET_SUCCESS_PERCENT} %", f"{overall:.2f} % of {len(samples)}",
              overall >= TARGET_SUCCESS_PERCENT, short=f"{overall:.2f} %"),
        Check("failover", "GET success", f"{TARGET_GET_SUCCESS_PERCENT:g} %",
              f"{gets:.2f} % of {sum(row[0] == 'GET' for row in statuses)} ({retried_gets} sent twice: cut)",
              gets >= TARGET_GET_SUCCESS_PERCENT, short=f"GETs {gets:.2f} %"),
    ]  # fmt: skip
    answered = sum(s.kind == "image upload" and s.status == 201 for s in samples)
    columns = "id, name, size, sha256, idempotency_key"
    rows = db.query(f"SELECT {columns} FROM uploads_upload WHERE id > %s AND kind = 'image'", [last_id])
    retried = [s for s in samples if s.retried and s.kind == "image upload"]
    print(f"  failover: {retried_gets} GETs sent twice after a cut connection; {len(retried)} uploads sent twice "
          f"with their Idempotency-Key, {sum(s.status == 201 for s in retried)} of them then answered 201")  # fmt: skip
    name = "uploads: 201 and readable from B, or nothing stored"
    target = "rows = 201s, one per key, no orphan, none unfinished"
    # What the operator runs after a host was killed (deploy/README.md, "Shared storage"): the SIGKILL may land
    # between an object's upload and its row; nothing may be left after it.
    print(f"  failover: cleanup_storage on B after the kill: {cleanup_after_kill(topology['app-b'], b.env)}")
    problems = upload_problems(b, topology.operator, db, s3, Path(b.env["MEDIA_ROOT"]), rows, answered, fixture)
    measured = "; ".join(problems[:5]) or (
        f"{answered} answered 201 = {len(rows)} rows, one per key, each read through B; {len(retried)} retried"
    )
    store = "S3" if s3 else "shared directory"
    short = f"uploads {'consistent' if not problems else 'INCONSISTENT'} ({failed_posts} POSTs failed)"
    checks.append(Check("failover", name, target, f"{measured} ({failed_posts} POSTs failed; {store})", not problems,
                        short=short))  # fmt: skip
    for check in checks:
        print(f"  failover: {check.name}: {check.measured} ({result(check)})")
    return checks


def cleanup_after_kill(host, env: dict) -> str:
    """``manage.py cleanup_storage --older-than 0`` on ``host`` (the load is over: nothing is being uploaded);
    returns its last line ("N multipart uploads, M objects without a row", or that the storage is local)."""
    command = in_namespace(host.namespace, [sys.executable, "manage.py", "cleanup_storage", "--older-than", "0"])
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(command, cwd=root, env=env, check=True, capture_output=True, text=True, timeout=300)
    return done.stdout.strip().splitlines()[-1]


def upload_problems(b, source: str, db, s3, media_root: Path, rows, answered: int, fixture) -> list[str]:
    """What is wrong with the uploads after the failover: rows ≠ 201 answers, a row without an idempotency key or
    two rows of one key (a retried POST stored twice), a row unreadable through B or of another SHA-256, objects and
    rows that do not match, unfinished multipart uploads."""
    problems = [] if len(rows) == answered else [f"{answered} uploads answered 201 but {len(rows)} rows"]
    keys = [row[4] for row in rows]
    if None in keys or len(set(keys)) != len(keys):
        problems.append(f"{len(rows)} rows but {len(set(keys) - {None})} distinct idempotency keys")
    token = fixture.customers[0].access_token
    with client(b.url, source, token) as http:
        for _, name, _, sha, _ in rows:
            answer = http.get(f"/static/{name}")
            if answer.status_code != 200 or hashlib.sha256(answer.content).hexdigest() != sha:
                problems.append(f"{name}: {answer.status_code} through B")
    media, unfinished = stored_media(s3, media_root)
    return problems + reconcile(dict(db.query("SELECT name, size FROM uploads_upload")), media, unfinished)


def stored_media(s3: str | None, media_root: Path) -> tuple[dict[str, int], int]:
    """(name → size in bytes of every stored upload, unfinished multipart uploads): the bucket's objects but the
    invoice cache's when there is an object store, else the files below the shared ``media_root``."""
    if s3 is None:
        files = (path for path in media_root.rglob("*") if path.is_file())
        return {str(path.relative_to(media_root)): path.stat().st_size for path in files}, 0
    store = s3_client(s3)
    objects = {}
    for page in store.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        objects.update({item["Key"]: item["Size"] for item in page.get("Contents", [])})
    unfinished = len(store.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []))
    return {key: size for key, size in objects.items() if not key.startswith("invoices/")}, unfinished


def scaling(front, apps, fixture, rounds: int, seconds: float) -> list[Check]:
    """Step 3: booking reads/s through nginx (wrk, 30 connections) with A alone and with A and B, alternated."""
    token = fixture.customers[0].access_token
    url = front.url + "/api/bookings"
    rates = {1: [], 2: []}
    connections = 30  # the limit of one worker (UVICORN_LIMIT_CONCURRENCY): more would be 503s, not reads
    upstreams = {1: [apps["app-a"].url[7:]], 2: [app.url[7:] for app in apps.values()]}
    for _ in range(rounds):
        for hosts in (1, 2):
            front.use(upstreams[hosts])
            wrk(url, 2, connections, {"Authorization": f"Bearer {token}"})  # warm-up
            figures = parse_wrk(wrk(url, seconds, connections, {"Authorization": f"Bearer {token}"}))
            rates[hosts].append(figures["rps"])
            print(f"  scaling: {hosts} app host(s): {figures['rps']:.1f} reads/s, p99 {figures['p99_ms']:.0f} ms, "
                  f"{figures['errors']} errors")  # fmt: skip
    front.use(upstreams[2])
    ratio = scaling_ratio(rates[1], rates[2])
    measured = f"{ratio:.2f}× ({statistics.median(rates[2]):.0f} vs {statistics.median(rates[1]):.0f} reads/s)"
    return [Check("scaling", "booking reads/s, 2 hosts vs 1", f"≥ {TARGET_SCALING}×", measured,
                  ratio >= TARGET_SCALING, gated=False, short=f"{ratio:.2f}×")]  # fmt: skip


class RSSRecorder(PeriodicSampler):
    """Every second, the RSS (MB) of each app host's gunicorn worker(s), while used as a context manager."""

    interval = 1.0

    def __init__(self, apps: dict):
        self.apps = apps
        self.samples: dict[str, list[float]] = {name: [] for name in apps}

    def sample(self) -> None:
        for name, app in self.apps.items():
            try:
                for pid in app.worker_pids():
                    self.samples[name].append(psutil.Process(pid).memory_info().rss / 1e6)
            except (psutil.Error, AttributeError):
                pass  # killed, or restarting


def memory(rss: RSSRecorder) -> list[Check]:
    """Step 4: each app host's worker RSS, peak and mean, against the seed's 400 MB."""
    checks = []
    for name, values in rss.samples.items():
        if not values:
            checks.append(Check("memory", f"{name} worker RSS", f"< {TARGET_RSS_MB} MB", "no sample", False))
            continue
        peak = max(values)
        measured = f"peak {peak:.0f} MB, mean {statistics.mean(values):.0f} MB"
        checks.append(Check("memory", f"{name} worker RSS", f"< {TARGET_RSS_MB} MB (peak)", measured,
                            peak < TARGET_RSS_MB, short=f"{name} {peak:.0f} MB"))  # fmt: skip
    return checks


def table(checks: list[Check]) -> str:
    lines = ["", "| step | check | target | measured | met |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {c.step} | {c.name} | {c.target} | {c.measured} | {result(c)} |" for c in checks]
    return "\n".join(lines)
