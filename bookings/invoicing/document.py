"""What a booking's GST invoice says: `build_invoice` gathers the seller (settings), the buyer (the booking's billing
fields), the lines and the GST maths (`bookings.gst`) into an `Invoice`; `invoice_title` decides PROFORMA or TAX
INVOICE; a TAX INVOICE gets its serial number from `numbering.issue_invoice_number` the first time it is issued.
"""

import contextlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from lebrq.exceptions import InvoiceNotAvailable

from .. import gst, money
from ..models import Booking, Payment
from .numbering import issue_invoice_number

PROFORMA_INVOICE = "PROFORMA INVOICE"
TAX_INVOICE = "TAX INVOICE"


@dataclass(frozen=True)
class Invoice:
    """Everything an invoice shows, as values: money in `Decimal` INR, datetimes aware in the venue's time zone.

    ``seller`` is settings.INVOICE_SELLER; ``buyer`` has ``name``, ``phone``, ``email``, ``address`` and ``gstin``
    (str, "" when not given); ``title`` is `PROFORMA_INVOICE` or `TAX_INVOICE`; ``invoice_number`` is the tax
    invoice's serial ("LB/26-27/000123"), None on a proforma; ``issued_at`` is when the tax invoice was first
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

    Lines and totals: `bookings.money` (the same as the booking JSON's): the space rental (elapsed booked hours ×
    the booking's rate, `Booking.rate`; SAC settings.SAC_VENUE_RENTAL), then each `BookingItem` (quantity ×
    unit_price; a custom line's SAC is settings.SAC_CUSTOM_LINE).
    Place of supply: a venue for a function, with the services supplied at it, is supplied where the property is
    (IGST Act s.12(3)(c)), whatever the buyer's state or GSTIN; the venues are in the seller's state, so the place
    of supply is the seller's state and the tax is CGST + SGST at settings.GST_RATE_PERCENT. Amount paid is the
    sum of the successful payments. The buyer block comes from the booking's billing fields, with the customer's
    account name and email when those are blank.
    Raises `InvoiceNotAvailable` for a cancelled or rejected booking.
    """
    now = now or timezone.now()
    title = invoice_title(booking, now)
    space = booking.space
    tz = ZoneInfo(space.venue.time_zone)
    number = issue_invoice_number(booking, now) if title == TAX_INVOICE else None
    issued_at = booking.invoice_issued_at if number else now
    seller = dict(settings.INVOICE_SELLER)
    start = timezone.localtime(booking.start_datetime, tz)
    end = timezone.localtime(booking.end_datetime, tz)

    end_format = "%I:%M %p" if start.date() == end.date() else "%d %b %Y, %I:%M %p"
    lines = [
        money.rental_line(
            f"Venue rental: {space.venue.name}, {space.name} ({start:%d %b %Y, %I:%M %p} – {end.strftime(end_format)})",
            booking.start_datetime,
            booking.end_datetime,
            booking.rate,
        )
    ]
    lines += [money.item_line(item.name, item.hsn_sac, item.quantity, item.unit_price) for item in booking.items.all()]
    paid = booking.payments.filter(status=Payment.Status.SUCCESS).aggregate(total=Sum("amount"))["total"]
    totals = money.booking_totals(lines, paid or Decimal(0))
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
