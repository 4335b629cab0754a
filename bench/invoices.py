"""Invoice PDFs through a real uvicorn worker: render time and the worker's peak RSS growth by invoice length, and
a cached re-download and a 304 revalidation against the first render.

    .venv/bin/python bench/invoices.py                  # 1, 50, 500 and 2,000 lines: a few minutes
    .venv/bin/python bench/invoices.py --lines 1,50     # quick
    .venv/bin/python bench/invoices.py --compare-tables 500,2000   # also: split tables vs one table

The worker is the project (`lebrq.asgi:application`) on its own SQLite database, invoice cache and temp dirs in a
temporary directory, migrated and seeded with ``seed_demo``; INVOICE_RENDER_WAIT is raised so that nothing is
refused. For each length one confirmed booking (a PROFORMA INVOICE) gets the rental line plus ``lines - 1`` add-on
lines, written straight to the database (the API takes at most 200). Then, as the demo customer:
- "first GET": the invoice is not cached: HTML, render (xhtml2pdf), rename into the cache, stream;
- "cached GET": the same URL again: HTML and hash, then the cached file streamed;
- "304": the same with If-None-Match: HTML and hash, no body.
The worker's RSS is sampled every 5 ms by psutil; "RSS +" is the peak during the request minus the value just
before it, in MiB. Times are wall-clock seconds on the client, the median of ``--rounds`` (default 3) for the cached
GET and the 304; the first GET happens once per length (after it the revision is cached); "worker CPU s" is the
CPU time the worker spent on it (steadier than wall time on a shared machine). "pages" and "PDF KiB"
describe the document.

``--compare-tables`` adds, in this process and without a server, the render (xhtml2pdf only, process CPU seconds)
of invoices of the given lengths with the item rows split into tables of ITEM_ROWS_PER_TABLE rows (as served)
and in one single table (xhtml2pdf issue #208: its table layout is quadratic in the rows).
"""

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python bench/<script>.py`: the project's packages, for the shared harness
    sys.path.insert(0, str(ROOT))

from tests.live.harness import PeakRSS, free_port, start_and_wait, stop_process, uvicorn_command  # noqa: E402

MiB = 1024 * 1024

MAKE_BOOKINGS = """
import sys
from datetime import timedelta
from decimal import Decimal
from django.utils import timezone
from bookings.models import Booking, BookingItem, Space
from django.contrib.auth import get_user_model

customer = get_user_model().objects.get(username="customer")
space = Space.objects.order_by("id").first()
start = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=900)
for index, lines in enumerate(int(n) for n in sys.argv[1:] if n.isdigit()):
    booking = Booking.objects.create(
        customer=customer, space=space, start_datetime=start + timedelta(days=index),
        end_datetime=start + timedelta(days=index, hours=4), status=Booking.Status.CONFIRMED,
        billing_name="Bench Events LLP", billing_address="1 Bench Road, Kochi", event_type=f"{lines} lines",
    )
    BookingItem.objects.bulk_create(
        BookingItem(booking=booking, name=f"Add-on {n}: decoration, lighting and service staff", hsn_sac="998596",
                    quantity=n % 9 + 1, unit_price=Decimal("149.50"), line_total=Decimal("149.50") * (n % 9 + 1))
        for n in range(1, lines)
    )
    print(f"BOOKING {lines} {booking.pk}")
"""


def manage(env: dict, *args: str, capture: bool = False) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout if capture else ""


def start_server(env: dict, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    return start_and_wait(uvicorn_command("lebrq.asgi:application", port), env=env, log=log, url=url), url


def timed_get(client: httpx.Client, url: str, process: psutil.Process, **headers) -> tuple[httpx.Response, float, int]:
    with PeakRSS(process) as rss:
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        elapsed = time.perf_counter() - started
    return response, elapsed, rss.growth


def cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU seconds the process has used so far."""
    times = process.cpu_times()
    return times.user + times.system


def page_count(content: bytes) -> int:
    try:
        import pypdf
    except ImportError:
        return 0
    return len(pypdf.PdfReader(io.BytesIO(content)).pages)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", default="1,50,500,2000", help="invoice lengths, comma-separated")
    parser.add_argument("--rounds", type=int, default=3, help="cached GETs and 304s per length (median)")
    parser.add_argument("--compare-tables", default="", help="lengths to render split vs as one table (in process)")
    args = parser.parse_args()
    lengths = [int(n) for n in args.lines.split(",")]

    with tempfile.TemporaryDirectory(prefix="bench-invoices-") as work:
        work = Path(work)
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}",
            "MEDIA_ROOT": str(work / "media"),
            "FILE_UPLOAD_TEMP_DIR": str(work / "tmp"),
            "STATIC_ROOT": str(work / "static"),
            "INVOICE_CACHE_DIR": str(work / "invoices"),
            "INVOICE_RENDER_WAIT": "600",
            "PYTHONUNBUFFERED": "1",
        }
        manage(env, "migrate", "--noinput", "-v0")
        manage(env, "seed_demo")
        script = MAKE_BOOKINGS.replace("sys.argv[1:]", repr([str(n) for n in lengths]))
        created = manage(env, "shell", "-c", script, capture=True)
        rows = [row.split()[1:] for row in created.splitlines() if row.startswith("BOOKING ")]
        booking_ids = {int(lines): int(pk) for lines, pk in rows}

        popen, url = start_server(env, work / "server.log")
        rows = []
        try:
            process = psutil.Process(popen.pid)
            token = httpx.post(url + "/api/auth/login", json={"username": "customer", "password": "lebrq-customer"})
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            with httpx.Client(base_url=url, headers=headers, timeout=900) as client:
                client.get("/api/bookings")  # imports, DB connection
                for lines in lengths:
                    path = f"/api/bookings/{booking_ids[lines]}/invoice"
                    cpu_before = cpu_seconds(process)
                    first, first_s, first_rss = timed_get(client, path, process)
                    first_cpu = cpu_seconds(process) - cpu_before
                    if first.status_code != 200:
                        raise RuntimeError(f"{lines} lines: {first.status_code} {first.text[:200]}")
                    cached = [timed_get(client, path, process) for _ in range(args.rounds)]
                    etag = first.headers["etag"]
                    revalidated = [
                        timed_get(client, path, process, **{"If-None-Match": etag}) for _ in range(args.rounds)
                    ]
                    assert all(response.content == first.content for response, _, _ in cached)
                    assert all(response.status_code == 304 for response, _, _ in revalidated)
                    rows.append(
                        {
                            "lines": lines,
                            "pages": page_count(first.content),
                            "kib": len(first.content) / 1024,
                            "first_s": first_s,
                            "first_cpu": first_cpu,
                            "first_rss": first_rss / MiB,
                            "cached_s": statistics.median(elapsed for _, elapsed, _ in cached),
                            "cached_rss": max(growth for _, _, growth in cached) / MiB,
                            "not_modified_s": statistics.median(elapsed for _, elapsed, _ in revalidated),
                            "speedup": first_s / statistics.median(elapsed for _, elapsed, _ in cached),
                        }
                    )
                    print(f"  {lines} lines done", file=sys.stderr, flush=True)
                final_rss = process.memory_info().rss / MiB
        finally:
            stop_process(popen)

    header = (
        "| lines | pages | PDF KiB | first GET (render) s | worker CPU s | RSS + MiB | cached GET s | RSS + MiB "
        "| 304 s | first / cached |"
    )
    print(header)
    print("|" + "|".join("---:" for _ in range(header.count("|") - 1)) + "|")
    for row in rows:
        print(
            f"| {row['lines']:,} | {row['pages']} | {row['kib']:.0f} | {row['first_s']:.2f} | {row['first_cpu']:.2f} "
            f"| {row['first_rss']:.1f} "
            f"| {row['cached_s']:.3f} | {row['cached_rss']:.1f} | {row['not_modified_s']:.3f} | "
            f"{row['speedup']:.0f}× |"
        )
    print(f"\nworker RSS at the end: {final_rss:.0f} MiB; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    if args.compare_tables:
        compare_tables([int(n) for n in args.compare_tables.split(",")])
    return 0


def compare_tables(lengths: list[int]) -> None:
    """Print the render CPU time of invoices of ``lengths`` lines, rows split into tables vs in one table."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lebrq.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from datetime import UTC, datetime
    from decimal import Decimal

    from django.conf import settings
    from django.template.loader import render_to_string

    from bookings import gst
    from bookings.invoicing import pdf
    from bookings.invoicing.document import PROFORMA_INVOICE, Invoice

    def html(lines: int, rows_per_table: int) -> str:
        items = [
            gst.InvoiceLine(
                f"Add-on {n}: decoration, lighting and service staff", "998596", n % 9 + 1, Decimal("149.5")
            )
            for n in range(lines)
        ]
        totals = gst.compute_totals(items, seller_state_code="32", place_of_supply_state_code="32")
        moment = datetime(2030, 4, 1, tzinfo=UTC)
        document = Invoice(
            title=PROFORMA_INVOICE,
            invoice_number=None,
            booking_reference="BK-0000000000",
            status="confirmed",
            issued_at=moment,
            booked_at=moment,
            event_start=moment,
            event_end=moment,
            venue="Hall",
            space="Main",
            event_type="",
            attendees=1,
            customer_note="",
            seller=settings.INVOICE_SELLER,
            buyer={"name": "Bench Events LLP", "phone": "", "email": "", "address": "", "gstin": ""},
            place_of_supply="Kerala (32)",
            totals=totals,
            amount_in_words=gst.amount_in_words(totals.grand_total),
        )
        default = pdf.ITEM_ROWS_PER_TABLE
        pdf.ITEM_ROWS_PER_TABLE = rows_per_table
        try:
            return render_to_string("bookings/invoice.html", pdf.invoice_context(document))
        finally:
            pdf.ITEM_ROWS_PER_TABLE = default

    print(f"\n| lines | split into tables of {pdf.ITEM_ROWS_PER_TABLE} rows: CPU s | one table: CPU s |")
    print("|---:|---:|---:|")
    for lines in lengths:
        seconds = []
        for rows_per_table in (pdf.ITEM_ROWS_PER_TABLE, lines + 1):
            text = html(lines, rows_per_table)
            started = time.process_time()
            pdf.html_to_pdf(text, io.BytesIO())
            seconds.append(time.process_time() - started)
        print(f"| {lines:,} | {seconds[0]:.2f} | {seconds[1]:.2f} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
