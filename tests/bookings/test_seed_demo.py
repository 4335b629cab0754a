"""The demo data agrees with itself: booked before the event, paid before it, a paid booking owes nothing."""

import io
from decimal import Decimal

import pytest
from django.core.management import call_command

from bookings.invoicing.document import TAX_INVOICE, build_invoice
from bookings.models import Booking

pytestmark = pytest.mark.django_db


def test_demo_data_is_consistent(staff_api):
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", stdout=io.StringIO())  # idempotent
    bookings = list(Booking.objects.select_related("space__venue").order_by("booking_reference"))
    assert len(bookings) == 5
    for booking in bookings:
        assert booking.created_at < booking.start_datetime, booking
        for payment in booking.payments.all():
            assert booking.created_at < payment.paid_at < booking.start_datetime, booking
        if booking.status in ("cancelled", "rejected"):
            continue
        invoice = build_invoice(booking)
        assert invoice.booked_at < invoice.event_start
        assert invoice.totals.taxable_value == booking.total_amount
    paid = Booking.objects.get(status="paid")
    invoice = build_invoice(paid)
    assert invoice.title == TAX_INVOICE
    assert invoice.totals.balance_due == Decimal("0.00")
    assert invoice.totals.amount_paid == invoice.totals.grand_total
    assert staff_api.get(f"/api/bookings/{paid.booking_reference}").json()["balance_due"] == "0.00"
    confirmed = build_invoice(Booking.objects.get(status="confirmed"))
    assert confirmed.totals.amount_paid == Decimal("10000.00")
    assert confirmed.totals.balance_due == confirmed.totals.grand_total - Decimal("10000.00")
