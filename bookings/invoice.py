"""A booking's GST invoice: what it says (`build_invoice`), its number, and its PDF, cached per revision.

Content: `build_invoice` gathers the seller (settings), the buyer (the booking's billing fields), the lines and the
GST maths (`bookings.gst`); `invoice_title` decides PROFORMA or TAX INVOICE; a TAX INVOICE gets its serial number
from `issue_invoice_number` the first time it is issued.

PDF: xhtml2pdf renders ``bookings/invoice.html``. `invoice_pdf` is what the views call: it renders the HTML
(cheap), hashes it with the template's fonts and logo and the renderer's versions into a *revision*, and serves
the PDF of that revision from settings.INVOICE_CACHE_DIR, rendering it first if it is not there. Whatever is
printed — booking, lines, payments, buyer, seller settings, date, number, template, fonts — is in the hash, so any
change makes a new revision; the revision is the PDF's strong ETag, and ReportLab runs in invariant mode (no
timestamp or random document id), so one revision always has the same bytes. Renders are limited per process
(`RenderLimiter`) and never run on the event loop: callers are sync views, which Django runs in worker threads.

Safety: the template escapes customer text, and its only resources are the app's own fonts and logo:
`static_link_callback` resolves those and nothing else, and `RESOURCE_POLICY` confines whatever xhtml2pdf reads to
the same directory with no network access.
"""

import contextlib
import hashlib
import logging
import math
import os
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

import reportlab
import xhtml2pdf
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum
from django.template.loader import render_to_string
from django.utils import timezone
from reportlab import rl_config
from xhtml2pdf import pisa
from xhtml2pdf.config.resources import ResourceAccessPolicy

from . import gst
from .models import Booking, InvoiceCounter, Payment
from .pricing import booked_hours

logger = logging.getLogger(__name__)

PROFORMA_INVOICE = "PROFORMA INVOICE"
TAX_INVOICE = "TAX INVOICE"

#: The directory the invoice template's fonts and logo live in; the only files a render may read.
ASSETS_DIR = (Path(__file__).resolve().parent / "static" / "bookings").resolve()
#: What `static_link_callback` answers for anything it will not resolve: a name inside ASSETS_DIR that does not
#: exist, so the resource loads as "not found". (An empty answer would not do: xhtml2pdf then falls back to
#: the original URI.)
BLOCKED_RESOURCE = str(ASSETS_DIR / "blocked-resource")
_ASSET_SUFFIXES = frozenset({".ttf", ".png"})
#: xhtml2pdf's limits for untrusted markup, with local reads confined to ASSETS_DIR and no network at all. The
#: render time limit is raised from the preset's 60 s: a 2,000-line invoice takes about 20 s of CPU, and a busy
#: machine can stretch that past a minute (bench/invoices.py).
RESOURCE_POLICY = ResourceAccessPolicy.server(base_dir=ASSETS_DIR, allow_remote=False, max_render_seconds=300)

#: Item rows per <table>: xhtml2pdf lays out a table's rows in O(n²) (xhtml2pdf issue #208), so a long item list
#: is printed as consecutive tables of at most this many rows, each with its own header row.
ITEM_ROWS_PER_TABLE = 40
#: Bump when the PDF changes for a reason the revision hash cannot see (this module's rendering code).
LAYOUT_VERSION = "2"
#: Seconds a superseded revision is kept after its successor was rendered, and partial renders a crash left
#: behind before they are removed (see `prune_revisions`).
REVISION_GRACE_SECONDS = 60
STALE_FILE_SECONDS = 3600

# Deterministic PDFs: no creation timestamp and a fixed document id, so one revision is always the same bytes
# (which a strong ETag promises). Only the invoices use ReportLab in this process.
rl_config.invariant = 1

_DATE_FORMAT = "%d %b %Y"
_DATETIME_FORMAT = "%d %b %Y, %I:%M %p %Z"

