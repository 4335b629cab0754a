"""Booking price: hours × the space's hourly rate + add-on lines. INR as `Decimal`, rounded to paise."""

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal

from .gst import to_paise

SECONDS_PER_HOUR = Decimal(3600)


def booked_hours(start: datetime, end: datetime) -> Decimal:
    """Exact elapsed length of ``[start, end)`` (aware datetimes) in hours (e.g. 90 minutes → ``Decimal("1.5")``).

    Measured between UTC instants, so a span across a daylight-saving change is its real length (subtracting two
    datetimes of one zone would give the wall-clock difference). Raises `ValueError` if ``end`` is not after
    ``start``.
    """
    seconds = (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds()
    if seconds <= 0:
        raise ValueError("end must be after start")
    return Decimal(int(seconds)) / SECONDS_PER_HOUR


def line_total(quantity: int, unit_price: Decimal) -> Decimal:
    """``quantity × unit_price`` in INR, rounded to paise."""
    return to_paise(Decimal(quantity) * unit_price)


def rental_amount(start: datetime, end: datetime, price_per_hour: Decimal) -> Decimal:
    """Space rental for ``[start, end)`` at ``price_per_hour`` INR, rounded to paise."""
    return to_paise(booked_hours(start, end) * price_per_hour)


def booking_total(rental: Decimal, line_totals: Iterable[Decimal]) -> Decimal:
    """Taxable value of a booking: rental plus every line total (INR, before GST)."""
    return to_paise(rental + sum(line_totals, Decimal(0)))
