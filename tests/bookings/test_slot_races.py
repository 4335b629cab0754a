"""Every path that makes a booking blocking takes the same space lock (`services.hold_slot`): two staff approving
overlapping bookings at once in the admin, on MariaDB with real threads, and exactly one wins."""

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from bookings import services
from bookings.admin import BookingAdmin
from bookings.models import Booking
from lebrq.exceptions import SlotConflict


def change_form(booking: Booking, status: str) -> dict:
    start, end = timezone.localtime(booking.start_datetime), timezone.localtime(booking.end_datetime)
    return {
        "customer": booking.customer_id,
        "space": booking.space_id,
        "start_datetime_0": start.date().isoformat(),
        "start_datetime_1": start.strftime("%H:%M:%S"),
        "end_datetime_0": end.date().isoformat(),
        "end_datetime_1": end.strftime("%H:%M:%S"),
        "attendees": booking.attendees,
        "status": status,
        "total_amount": str(booking.total_amount),
        "items-TOTAL_FORMS": 0,
        "items-INITIAL_FORMS": 0,
        "payments-TOTAL_FORMS": 0,
        "payments-INITIAL_FORMS": 0,
    }


def pending(customer, space, start, hours=3) -> Booking:
    return Booking.objects.create(
        customer=customer,
        space=space,
        start_datetime=start,
        end_datetime=start + timedelta(hours=hours),
        total_amount=Decimal("100.00"),
    )


@pytest.mark.django_db
def test_hold_slot_refuses_an_overlap_and_needs_a_transaction(customer, other_customer, hall, in_two_days_10am):
    held = pending(customer, hall, in_two_days_10am)
    Booking.objects.filter(pk=held.pk).update(status="approved")
    other = pending(other_customer, hall, in_two_days_10am + timedelta(hours=2))
    with pytest.raises(SlotConflict, match=held.booking_reference):
        services.hold_slot(hall.pk, other.start_datetime, other.end_datetime, exclude_pk=other.pk)
    services.hold_slot(hall.pk, held.start_datetime, held.end_datetime, exclude_pk=held.pk)  # itself: no clash
    if not connection.in_atomic_block:
        with pytest.raises(RuntimeError):
            services.hold_slot(hall.pk, held.start_datetime, held.end_datetime)
    with transaction.atomic():
        services.hold_slot(hall.pk, in_two_days_10am + timedelta(hours=3), in_two_days_10am + timedelta(hours=4))


@pytest.mark.django_db
def test_admin_refuses_to_approve_an_overlap(django_user_model, customer, other_customer, hall, in_two_days_10am):
    admin = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-boss-123")
    client = Client()
    client.force_login(admin)
    first = pending(customer, hall, in_two_days_10am)
    second = pending(other_customer, hall, in_two_days_10am + timedelta(hours=1))
    assert (
        client.post(f"/admin/bookings/booking/{first.pk}/change/", change_form(first, "confirmed")).status_code == 302
    )
    response = client.post(f"/admin/bookings/booking/{second.pk}/change/", change_form(second, "approved"))
    assert response.status_code == 200
    assert f"The slot overlaps {first.booking_reference} (confirmed)." in response.content.decode()
    assert Booking.objects.get(pk=second.pk).status == "pending"


@pytest.mark.django_db(transaction=True)
def test_two_staff_approving_overlapping_bookings_at_once_one_wins(
    django_user_model, customer, other_customer, hall, in_two_days_10am, monkeypatch
):
    if connection.vendor == "sqlite":
        pytest.skip("in-memory SQLite cannot take concurrent writers (tests/bookings/test_invoice_numbering.py)")
    admin = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-boss-123")
    save_model = BookingAdmin.save_model

    def slow_save(self, request, obj, form, change):
        time.sleep(0.3)  # widen the window between the overlap check and the save
        save_model(self, request, obj, form, change)

    monkeypatch.setattr(BookingAdmin, "save_model", slow_save)
    for attempt in range(3):
        start = in_two_days_10am + timedelta(days=attempt)
        bookings = [pending(customer, hall, start), pending(other_customer, hall, start + timedelta(hours=1))]
        barrier = threading.Barrier(2)
        statuses, errors = {}, []

        def approve(booking):
            try:
                client = Client()
                client.force_login(admin)
                barrier.wait()
                url = f"/admin/bookings/booking/{booking.pk}/change/"
                statuses[booking.pk] = client.post(url, change_form(booking, "approved")).status_code
            except Exception as exc:
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=approve, args=(booking,)) for booking in bookings]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors
        assert sorted(statuses.values()) == [200, 302]
        approved = Booking.objects.filter(pk__in=[b.pk for b in bookings], status="approved")
        assert approved.count() == 1
