"""Invoices through a real uvicorn worker: the cached PDF with its ETag, 304 without a render, byte ranges, a new
revision on change, 503 + Retry-After when renders are at capacity, and tax invoice numbering under 20 concurrent
threads on the server's own database (an SQLite file with WAL, or MariaDB when the suite runs on it)."""

import io
import json
import re
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pypdf
import pytest
from django.utils import timezone

from tests.live.conftest import ROOT, make_server

pytestmark = pytest.mark.live

RENDER_WAIT = "0.1"  # seconds a request waits for the render slot; a 101-line render takes several times that


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One worker with its own invoice cache, one render slot and a 0.5 s wait for it."""
    cache = tmp_path_factory.mktemp("invoice-cache")
    started = make_server(
        tmp_path_factory,
        "invoices",
        INVOICE_CACHE_DIR=str(cache),
        INVOICE_MAX_CONCURRENT_RENDERS="1",
        INVOICE_RENDER_WAIT=RENDER_WAIT,
        LOG_LEVEL="INFO",
    )
    started.cache_dir = cache
    yield started
    started.stop()


def demo_booking(client: httpx.Client, reference: str) -> dict:
    bookings = client.get("/api/bookings", params={"page_size": 100}).json()["items"]
    return next(booking for booking in bookings if booking["booking_reference"] == reference)


def renders(server, reference: str) -> int:
    return server.log.read_text().count(f"Rendered invoice {reference} ")


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(content)).pages)


def test_cached_tax_invoice_etag_304_and_ranges(server):
    with server.client() as client:
        booking = demo_booking(client, "BK-00000DE003")  # paid, event 10 days ago: a TAX INVOICE
        url = f"/api/bookings/{booking['id']}/invoice"
        first = client.get(url)
        assert first.status_code == 200
        etag = first.headers["etag"]
        assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
        size = len(first.content)
        assert first.headers["content-length"] == str(size)
        assert first.headers["accept-ranges"] == "bytes"
        assert first.headers["cache-control"] == "private, no-cache"
        cached = server.cache_dir / "BK-00000DE003" / f"{etag.strip(chr(34))}.pdf"
        assert cached.read_bytes() == first.content
        text = pdf_text(first.content)
        number = client.get(f"/api/bookings/{booking['id']}").json()["invoice_number"]
        assert re.fullmatch(r"LB/\d\d-\d\d/000001", number)
        assert "TAX INVOICE" in text
        assert f"Invoice no.: {number}" in text
        assert "GSTIN: 32AABCL1234F1Z7" in text
        assert renders(server, "BK-00000DE003") == 1

        not_modified = client.get(url, headers={"If-None-Match": etag})
        assert not_modified.status_code == 304
        assert not_modified.content == b""
        assert not_modified.headers["etag"] == etag

        part = client.get(url, headers={"Range": "bytes=100-199"})
        assert part.status_code == 206
        assert part.headers["content-range"] == f"bytes 100-199/{size}"
        assert part.content == first.content[100:200]
        tail = client.get(url, headers={"Range": "bytes=-50", "If-Range": etag})
        assert tail.status_code == 206
        assert tail.content == first.content[-50:]
        stale = client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"0123456789abcdef0123456789abcdef"'})
        assert stale.status_code == 200
        assert stale.content == first.content

        head = client.head(url)
        assert head.status_code == 200
        assert head.headers["etag"] == etag
        assert head.headers["content-length"] == str(size)
        assert head.content == b""

        assert client.get(url).content == first.content  # same number, same bytes
        assert renders(server, "BK-00000DE003") == 1  # every answer above came from the one render
        assert list(server.temp_dir.glob("*.pdf")) == []


def test_a_change_makes_a_new_revision(server):
    with server.client() as client:
        booking = demo_booking(client, "BK-00000DE001")  # confirmed, event in 14 days: a PROFORMA INVOICE
        url = f"/api/bookings/{booking['id']}/invoice"
        old = client.get(url)
        assert old.status_code == 200
        assert "PROFORMA INVOICE" in pdf_text(old.content)
        patched = client.patch(
            f"/api/bookings/{booking['id']}/billing",
            json={"billing_name": "Menon Events LLP", "billing_gstin": "27AAPFU0939F1ZV"},
        )
        assert patched.status_code == 200, patched.text
        new = client.get(url, headers={"If-None-Match": old.headers["etag"]})
        assert new.status_code == 200
        assert new.headers["etag"] != old.headers["etag"]
        text = pdf_text(new.content)
        assert "Menon Events LLP" in text
        assert "GSTIN: 27AAPFU0939F1ZV" in text
        # The superseded revision stays for REVISION_GRACE_SECONDS, for requests that were about to read it.
        assert sorted(path.name for path in (server.cache_dir / "BK-00000DE001").glob("*.pdf")) == sorted(
            f"{response.headers['etag'].strip(chr(34))}.pdf" for response in (old, new)
        )


def test_renders_at_capacity_get_503_with_retry_after(server):
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(days=400)
    with server.client() as client:
        space_id = demo_booking(client, "BK-00000DE001")["space_id"]
        ids = []
        for day in range(2):  # 101 lines each: over a second of rendering, twice the wait for the slot
            created = client.post(
                "/api/bookings",
                json={
                    "space_id": space_id,
                    "start_datetime": (start + timedelta(days=day)).isoformat(),
                    "end_datetime": (start + timedelta(days=day, hours=2)).isoformat(),
                    "custom_items": [{"name": f"Line {n}", "quantity": 1, "unit_price": "10.00"} for n in range(100)],
                },
            )
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
        statuses, answers = [], []
        barrier = threading.Barrier(len(ids))

        def fetch(booking_id):
            with server.client() as own:
                barrier.wait()
                response = own.get(f"/api/bookings/{booking_id}/invoice")
                statuses.append(response.status_code)
                answers.append(response)

        threads = [threading.Thread(target=fetch, args=(booking_id,)) for booking_id in ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert sorted(statuses) == [200, 503]
        busy = next(response for response in answers if response.status_code == 503)
        assert busy.headers["retry-after"] == "1"
        assert busy.json() == {
            "detail": "Invoices are being rendered at capacity; retry shortly.",
            "success": False,
            "message": "Invoices are being rendered at capacity; retry shortly.",
            "code": "invoice_busy",
        }
        assert client.get(busy.request.url).status_code == 200  # alone, it renders


NUMBERING_SCRIPT = """
import json, threading, time
from datetime import UTC, datetime
from django.db import connection
from bookings.invoicing import numbering
from bookings.models import Booking

