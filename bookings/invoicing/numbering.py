"""Tax invoice numbers: ``<prefix>/<financial year, e.g. 26-27>/<6-digit serial>`` (at most 16 characters),
consecutive per financial year and never reused (CGST Rules 2017, Rule 46(b)), allocated in one locked transaction
(`issue_invoice_number`)."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .. import gst
from ..models import Booking, InvoiceCounter

#: Longest tax invoice number, in characters (CGST Rules 2017, Rule 46(b): letters, digits, "-" and "/").
MAX_INVOICE_NUMBER_LENGTH = 16
#: Longest settings.INVOICE_NUMBER_PREFIX: 16 less "/26-27/000123" (checked at start-up: `bookings.checks`).
MAX_PREFIX_LENGTH = MAX_INVOICE_NUMBER_LENGTH - len("/26-27/000123")


def format_invoice_number(financial_year: str, serial: int) -> str:
    """A tax invoice number: settings.INVOICE_NUMBER_PREFIX, the financial year in short form and the serial in
    (at least) 6 digits: ``("2026-27", 123)`` → ``"LB/26-27/000123"``, 15 characters, within the 16 that CGST
    Rules 2017, Rule 46(b) allows. Raises `ValueError` for a number longer than that (a prefix longer than
    `MAX_PREFIX_LENGTH` with a 7-digit serial)."""
    number = f"{settings.INVOICE_NUMBER_PREFIX}/{financial_year[2:]}/{serial:06d}"
    if len(number) > MAX_INVOICE_NUMBER_LENGTH:
        raise ValueError(f"Invoice number {number} is longer than {MAX_INVOICE_NUMBER_LENGTH} characters.")
    return number


def issue_invoice_number(booking: Booking, now: datetime) -> str:
    """The booking's tax invoice number, taking the next serial of ``now``'s financial year (April–March in
    the venue's time zone) if it has none yet. Sets ``booking.invoice_number`` and ``booking.invoice_issued_at``.

    Consecutive, without gaps or repeats, under concurrent requests (CGST Rules 2017, Rule 46(b)): in one
    transaction the booking row is locked (a second request for the same booking waits, then finds the number),
    then the year's `InvoiceCounter` row (requests for other bookings wait their turn), the counter is incremented
    and the number stored on the booking; a failure rolls both back. On SQLite the IMMEDIATE transaction mode
    serialises the same way. A number once stored is never changed or reused.
    """
    if booking.invoice_number:
        return booking.invoice_number
    year = gst.financial_year(timezone.localtime(now, ZoneInfo(booking.space.venue.time_zone)).date())
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