#: Font families of the Indian scripts a buyer's name or address may use (see `script_runs` and the README).
SCRIPT_FONT_FAMILIES = (
    (0x0900, 0x097F, "InvoiceDevanagari"),  # Devanagari (Hindi, Marathi, Sanskrit...)
    (0xA8E0, 0xA8FF, "InvoiceDevanagari"),  # Devanagari Extended
    (0x0B80, 0x0BFF, "InvoiceTamil"),
    (0x0D00, 0x0D7F, "InvoiceMalayalam"),
)
_JOINERS = frozenset("\u200c\u200d")  # ZWNJ, ZWJ: part of whichever script run they sit in


class InvoiceNotAvailable(Exception):
    """The booking has no invoice: it was cancelled or rejected (the API answers 409)."""


class InvoiceRenderError(Exception):
    """xhtml2pdf failed or reported errors; no PDF file was left behind."""


class InvoiceBusy(Exception):
    """Too many invoices are being rendered: no render slot came free within settings.INVOICE_RENDER_WAIT seconds.

    ``retry_after`` is the whole number of seconds a client should wait before retrying (503 + Retry-After).
    """

    def __init__(self, retry_after: int):
        super().__init__(f"Invoices are being rendered at capacity; retry in {retry_after} seconds.")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Invoice:
    """Everything an invoice shows, as values: money in `Decimal` INR, datetimes aware in settings.TIME_ZONE.

    ``seller`` is settings.INVOICE_SELLER; ``buyer`` has ``name``, ``phone``, ``email``, ``address`` and ``gstin``
    (str, "" when not given); ``title`` is `PROFORMA_INVOICE` or `TAX_INVOICE`; ``invoice_number`` is the tax
    invoice's serial ("LEBRQ/2026-27/000123"), None on a proforma; ``issued_at`` is when the tax invoice was first
    issued, or now for a proforma; ``place_of_supply`` reads like "Kerala (32)".
    """

    title: str
    invoice_number: str | None
    booking_reference: str
    status: str
    issued_at: datetime
    booked_at: datetime
    event_start: datetime
    event_end: datetime
    venue: str
    space: str
    event_type: str
    attendees: int
    customer_note: str
    seller: dict[str, str]
    buyer: dict[str, str]
    place_of_supply: str
    totals: gst.InvoiceTotals
    amount_in_words: str

    @property
    def is_tax_invoice(self) -> bool:
        """True for a TAX INVOICE, False for a PROFORMA INVOICE."""
        return self.title == TAX_INVOICE


def invoice_title(booking: Booking, now: datetime) -> str:
    """`TAX_INVOICE` once a confirmed or paid booking's event has started (and for a completed one);
    `PROFORMA_INVOICE` for a pending, approved, confirmed or paid booking otherwise — a pending or approved
    booking is not yet a supply to tax, whatever its date. (The original app's rule, made explicit.)

    Raises `InvoiceNotAvailable` for a cancelled, rejected or unknown status.
    """
    status = booking.status
    if status == Booking.Status.COMPLETED:
        return TAX_INVOICE
    if status in (Booking.Status.CONFIRMED, Booking.Status.PAID):
        return PROFORMA_INVOICE if booking.start_datetime > now else TAX_INVOICE
    if status in (Booking.Status.PENDING, Booking.Status.APPROVED):
        return PROFORMA_INVOICE
    raise InvoiceNotAvailable(f"Booking {booking.booking_reference} is {status}: it has no invoice.")


def format_invoice_number(financial_year: str, serial: int) -> str:
    """A tax invoice number: settings.INVOICE_NUMBER_PREFIX, the financial year and the serial in 6 digits:
    ``("2026-27", 123)`` → ``"LEBRQ/2026-27/000123"`` (the issue's format). Note that CGST Rules 2017, Rule 46(b)
    allows at most 16 characters, letters, digits, "-" and "/": with the default prefix this is 20."""
    return f"{settings.INVOICE_NUMBER_PREFIX}/{financial_year}/{serial:06d}"


