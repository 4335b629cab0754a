"""A booking's GST invoice: what it says (`build_invoice`) and its PDF (`render_invoice_pdf`).

The PDF is rendered by xhtml2pdf from ``bookings/invoice.html`` into a temporary file on disk, which the caller
streams out and removes. The template's only resources are the app's own font and logo: `static_link_callback`
resolves those and nothing else, and `RESOURCE_POLICY` confines whatever xhtml2pdf reads to the same directory
with no network access, so customer text — escaped by the template anyway — can make it load nothing.
"""

import tempfile
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Sum
from django.template.loader import render_to_string
from django.utils import timezone
from xhtml2pdf import pisa
from xhtml2pdf.config.resources import ResourceAccessPolicy

from . import gst
from .models import Booking, Payment
from .pricing import booked_hours

PROFORMA_INVOICE = "PROFORMA INVOICE"
TAX_INVOICE = "TAX INVOICE"

#: The directory the invoice template's fonts and logo live in; the only files a render may read.
ASSETS_DIR = (Path(__file__).resolve().parent / "static" / "bookings").resolve()
#: What `static_link_callback` answers for anything it will not resolve: a name inside ASSETS_DIR that does not
#: exist, so the resource loads as "not found". (An empty answer would not do: xhtml2pdf then falls back to
#: the original URI.)
BLOCKED_RESOURCE = str(ASSETS_DIR / "blocked-resource")
_ASSET_SUFFIXES = frozenset({".ttf", ".png"})
#: xhtml2pdf's limits for untrusted markup, with local reads confined to ASSETS_DIR and no network at all.
RESOURCE_POLICY = ResourceAccessPolicy.server(base_dir=ASSETS_DIR, allow_remote=False)

_DATE_FORMAT = "%d %b %Y"
_DATETIME_FORMAT = "%d %b %Y, %I:%M %p %Z"


class InvoiceNotAvailable(Exception):
    """The booking has no invoice: it was cancelled or rejected (the API answers 409)."""


class InvoiceRenderError(Exception):
    """xhtml2pdf failed or reported errors; no PDF file was left behind."""


@dataclass(frozen=True)
class Invoice:
    """Everything an invoice shows, as values: money in `Decimal` INR, datetimes aware in settings.TIME_ZONE.

    ``seller`` is settings.INVOICE_SELLER; ``buyer`` has ``name`` and ``email``; ``title`` is
    `PROFORMA_INVOICE` or `TAX_INVOICE`; ``place_of_supply`` reads like "Kerala (32)".
    """

    title: str
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


def build_invoice(booking: Booking, now: datetime | None = None) -> Invoice:
    """The invoice of ``booking`` as of ``now`` (default: the current time).

    Lines: the space rental (exact booked hours × ``space.price_per_hour``, SAC settings.SAC_VENUE_RENTAL), then
    each `BookingItem` (quantity × unit_price). The venue is in the seller's state and a service related to
    immovable property is supplied where the property is (IGST Act s.12(3)), so the place of supply is the
    seller's state and the tax is CGST + SGST at settings.GST_RATE_PERCENT. Amount paid is the sum of the
    successful payments. Raises `InvoiceNotAvailable` for a cancelled or rejected booking.
    """
    now = now or timezone.now()
    title = invoice_title(booking, now)
    seller = dict(settings.INVOICE_SELLER)
    space = booking.space
    tz = ZoneInfo(settings.TIME_ZONE)
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
    customer = booking.customer
    return Invoice(
        title=title,
        booking_reference=booking.booking_reference,
        status=booking.status,
        issued_at=timezone.localtime(now, tz),
        booked_at=timezone.localtime(booking.created_at, tz),
        event_start=start,
        event_end=end,
        venue=space.venue.name,
        space=space.name,
        event_type=booking.event_type,
        attendees=booking.attendees,
        customer_note=booking.customer_note,
        seller=seller,
        buyer={"name": customer.get_full_name() or customer.get_username(), "email": customer.email},
        place_of_supply=f"{seller['state']} ({seller['state_code']})",
        totals=totals,
        amount_in_words=gst.amount_in_words(totals.grand_total),
    )


def invoice_context(invoice: Invoice) -> dict[str, Any]:
    """The template context for ``invoice``: the invoice itself plus every amount, date and rate as display text."""
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
    """
    try:
        status = pisa.CreatePDF(
            html, dest=dest, encoding="utf-8", link_callback=static_link_callback, resource_policy=RESOURCE_POLICY
        )
    except Exception as exc:
        raise InvoiceRenderError(f"Rendering the invoice PDF failed: {exc}") from exc
    if status.err:
        raise InvoiceRenderError(f"Rendering the invoice PDF failed with {status.err} error(s).")


def render_invoice_pdf(booking: Booking, directory: str | Path | None = None, now: datetime | None = None) -> Path:
    """Render the invoice of ``booking`` to a new PDF file and return its path; the caller removes the file.

    The file is a ``NamedTemporaryFile(delete=False, suffix=".pdf")`` in ``directory`` (default
    settings.FILE_UPLOAD_TEMP_DIR, created if missing). Raises `InvoiceNotAvailable` (no file is made) for a
    cancelled or rejected booking, and `InvoiceRenderError` (or whatever interrupted the render) after removing
    the file if rendering fails.
    """
    html = render_to_string("bookings/invoice.html", invoice_context(build_invoice(booking, now=now)))
    target = Path(directory or settings.FILE_UPLOAD_TEMP_DIR)
    target.mkdir(parents=True, exist_ok=True)
    path: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(delete=False, suffix=".pdf", prefix="invoice-", dir=target) as handle:
            path = Path(handle.name)
            html_to_pdf(html, handle)
    except BaseException:
        if path is not None:
            path.unlink(missing_ok=True)
        raise
    return path