template = Booking.objects.get(booking_reference="BK-00000DE003")
ids = [
    Booking.objects.create(
        customer=template.customer, space=template.space, start_datetime=template.start_datetime,
        end_datetime=template.end_datetime, status=Booking.Status.COMPLETED,
    ).pk
    for _ in range(20)
]
format_number = numbering.format_invoice_number

def slow(year, serial):  # widen the read-increment-write window: unlocked, it would repeat numbers
    time.sleep(0.02)
    return format_number(year, serial)

numbering.format_invoice_number = slow
barrier, results, errors = threading.Barrier(len(ids)), {}, []

def work(pk):
    try:
        barrier.wait()
        results[pk] = numbering.issue_invoice_number(Booking.objects.get(pk=pk), datetime(2040, 5, 1, tzinfo=UTC))
    except Exception as exc:
        errors.append(repr(exc))
    finally:
        connection.close()

threads = [threading.Thread(target=work, args=(pk,)) for pk in ids]
[thread.start() for thread in threads]
[thread.join(60) for thread in threads]
stored = dict(Booking.objects.filter(pk__in=ids).values_list("pk", "invoice_number"))
print(json.dumps({"numbers": sorted(results.values()), "errors": errors, "stored": stored == results}))
"""


def test_numbering_under_concurrent_threads_on_the_servers_database(server):
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", NUMBERING_SCRIPT],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome == {
        "numbers": [f"LB/40-41/{serial:06d}" for serial in range(1, 21)],
        "errors": [],
        "stored": True,
    }


def test_reads_answer_while_every_render_slot_is_busy(server_factory):
    """Eight first-time invoices of 101 lines (over a second of rendering each) on one render slot, with a wait
    long enough for all of them: they queue on the render executor, not in the 4 request threads, so venue and
    booking reads meanwhile all get their 200 — with renders in the request threads the reads found every thread
    held and got 503 ``database_unavailable`` after DB_POOL_TIMEOUT (1 s here)."""
    server = server_factory(
        "invoice-burst", INVOICE_MAX_CONCURRENT_RENDERS="1", INVOICE_RENDER_WAIT="120", DB_POOL_TIMEOUT="1"
    )
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(days=500)
    with server.client() as client:
        space_id = demo_booking(client, "BK-00000DE001")["space_id"]
        ids = []
        for day in range(8):
            created = client.post(
                "/api/bookings",
                json={
                    "space_id": space_id,
                    "start_datetime": (start + timedelta(days=day)).isoformat(),
                    "end_datetime": (start + timedelta(days=day, hours=2)).isoformat(),
                    "custom_items": [{"name": f"Line {n}", "quantity": 1, "unit_price": "10.00"} for n in range(100)],
                },
            )
            assert created.status_code == 201, created.text
            ids.append(created.json())
        invoices: dict[int, httpx.Response] = {}

        def fetch(booking_id):  # a connection each, the same token (a login per thread would be work as well)
            with httpx.Client(base_url=server.url, headers=client.headers, timeout=300) as own:
                invoices[booking_id] = own.get(f"/api/bookings/{booking_id}/invoice")

        threads = [threading.Thread(target=fetch, args=(booking["id"],)) for booking in ids]
        for thread in threads:
            thread.start()
        while not renders_started(server):  # the first render is under way: its slot is taken
            time.sleep(0.05)
        reads = []
        for _ in range(10):
            reads.append(client.get("/api/venues", timeout=30))
            reads.append(client.get("/api/bookings", timeout=30))
        rendered_meanwhile = sum(renders(server, booking["booking_reference"]) for booking in ids)
        for thread in threads:
            thread.join(300)
    assert [(read.url.path, read.status_code) for read in reads] == [("/api/venues", 200), ("/api/bookings", 200)] * 10
    assert rendered_meanwhile < len(ids)  # the reads ran while renders were still queued
    assert sorted(response.status_code for response in invoices.values()) == [200] * len(ids)
    for booking in ids:
        assert pdf_text(invoices[booking["id"]].content).count(booking["booking_reference"]) >= 1
        assert renders(server, booking["booking_reference"]) == 1
    cache = Path(server.env["INVOICE_CACHE_DIR"])
    assert sorted(path.name for path in cache.rglob("*.pdf") if path.name.startswith(".")) == []
    assert list(server.temp_dir.glob("*.pdf")) == []


def renders_started(server) -> bool:
    """Whether the server's render thread has taken a job (its "Rendered invoice" line or a partial file)."""
    cache = Path(server.env["INVOICE_CACHE_DIR"])
    return "Rendered invoice" in server.log.read_text() or any(cache.rglob("*.pdf"))