def issue_invoice_number(booking: Booking, now: datetime) -> str:
    """The booking's tax invoice number, taking the next serial of ``now``'s financial year (April–March in
    settings.TIME_ZONE) if it has none yet. Sets ``booking.invoice_number`` and ``booking.invoice_issued_at``.

    Consecutive, without gaps or repeats, under concurrent requests (CGST Rules 2017, Rule 46(b)): in one
    transaction the booking row is locked (a second request for the same booking waits, then finds the number),
    then the year's `InvoiceCounter` row (requests for other bookings wait their turn), the counter is incremented
    and the number stored on the booking; a failure rolls both back. On SQLite the IMMEDIATE transaction mode
    serialises the same way. A number once stored is never changed or reused.
    """
    if booking.invoice_number:
        return booking.invoice_number
    year = gst.financial_year(timezone.localtime(now, ZoneInfo(settings.TIME_ZONE)).date())
    InvoiceCounter.objects.get_or_create(financial_year=year)  # first of the year; a racing create is absorbed
    with transaction.atomic():
        number, issued_at = (
            Booking.objects.select_for_update().values_list("invoice_number", "invoice_issued_at").get(pk=booking.pk)
        )
        if number is None:
            counter = InvoiceCounter.objects.select_for_update().get(financial_year=year)
            counter.last_number += 1
            counter.save(update_fields=["last_number"])
            number, issued_at = format_invoice_number(year, counter.last_number), now
            Booking.objects.filter(pk=booking.pk).update(invoice_number=number, invoice_issued_at=issued_at)
    booking.invoice_number, booking.invoice_issued_at = number, issued_at
    return number


def _buyer(booking: Booking) -> dict[str, str]:
    customer = booking.customer
    gstin = booking.billing_gstin.strip()
    with contextlib.suppress(ValueError):
        gstin = gst.validate_gstin(gstin) if gstin else ""
    return {
        "name": booking.billing_name.strip() or customer.get_full_name() or customer.get_username(),
        "phone": booking.billing_phone.strip(),
        "email": booking.billing_email.strip() or customer.email,
        "address": booking.billing_address.strip(),
        "gstin": gstin,
    }


def build_invoice(booking: Booking, now: datetime | None = None) -> Invoice:
    """The invoice of ``booking`` as of ``now`` (default: the current time); a TAX INVOICE is numbered by
    `issue_invoice_number` (a database write, the first time).

    Lines: the space rental (exact booked hours × ``space.price_per_hour``, SAC settings.SAC_VENUE_RENTAL), then
    each `BookingItem` (quantity × unit_price). Place of supply: a venue for a function, with the services
    supplied at it, is supplied where the property is (IGST Act s.12(3)(c)), whatever the buyer's state or GSTIN;
    the venues are in the seller's state, so the place of supply is the seller's state and the tax is CGST + SGST
    at settings.GST_RATE_PERCENT. Amount paid is the sum of the successful payments. The buyer block comes from
    the booking's billing fields, with the customer's account name and email when those are blank.
    Raises `InvoiceNotAvailable` for a cancelled or rejected booking.
    """
    now = now or timezone.now()
    title = invoice_title(booking, now)
    tz = ZoneInfo(settings.TIME_ZONE)
    number = issue_invoice_number(booking, now) if title == TAX_INVOICE else None
    issued_at = booking.invoice_issued_at if number else now
    seller = dict(settings.INVOICE_SELLER)
    space = booking.space
    start = timezone.localtime(booking.start_datetime, tz)
    end = timezone.localtime(booking.end_datetime, tz)

    end_format = "%I:%M %p" if start.date() == end.date() else "%d %b %Y, %I:%M %p"
    lines = [
        gst.InvoiceLine(
            description=f"Venue rental: {space.venue.name}, {space.name}"
            f" ({start:%d %b %Y, %I:%M %p} – {end.strftime(end_format)})",
            hsn_sac=settings.SAC_VENUE_RENTAL,
            quantity=booked_hours(booking.start_datetime, booking.end_datetime),
            rate=space.price_per_hour,
        )
    ]
    lines += [
        gst.InvoiceLine(description=item.name, hsn_sac=item.hsn_sac, quantity=item.quantity, rate=item.unit_price)
        for item in booking.items.all()
    ]
    paid = booking.payments.filter(status=Payment.Status.SUCCESS).aggregate(total=Sum("amount"))["total"]
    totals = gst.compute_totals(
        lines,
        seller_state_code=seller["state_code"],
        place_of_supply_state_code=seller["state_code"],
        amount_paid=paid or Decimal(0),
    )
    return Invoice(
        title=title,
        invoice_number=number,
        booking_reference=booking.booking_reference,
        status=booking.status,
        issued_at=timezone.localtime(issued_at, tz),
        booked_at=timezone.localtime(booking.created_at, tz),
        event_start=start,
        event_end=end,
        venue=space.venue.name,
        space=space.name,
        event_type=booking.event_type,
        attendees=booking.attendees,
        customer_note=booking.customer_note,
        seller=seller,
        buyer=_buyer(booking),
        place_of_supply=f"{seller['state']} ({seller['state_code']})",
        totals=totals,
        amount_in_words=gst.amount_in_words(totals.grand_total),
    )


