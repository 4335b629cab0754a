"""Booking price maths: exact Decimal values."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bookings import pricing

START = datetime(2030, 1, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("minutes", "hours"), [(60, Decimal(1)), (90, Decimal("1.5")), (20, Decimal(1) / 3), (24 * 60, Decimal(24))]
)
def test_booked_hours(minutes, hours):
    assert pricing.booked_hours(START, START + timedelta(minutes=minutes)) == hours


def test_end_before_start_raises():
    with pytest.raises(ValueError, match="end must be after start"):
        pricing.booked_hours(START, START)


def test_rental_rounds_to_paise_half_up():
    # 20 minutes at 1000.00/h = 333.333… → 333.33; 50 minutes at 1000.01 = 833.341666… → 833.34
    assert pricing.rental_amount(START, START + timedelta(minutes=20), Decimal("1000.00")) == Decimal("333.33")
    assert pricing.rental_amount(START, START + timedelta(minutes=50), Decimal("1000.01")) == Decimal("833.34")
    assert pricing.rental_amount(START, START + timedelta(minutes=30), Decimal("0.01")) == Decimal("0.01")


def test_line_and_booking_totals():
    assert pricing.line_total(3, Decimal("33.335")) == Decimal("100.01")
    assert pricing.booking_total(Decimal("5000.00"), [Decimal("650.00"), Decimal("0.00")]) == Decimal("5650.00")
    assert pricing.booking_total(Decimal("1.00"), []) == Decimal("1.00")
