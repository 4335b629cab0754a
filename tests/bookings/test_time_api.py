"""Time rules through the API and the admin: past, lead, horizon, duration, and a venue in a DST zone."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from bookings.invoicing.document import build_invoice
from bookings.models import Booking, Space, Venue

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")


def next_dst_change(forward: bool) -> date:
    """The next day (at least two days ahead) on which New York's clocks go forward (or back)."""
    day = timezone.localdate() + timedelta(days=2)
    for _ in range(400):
        before = datetime(day.year, day.month, day.day, 0, 0, tzinfo=NEW_YORK).utcoffset()
        after = datetime(day.year, day.month, day.day, 4, 0, tzinfo=NEW_YORK).utcoffset()
        if before != after and (after > before) == forward:
            return day
        day += timedelta(days=1)
    raise AssertionError("no DST change within 400 days")


@pytest.fixture
def ny_hall(settings):
    settings.TIME_ZONE = "America/New_York"
    venue = Venue.objects.create(name="LeBRQ Manhattan", state="New York")
    assert venue.time_zone == "America/New_York"  # the default is settings.TIME_ZONE
    return Space.objects.create(venue=venue, name="Loft", capacity=50, price_per_hour=Decimal("1200.00"))


def create(client, space, start: str, end: str):
    payload = {"space_id": space.id, "start_datetime": start, "end_datetime": end, "attendees": 10}
    return client.post("/api/bookings", payload, format="json")


def test_one_real_hour_across_spring_forward_is_billed_as_one(customer_api, ny_hall):
    day = next_dst_change(forward=True).isoformat()
    response = create(customer_api, ny_hall, f"{day}T01:30", f"{day}T03:30")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["total_amount"] == "1200.00"
    assert body["start_datetime"] == f"{day}T01:30:00-05:00"
    assert body["end_datetime"] == f"{day}T03:30:00-04:00"
    booking = Booking.objects.get(pk=body["id"])
    invoice = build_invoice(booking)
    assert invoice.totals.lines[0].quantity == 1
    assert invoice.totals.taxable_value == Decimal("1200.00")
    assert invoice.event_start.utcoffset() == timedelta(hours=-5)
    assert customer_api.get(f"/api/bookings/{booking.pk}").json()["end_datetime"] == f"{day}T03:30:00-04:00"


def test_two_real_hours_across_fall_back_are_billed_as_two(customer_api, ny_hall):
    day = next_dst_change(forward=False).isoformat()
    response = create(customer_api, ny_hall, f"{day}T00:30", f"{day}T01:30-05:00")
    assert response.status_code == 201, response.json()
    assert response.json()["total_amount"] == "2400.00"
    assert response.json()["end_datetime"] == f"{day}T01:30:00-05:00"


@pytest.mark.parametrize(
    ("forward", "start", "end", "field", "code"),
    [
        (True, "02:30", "04:00", "start_datetime", "nonexistent_time"),
        (True, "01:00", "02:15", "end_datetime", "nonexistent_time"),
        (False, "01:30", "03:00", "start_datetime", "ambiguous_time"),
    ],
)
def test_local_times_that_do_not_exist_or_repeat_are_400(customer_api, ny_hall, forward, start, end, field, code):
    day = next_dst_change(forward).isoformat()
    response = create(customer_api, ny_hall, f"{day}T{start}", f"{day}T{end}")
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert list(response.json()["detail"]) == [field]
    assert Booking.objects.count() == 0


def test_naive_times_are_read_in_the_venues_zone_not_the_servers(settings, customer_api, hall):
    hall.venue.time_zone = "America/New_York"
    hall.venue.save()
    settings.TIME_ZONE = "Asia/Kolkata"
    day = (timezone.now() + timedelta(days=20)).date().isoformat()
    response = create(customer_api, hall, f"{day}T10:00", f"{day}T12:00")
    assert response.status_code == 201
    booking = Booking.objects.get()
    assert booking.start_datetime.astimezone(NEW_YORK).hour == 10
    assert response.json()["start_datetime"].startswith(f"{day}T10:00:00-0")


@pytest.mark.parametrize(
    ("start_from_now", "minutes", "field", "code"),
    [
        (timedelta(days=-400), 60, "start_datetime", "in_the_past"),
        (timedelta(minutes=-5), 60, "start_datetime", "in_the_past"),
        (timedelta(days=731), 60, "start_datetime", "beyond_horizon"),
        (timedelta(days=1), 29, "end_datetime", "too_short"),
        (timedelta(days=1), -60, "end_datetime", "invalid"),
    ],
)
def test_times_outside_the_rules_are_400_and_leave_no_row(customer_api, hall, start_from_now, minutes, field, code):
    start = (timezone.now() + start_from_now).replace(second=0, microsecond=0)
    end = start + timedelta(minutes=minutes)
    response = create(customer_api, hall, start.isoformat(), end.isoformat())
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert list(response.json()["detail"]) == [field]
    assert Booking.objects.count() == 0