def script_runs(text: str) -> list[tuple[str, str]]:
    """Split ``text`` into ``(font_family, run)`` pairs for the PDF: ``font_family`` is the
    `SCRIPT_FONT_FAMILIES` family of a Devanagari, Tamil or Malayalam run, or "" for anything else (drawn with
    the body font). Whitespace and zero-width (non-)joiners stay in the run they follow.
    ``"Priya प्रिया"`` → ``[("", "Priya "), ("InvoiceDevanagari", "प्रिया")]``.
    """
    runs: list[list[str]] = []
    for char in text:
        if char.isspace() or char in _JOINERS:
            family = runs[-1][0] if runs else ""
        else:
            code = ord(char)
            family = next((name for low, high, name in SCRIPT_FONT_FAMILIES if low <= code <= high), "")
        if runs and runs[-1][0] == family:
            runs[-1][1] += char
        else:
            runs.append([family, char])
    return [(family, run) for family, run in runs]


def _chunks(rows: list, size: int) -> list[list]:
    return [rows[start : start + size] for start in range(0, len(rows), size)] or [[]]


def invoice_context(invoice: Invoice) -> dict[str, Any]:
    """The template context for ``invoice``: the invoice itself plus every amount, date and rate as display text.

    ``row_chunks`` holds the item rows in lists of at most `ITEM_ROWS_PER_TABLE`, one <table> each;
    ``buyer_name_runs`` and ``buyer_address_runs`` are `script_runs` of the buyer's name and address.
    """
    totals = invoice.totals
    money = gst.format_inr
    rows = [
        {
            "number": number,
            "description": line.description,
            "hsn_sac": line.hsn_sac,
            "quantity": gst.format_quantity(line.quantity),
            "rate": money(line.rate),
            "taxable_value": money(value),
        }
        for number, (line, value) in enumerate(zip(totals.lines, totals.line_taxable_values, strict=True), start=1)
    ]
    if totals.intra_state:
        taxes = [
            (f"CGST @ {gst.format_quantity(totals.cgst_rate)}%", money(totals.cgst)),
            (f"SGST @ {gst.format_quantity(totals.sgst_rate)}%", money(totals.sgst)),
        ]
    else:
        taxes = [(f"IGST @ {gst.format_quantity(totals.igst_rate)}%", money(totals.igst))]
    return {
        "invoice": invoice,
        "rows": rows,
        "row_chunks": _chunks(rows, ITEM_ROWS_PER_TABLE),
        "buyer_name_runs": script_runs(invoice.buyer["name"]),
        "buyer_address_runs": script_runs(invoice.buyer["address"]),
        "taxes": taxes,
        "taxable_value": money(totals.taxable_value),
        "round_off": money(totals.round_off, signed=True),
        "grand_total": money(totals.grand_total),
        "amount_paid": money(totals.amount_paid),
        "balance_due": money(totals.balance_due),
        "issued_on": invoice.issued_at.strftime(_DATE_FORMAT),
        "booked_on": invoice.booked_at.strftime(_DATE_FORMAT),
        "event_start": invoice.event_start.strftime(_DATETIME_FORMAT),
        "event_end": invoice.event_end.strftime(_DATETIME_FORMAT),
    }


