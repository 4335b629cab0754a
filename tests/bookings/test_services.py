"""Booking services raise the project's own exceptions (no HTTP): the slot rule, cancelling, the buyer details."""

from datetime import timedelta

import pytest

from bookings import services
from bookings.models import Booking
from lebrq.exceptions import InvalidBooking, InvoiceIssued, NotCancellable, SlotConflict


def create(customer, hall, start, **changes):
    arguments = {
        "customer": customer,
        "space_id": hall.pk,
        "start": start,
        "end": start + timedelta(hours=2),
        "attendees": 10,
        "items": [],
        "custom_items": [],
    }
    return services.create_booking(**(arguments | changes))


@pytest.mark.django_db
def test_create_refuses_a_taken_slot_and_names_a_field_it_cannot_book(customer, hall, in_two_days_10am):
    booking = create(customer, hall, in_two_days_10am)
    Booking.objects.filter(pk=booking.pk).update(status=Booking.Status.APPROVED)
    with pytest.raises(SlotConflict, match="already booked for an overlapping time slot"):
        create(customer, hall, in_two_days_10am + timedelta(hours=1))
    with pytest.raises(InvalidBooking) as refused:
        create(customer, hall, in_two_days_10am + timedelta(days=1), attendees=hall.capacity + 1)
    assert refused.value.field == "attendees"
    assert str(refused.value) == f"The space holds at most {hall.capacity} people."


@pytest.mark.django_db
def test_cancel_refuses_a_finished_booking(customer, hall, in_two_days_10am):
    booking = create(customer, hall, in_two_days_10am)
    Booking.objects.filter(pk=booking.pk).update(status=Booking.Status.COMPLETED)
    with pytest.raises(NotCancellable) as refused:
        services.cancel_booking(booking.pk)
    assert str(refused.value) == "A completed booking cannot be cancelled."


@pytest.mark.django_db
def test_set_billing_stores_the_buyer_until_the_tax_invoice_is_numbered(customer, hall, in_two_days_10am):
    booking = create(customer, hall, in_two_days_10am)
    services.set_billing(booking.pk, {"billing_name": "Asha Events LLP", "billing_gstin": "27AAPFU0939F1ZV"})
    stored = Booking.objects.get(pk=booking.pk)
    assert (stored.billing_name, stored.billing_gstin) == ("Asha Events LLP", "27AAPFU0939F1ZV")

    Booking.objects.filter(pk=booking.pk).update(invoice_number="LEBRQ/2026-27/000001")
    with pytest.raises(InvoiceIssued, match="Tax invoice LEBRQ/2026-27/000001 has been issued"):
        services.set_billing(booking.pk, {"billing_name": "Someone Else"})
    assert Booking.objects.get(pk=booking.pk).billing_name == "Asha Events LLP"
    Booking.objects.filter(pk=booking.pk).update(invoice_number=None)
    with pytest.raises(ValueError) as refused:
        services.set_billing(booking.pk, {"status": "paid"})
    assert str(refused.value) == "Not billing fields: ['status']"
