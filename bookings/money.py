"""What a booking costs, in one place: its invoice lines and their totals (taxable value, GST split, round-off,
grand total, amount paid, balance due). The booking JSON (`bookings.booking_rows`, `BookingSerializer`), the quote
(``POST /api/bookings/quote``) and the invoice (`bookings.invoicing.document`) all call `booking_totals` on the
lines `booking_lines` makes, so they always agree. Money is INR as `Decimal`; the GST rules are `bookings.gst`'s.
"""

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.conf import settings

from . import gst
from .pricing import booked_hours

#: The booking JSON's money keys after ``total_amount`` (the taxable value), in order (`as_json`).
MONEY_KEYS = ("tax", "cgst", "sgst", "igst", "round_off", "grand_total", "amount_paid", "balance_due")


def rental_line(description: str, start: datetime, end: datetime, price_per_hour: Decimal) -> gst.InvoiceLine:
    """The space rental: the elapsed hours of ``[start, end)`` (`pricing.booked_hours`) × ``price_per_hour`` INR,
    SAC settings.SAC_VENUE_RENTAL."""
    return gst.InvoiceLine(
        description=description,
        hsn_sac=settings.SAC_VENUE_RENTAL,
        quantity=booked_hours(start, end),
        rate=price_per_hour,
    )


def item_line(name: str, hsn_sac: str, quantity: int, unit_price: Decimal) -> gst.InvoiceLine:
    """One add-on or custom line; a line without an HSN/SAC code (a custom line) gets settings.SAC_CUSTOM_LINE."""
    return gst.InvoiceLine(
        description=name, hsn_sac=hsn_sac or settings.SAC_CUSTOM_LINE, quantity=quantity, rate=unit_price
    )


def booking_totals(lines: Iterable[gst.InvoiceLine], amount_paid: Decimal | int = 0) -> gst.InvoiceTotals:
    """`gst.compute_totals` of ``lines`` for a venue booking: the place of supply is where the venue is, the
    seller's state (IGST Act s.12(3)(c)), so CGST + SGST at settings.GST_RATE_PERCENT; ``amount_paid`` is the sum of
    the successful payments, INR."""
    state_code = settings.INVOICE_SELLER["state_code"]
    return gst.compute_totals(
        tuple(lines), seller_state_code=state_code, place_of_supply_state_code=state_code, amount_paid=amount_paid
    )


def booking_money(
    start: datetime,
    end: datetime,
    price_per_hour: Decimal,
    items: Iterable[tuple[str, str, int, Decimal]],
    paid: Iterable[Decimal],
) -> dict[str, str]:
    """The `MONEY_KEYS` of a stored booking as the API gives them: ``items`` are its lines as ``(name, hsn_sac,
    quantity, unit_price)``, ``paid`` the amounts of its successful payments (INR)."""
    lines = [rental_line("", start, end, price_per_hour)]
    lines += [item_line(*item) for item in items]
    return as_json(booking_totals(lines, sum(paid, Decimal(0))))


def as_json(totals: gst.InvoiceTotals) -> dict[str, str]:
    """The `MONEY_KEYS` of ``totals`` as the API gives money: strings with 2 decimal places."""
    values = {
        "tax": totals.total_tax,
        "cgst": totals.cgst,
        "sgst": totals.sgst,
        "igst": totals.igst,
        "round_off": totals.round_off,
        "grand_total": totals.grand_total,
        "amount_paid": totals.amount_paid,
        "balance_due": totals.balance_due,
    }
    return {key: f"{values[key]:.2f}" for key in MONEY_KEYS}


def quote_json(plan, venue_time_zone: str) -> dict:
    """The answer of ``POST /api/bookings/quote`` for a `bookings.services.BookingPlan`: the request's space,
    instants (in the venue's time zone, with the offset) and attendees, its ``lines`` (the space rental first,
    ``quantity`` in hours), ``total_amount`` (the taxable value) and the `MONEY_KEYS` (nothing paid yet)."""
    from .serializers import local_datetime  # the serializers module uses this one

    space = plan.space
    lines = [rental_line(f"Venue rental: {space.name}", plan.start, plan.end, space.price_per_hour)]
    lines += [item_line(line.name, line.hsn_sac, line.quantity, line.unit_price) for line in plan.lines]
    totals = booking_totals(lines)
    return {
        "space_id": space.pk,
        "start_datetime": local_datetime(plan.start, venue_time_zone),
        "end_datetime": local_datetime(plan.end, venue_time_zone),
        "attendees": plan.attendees,
        "lines": [
            {
                "name": line.description,
                "hsn_sac": line.hsn_sac,
                "quantity": gst.format_quantity(line.quantity),
                "unit_price": f"{line.rate:.2f}",
                "line_total": f"{value:.2f}",
            }
            for line, value in zip(lines, totals.line_taxable_values, strict=True)
        ],
        "total_amount": f"{totals.taxable_value:.2f}",
        **as_json(totals),
    }