def invoice_html(booking: Booking, now: datetime | None = None) -> str:
    """The invoice of ``booking`` as the HTML that xhtml2pdf turns into the PDF (see `build_invoice`)."""
    return render_to_string("bookings/invoice.html", invoice_context(build_invoice(booking, now=now)))


def static_link_callback(uri: str, rel: str | None = None) -> str:
    """Resolve a template resource for xhtml2pdf: a font or the logo of this app's static dir, and nothing else.

    ``uri`` is what the template wrote, e.g. ``"/assets/bookings/fonts/DejaVuSans.ttf"`` (settings.STATIC_URL +
    ``"bookings/..."``). Returns the absolute path of an existing ``.ttf``/``.png`` file inside `ASSETS_DIR`;
    anything else — another scheme or host, ``/etc/passwd``, ``..`` or a symlink out — gets `BLOCKED_RESOURCE`.
    ``rel`` (the base xhtml2pdf would resolve against) is ignored.
    """
    if not isinstance(uri, str):
        return BLOCKED_RESOURCE
    name = uri.removeprefix(settings.STATIC_URL)
    if name == uri or not name.startswith("bookings/") or "\\" in name or "\x00" in name:
        return BLOCKED_RESOURCE
    try:
        candidate = (ASSETS_DIR / name.removeprefix("bookings/")).resolve()
    except (OSError, ValueError):
        return BLOCKED_RESOURCE
    if candidate.is_relative_to(ASSETS_DIR) and candidate.suffix in _ASSET_SUFFIXES and candidate.is_file():
        return str(candidate)
    return BLOCKED_RESOURCE


def html_to_pdf(html: str, dest: BinaryIO) -> None:
    """Render ``html`` as PDF into the open binary file ``dest``, reading resources only via the static callback.

    Raises `InvoiceRenderError` if xhtml2pdf raises or reports errors (``dest`` may then hold partial output).
    xhtml2pdf 0.2.28 holds a process-wide lock for a whole conversion, so renders in one process run one at a time.
    """
    try:
        status = pisa.CreatePDF(
            html, dest=dest, encoding="utf-8", link_callback=static_link_callback, resource_policy=RESOURCE_POLICY
        )
    except Exception as exc:
        raise InvoiceRenderError(f"Rendering the invoice PDF failed: {exc}") from exc
    if status.err:
        raise InvoiceRenderError(f"Rendering the invoice PDF failed with {status.err} error(s).")


def _render_html_to_file(html: str, directory: Path, prefix: str) -> Path:
    """Render ``html`` into a new file in ``directory`` (created if missing); on any failure the file is removed."""
    directory.mkdir(parents=True, exist_ok=True)
    path: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(delete=False, suffix=".pdf", prefix=prefix, dir=directory) as handle:
            path = Path(handle.name)
            html_to_pdf(html, handle)
    except BaseException:
        if path is not None:
            path.unlink(missing_ok=True)
        raise
    return path


def render_invoice_pdf(booking: Booking, directory: str | Path | None = None, now: datetime | None = None) -> Path:
    """Render the invoice of ``booking`` to a new PDF file and return its path; the caller removes the file.
    (Uncached and unlimited: the views use `invoice_pdf`.)

    The file is a ``NamedTemporaryFile(delete=False, suffix=".pdf")`` in ``directory`` (default
    settings.FILE_UPLOAD_TEMP_DIR, created if missing). Raises `InvoiceNotAvailable` (no file is made) for a
    cancelled or rejected booking, and `InvoiceRenderError` (or whatever interrupted the render) after removing
    the file if rendering fails.
    """
    html = invoice_html(booking, now=now)
    return _render_html_to_file(html, Path(directory or settings.FILE_UPLOAD_TEMP_DIR), "invoice-")