def test_seconds_and_the_lead_time_are_refused(settings, customer_api, hall, in_two_days_10am):
    response = create(
        customer_api, hall, in_two_days_10am.isoformat(), (in_two_days_10am + timedelta(seconds=1)).isoformat()
    )
    assert response.json()["code"] == "whole_minutes"
    thirty = in_two_days_10am + timedelta(minutes=30)
    assert create(customer_api, hall, in_two_days_10am.isoformat(), thirty.isoformat()).status_code == 201
    settings.BOOKING_MIN_LEAD = 3 * 24 * 60
    later = in_two_days_10am + timedelta(hours=2)
    response = create(customer_api, hall, later.isoformat(), (later + timedelta(hours=1)).isoformat())
    assert (response.status_code, response.json()["code"]) == (400, "too_soon")


def test_admin_refuses_a_local_time_skipped_by_dst(settings, django_user_model, customer, ny_hall):
    admin = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-boss-123")
    client = Client()
    client.force_login(admin)
    day = next_dst_change(forward=True).isoformat()
    form = {
        "customer": customer.pk,
        "space": ny_hall.pk,
        "start_datetime_0": day,
        "start_datetime_1": "02:30:00",
        "end_datetime_0": day,
        "end_datetime_1": "04:00:00",
        "attendees": 1,
        "status": "pending",
        "total_amount": "0",
        "items-TOTAL_FORMS": 0,
        "items-INITIAL_FORMS": 0,
        "payments-TOTAL_FORMS": 0,
        "payments-INITIAL_FORMS": 0,
    }
    response = client.post("/admin/bookings/booking/add/", form)
    assert response.status_code == 200
    assert "couldn’t be interpreted in time zone America/New_York" in response.content.decode()
    assert Booking.objects.count() == 0
    form["start_datetime_1"] = "01:30:00"
    response = client.post("/admin/bookings/booking/add/", form)
    assert response.status_code == 302
    booking = Booking.objects.get()
    assert build_invoice(booking).totals.lines[0].quantity == Decimal("1.5")


def test_admin_reads_and_shows_times_in_the_venues_zone(settings, django_user_model, customer):
    settings.TIME_ZONE = "Asia/Kolkata"
    venue = Venue.objects.create(name="LeBRQ Manhattan", time_zone="America/New_York")
    loft = Space.objects.create(venue=venue, name="Loft", capacity=50, price_per_hour=Decimal("1200.00"))
    admin = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-boss-123")
    client = Client()
    client.force_login(admin)
    day = next_dst_change(forward=True).isoformat()
    form = {
        "customer": customer.pk,
        "space": loft.pk,
        "start_datetime_0": day,
        "start_datetime_1": "02:30:00",
        "end_datetime_0": day,
        "end_datetime_1": "04:00:00",
        "attendees": 1,
        "status": "pending",
        "items-TOTAL_FORMS": 0,
        "items-INITIAL_FORMS": 0,
        "payments-TOTAL_FORMS": 0,
        "payments-INITIAL_FORMS": 0,
    }
    response = client.post("/admin/bookings/booking/add/", form)
    assert "couldn’t be interpreted in time zone America/New_York" in response.content.decode()
    form["start_datetime_1"] = "01:30:00"
    assert client.post("/admin/bookings/booking/add/", form).status_code == 302
    booking = Booking.objects.get()
    assert booking.start_datetime.astimezone(NEW_YORK).strftime("%H:%M") == "01:30"
    assert booking.total_amount == Decimal("1800.00")  # 1.5 real hours
    page = client.get(f"/admin/bookings/booking/{booking.pk}/change/").content.decode()
    assert 'name="start_datetime_1" value="01:30:00"' in page


def test_payment_times_are_in_the_venues_zone_in_list_detail_and_serializer(staff_api, customer, ny_hall):
    from datetime import UTC

    from rest_framework.test import APIRequestFactory

    from bookings import booking_rows
    from bookings.models import Payment
    from bookings.serializers import BookingSerializer

    start = (timezone.now() + timedelta(days=40)).replace(second=0, microsecond=0)
    booking = Booking.objects.create(
        customer=customer, space=ny_hall, start_datetime=start, end_datetime=start + timedelta(hours=1)
    )
    paid = datetime(2027, 1, 10, 3, 15, tzinfo=UTC)  # 22:15 the day before in New York
    Payment.objects.create(booking=booking, amount=Decimal("5.00"), status="success", paid_at=paid)
    detail = staff_api.get(f"/api/bookings/{booking.pk}").json()
    assert detail["payments"][0]["paid_at"] == "2027-01-09T22:15:00-05:00"
    request = APIRequestFactory().get("/")
    request.user = type("Staff", (), {"is_staff": True})()
    expected = BookingSerializer(Booking.objects.get(pk=booking.pk), context={"request": request}).data
    rows = booking_rows.bookings(Booking.objects.filter(pk=booking.pk), staff=True)
    assert rows[0] == detail == dict(expected) | {"payments": [dict(p) for p in expected["payments"]]}