# --- Revisions and the cache ----------------------------------------------------------------------------------


_assets_digest_cache: dict[tuple, str] = {}


def assets_digest() -> str:
    """SHA-256 (hex) of every file in `ASSETS_DIR` (fonts, logo: names and bytes), read in 64 KiB chunks and
    remembered per (name, size, mtime) listing, so it is computed once per process unless the files change."""
    files = sorted(path for path in ASSETS_DIR.rglob("*") if path.is_file())
    key = tuple((str(path), path.stat().st_size, path.stat().st_mtime_ns) for path in files)
    if key not in _assets_digest_cache:
        digest = hashlib.sha256()
        for path in files:
            digest.update(str(path.relative_to(ASSETS_DIR)).encode() + b"\0")
            with path.open("rb") as handle:
                while chunk := handle.read(64 * 1024):
                    digest.update(chunk)
        _assets_digest_cache.clear()
        _assets_digest_cache[key] = digest.hexdigest()
    return _assets_digest_cache[key]


def invoice_revision(html: str) -> str:
    """The revision of an invoice PDF: 32 hex digits (128 bits) of SHA-256 over `LAYOUT_VERSION`, the xhtml2pdf
    and ReportLab versions, `assets_digest()` and ``html`` — the template filled with everything printed."""
    digest = hashlib.sha256()
    for part in (LAYOUT_VERSION, xhtml2pdf.__version__, reportlab.Version, assets_digest()):
        digest.update(part.encode() + b"\0")
    digest.update(html.encode("utf-8"))
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class InvoicePdf:
    """A cached invoice PDF: ``path`` is INVOICE_CACHE_DIR/<booking reference>/<revision>.pdf, which callers read
    (or hand to `file_response`) and never delete; ``revision`` is its 32-hex-digit hash (`invoice_revision`);
    ``size`` in bytes; ``modified`` the render time in epoch seconds; ``filename`` the download name, e.g.
    "invoice-BK-0123456789.pdf".
    """

    path: Path
    revision: str
    size: int
    modified: float
    filename: str

    @property
    def etag(self) -> str:
        """The strong entity-tag (RFC 9110 §8.8.3) of this revision: the revision in double quotes."""
        return f'"{self.revision}"'


def booking_cache_dir(booking_reference: str) -> Path:
    """The directory of a booking's cached revisions: settings.INVOICE_CACHE_DIR / booking reference."""
    return Path(settings.INVOICE_CACHE_DIR) / booking_reference


def prune_revisions(directory: Path, keep: str | None = None) -> int:
    """Remove the superseded revisions in ``directory`` and partial renders left by a crash; returns the count.

    With ``keep`` (the current revision's file name), the other revisions are removed once ``keep`` is older than
    `REVISION_GRACE_SECONDS`: a request that read the booking before it changed may still be about to open an old
    revision, and gets that long to do so. Without ``keep`` (a booking that no longer has an invoice) every
    revision goes at once. Partial renders (".render-*") go when older than `STALE_FILE_SECONDS`.
    """
    now = time.time()
    keep_others = False
    if keep is not None:
        try:
            keep_others = os.stat(directory / keep).st_mtime > now - REVISION_GRACE_SECONDS
        except FileNotFoundError:
            keep_others = True
    removed = 0
    with contextlib.suppress(FileNotFoundError), os.scandir(directory) as entries:
        for entry in entries:
            if entry.name == keep or not entry.name.endswith(".pdf"):
                continue
            try:
                if entry.name.startswith("."):
                    if entry.stat().st_mtime > now - STALE_FILE_SECONDS:
                        continue
                elif keep_others:
                    continue
                os.unlink(entry.path)
                removed += 1
            except FileNotFoundError:
                continue
    return removed


def discard_cached_invoices(booking_reference: str) -> int:
    """Remove every cached revision of a booking (one that no longer has an invoice); returns the count."""
    return prune_revisions(booking_cache_dir(booking_reference))


class RenderLimiter:
    """At most ``slots`` invoice renders at once in this process, and one render per revision at a time.

    Both waits are context managers bounded by one ``deadline`` (a `time.monotonic()` value) and raise
    `InvoiceBusy` when it passes: `revision()` waits while another thread renders the same revision (the caller
    then finds it cached); `slot()` waits for one of the ``slots``. Note that xhtml2pdf itself runs one conversion
    at a time per process, so a second slot only lets one render queue inside xhtml2pdf rather than at this gate.
    """

    def __init__(self, slots: int, retry_after: int = 1):
        if slots < 1:
            raise ValueError(f"INVOICE_MAX_CONCURRENT_RENDERS must be >= 1, got {slots}")
        self.slots = slots
        self.retry_after = retry_after
        self._semaphore = threading.BoundedSemaphore(slots)
        self._guard = threading.Lock()
        self._revisions: dict[str, list] = {}  # revision -> [lock, number of threads using it]

    @contextlib.contextmanager
    def revision(self, revision: str, deadline: float) -> Iterator[None]:
        """Hold ``revision`` (one thread at a time); `InvoiceBusy` if it is not free by ``deadline``."""
        with self._guard:
            entry = self._revisions.setdefault(revision, [threading.Lock(), 0])
            entry[1] += 1
        try:
            if not entry[0].acquire(timeout=max(deadline - time.monotonic(), 0)):
                raise InvoiceBusy(self.retry_after)
            try:
                yield
            finally:
                entry[0].release()
        finally:
            with self._guard:
                entry[1] -= 1
                if not entry[1]:
                    del self._revisions[revision]

    @contextlib.contextmanager
    def slot(self, deadline: float) -> Iterator[None]:
        """Hold one of the ``slots``; `InvoiceBusy` if none is free by ``deadline``."""
        if not self._semaphore.acquire(timeout=max(deadline - time.monotonic(), 0)):
            raise InvoiceBusy(self.retry_after)
        try:
            yield
        finally:
            self._semaphore.release()


_limiters: dict[tuple[int, int], RenderLimiter] = {}
_limiters_guard = threading.Lock()


def render_limiter() -> RenderLimiter:
    """The process's `RenderLimiter` for settings.INVOICE_MAX_CONCURRENT_RENDERS slots, whose `InvoiceBusy`
    says to retry after settings.INVOICE_RENDER_WAIT seconds (rounded up, at least 1)."""
    slots, retry_after = settings.INVOICE_MAX_CONCURRENT_RENDERS, max(1, math.ceil(settings.INVOICE_RENDER_WAIT))
    with _limiters_guard:
        if (slots, retry_after) not in _limiters:
            _limiters[slots, retry_after] = RenderLimiter(slots, retry_after)
        return _limiters[slots, retry_after]


def _release_db_connection() -> None:
    """Give the request's database connection back (to the pool) before a render of up to seconds: the response
    needs no more queries. Not inside a transaction, which would be broken by it."""
    if not connection.in_atomic_block:
        connection.close()


def invoice_pdf(booking: Booking, now: datetime | None = None) -> InvoicePdf:
    """The PDF of ``booking``'s invoice as of ``now`` (default: now), from the cache or rendered into it.

    Builds the HTML (numbering a first TAX INVOICE, see `build_invoice`) and its `invoice_revision`; if
    INVOICE_CACHE_DIR/<reference>/<revision>.pdf exists it is served without rendering. Otherwise, under
    `render_limiter()` (waiting at most settings.INVOICE_RENDER_WAIT seconds), it is rendered to a temporary file
    in the same directory and renamed into place with `os.replace` — a reader never sees a partial file. The
    booking's superseded revisions are then pruned (`prune_revisions`).

    Raises `InvoiceNotAvailable` for a cancelled or rejected booking (whose cached revisions are then removed),
    `InvoiceBusy` when no render slot came free in time, `InvoiceRenderError` when xhtml2pdf fails.
    """
    try:
        html = invoice_html(booking, now=now)
    except InvoiceNotAvailable:
        discard_cached_invoices(booking.booking_reference)
        raise
    revision = invoice_revision(html)
    filename = f"invoice-{booking.booking_reference}.pdf"
    directory = booking_cache_dir(booking.booking_reference)
    cached = directory / f"{revision}.pdf"
    pdf = _cached_pdf(cached, revision, filename)
    if pdf is None:
        _release_db_connection()
        limiter, deadline = render_limiter(), time.monotonic() + settings.INVOICE_RENDER_WAIT
        with limiter.revision(revision, deadline):
            pdf = _cached_pdf(cached, revision, filename)  # rendered by another request while this one waited
            if pdf is None:
                with limiter.slot(deadline):
                    started = time.monotonic()
                    partial = _render_html_to_file(html, directory, ".render-")
                try:
                    stat = partial.stat()
                    os.replace(partial, cached)
                except BaseException:
                    partial.unlink(missing_ok=True)
                    raise
                pdf = InvoicePdf(cached, revision, stat.st_size, stat.st_mtime, filename)
                logger.info(
                    "Rendered invoice %s revision %s: %d bytes in %.2f s",
                    booking.booking_reference,
                    revision,
                    pdf.size,
                    time.monotonic() - started,
                )
    prune_revisions(directory, keep=cached.name)
    return pdf


def _cached_pdf(path: Path, revision: str, filename: str) -> InvoicePdf | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return InvoicePdf(path, revision, stat.st_size, stat.st_mtime, filename)


@dataclass(frozen=True)
class InvoiceZip:
    """A ZIP of invoices on disk: ``path`` is a temporary file the caller removes; ``included`` and ``skipped``
    are booking references (skipped: no invoice, listed with the reason in the archive's SKIPPED.txt)."""

    path: Path
    included: tuple[str, ...]
    skipped: tuple[str, ...]


def write_invoices_zip(booking_ids: list[int], directory: str | Path | None = None) -> InvoiceZip:
    """Write the invoices of the bookings ``booking_ids`` (in that order) into a new ZIP file in ``directory``
    (default settings.FILE_UPLOAD_TEMP_DIR) as "invoice-<reference>.pdf" entries, stored uncompressed (a PDF is
    already compressed).

    Each PDF comes from `invoice_pdf` (the cache, or a render under the render limit) and is copied into the ZIP by
    `zipfile` in 8 KiB pieces, and each booking is loaded on its own, so memory stays flat whatever the count.
    A cancelled or rejected booking is skipped and named in SKIPPED.txt. Raises `InvoiceBusy` or
    `InvoiceRenderError` (after removing the ZIP) when an invoice cannot be had.
    """
    target = Path(directory or settings.FILE_UPLOAD_TEMP_DIR)
    target.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(delete=False, suffix=".zip", prefix="invoices-", dir=target)  # noqa: SIM115
    path = Path(handle.name)
    included: list[str] = []
    skipped: list[tuple[str, str]] = []
    try:
        with handle, zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED) as archive:
            for booking_id in booking_ids:
                booking = (
                    Booking.objects.select_related("customer", "space__venue")
                    .prefetch_related("items")
                    .filter(pk=booking_id)
                    .first()
                )
                if booking is None:
                    continue
                try:
                    pdf = invoice_pdf(booking)
                except InvoiceNotAvailable as exc:
                    skipped.append((booking.booking_reference, str(exc)))
                    continue
                archive.write(pdf.path, arcname=pdf.filename)
                included.append(booking.booking_reference)
            if skipped:
                archive.writestr("SKIPPED.txt", "".join(f"{reference}: {reason}\n" for reference, reason in skipped))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return InvoiceZip(path, tuple(included), tuple(reference for reference, _ in skipped))
