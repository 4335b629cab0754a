"""Availability (public busy intervals), lookup by reference, and a customer's own overlapping bookings (409)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from bookings.models import Booking

pytestmark = pytest.mark.django_db


def payload(space, start, hours=2):
    return {
        "space_id": space.id,
        "start_datetime": start.isoformat(),
        "end_datetime": (start + timedelta(hours=hours)).isoformat(),
        "attendees": 10,
    }


def stored(customer, space, start, status, hours=2):
    return Booking.objects.create(
        customer=customer,
        space=space,
        start_datetime=start,
        end_datetime=start + timedelta(hours=hours),
        status=status,
        total_amount=Decimal("1.00"),
    )


def test_availability_lists_blocking_bookings_without_personal_data(api, customer, hall, in_two_days_10am):
    held = stored(customer, hall, in_two_days_10am, "confirmed")
    stored(customer, hall, in_two_days_10am + timedelta(hours=3), "pending")
    stored(customer, hall, in_two_days_10am + timedelta(hours=6), "cancelled")
    late = stored(customer, hall, in_two_days_10am + timedelta(days=1, hours=13), "paid", hours=4)  # past midnight
    stored(customer, hall, in_two_days_10am + timedelta(days=3), "approved")  # after the range
    day = in_two_days_10am.date()
    response = api.get(
        f"/api/spaces/{hall.id}/availability", {"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat()}
    )
    assert response.status_code == 200
    local = timezone.localtime
    assert response.json() == {
        "space_id": hall.id,
        "time_zone": "Asia/Kolkata",
        "from": day.isoformat(),
        "to": (day + timedelta(days=1)).isoformat(),
        "busy": [
            {"start": local(held.start_datetime).isoformat(), "end": local(held.end_datetime).isoformat()},
            {"start": local(late.start_datetime).isoformat(), "end": local(late.end_datetime).isoformat()},
        ],
    }
    assert "asha" not in response.content.decode().lower()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "from"),
        ({"from": "2027-01-01"}, "to"),
        ({"from": "2027-13-01", "to": "2027-01-02"}, "from"),
        ({"from": "2027-01-02", "to": "2027-01-01"}, "to"),
        ({"from": "2027-01-01", "to": "2027-04-03"}, "to"),  # 93 days
    ],
)
def test_availability_refuses_bad_ranges(api, hall, params, field):
    response = api.get(f"/api/spaces/{hall.id}/availability", params)
    assert response.status_code == 400
    assert list(response.json()["detail"]) == [field]


def test_availability_of_92_days_and_of_unknown_spaces(api, hall):
    url = f"/api/spaces/{hall.id}/availability"
    assert api.get(url, {"from": "2027-01-01", "to": "2027-04-02"}).status_code == 200
    hall.is_active = False
    hall.save()
    assert api.get(url, {"from": "2027-01-01", "to": "2027-01-02"}).status_code == 404
    assert api.get("/api/spaces/999999/availability", {"from": "2027-01-01", "to": "2027-01-02"}).status_code == 404


def test_a_booking_is_found_by_its_reference(customer_api, other_api, staff_api, hall, in_two_days_10am):
    created = customer_api.post("/api/bookings", payload(hall, in_two_days_10am), format="json").json()
    reference = created["booking_reference"]
    assert customer_api.get(f"/api/bookings/{reference}").json() == created
    assert customer_api.get(f"/api/bookings/{reference.lower()}").json()["id"] == created["id"]
    assert staff_api.get(f"/api/bookings/{reference}").json()["id"] == created["id"]
    assert other_api.get(f"/api/bookings/{reference}").status_code == 404
    assert customer_api.get("/api/bookings/BK-0000000000").status_code == 404
    cancelled = customer_api.post(f"/api/bookings/{reference}/cancel")
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")


def test_a_customer_cannot_hold_the_same_slot_twice(customer_api, other_api, hall, in_two_days_10am):
    first = customer_api.post("/api/bookings", payload(hall, in_two_days_10am), format="json")
    assert first.status_code == 201
    again = customer_api.post("/api/bookings", payload(hall, in_two_days_10am + timedelta(hours=1)), format="json")
    assert (again.status_code, again.json()["code"]) == (409, "duplicate_booking")
    assert first.json()["booking_reference"] in again.json()["message"]
    touching = customer_api.post("/api/bookings", payload(hall, in_two_days_10am + timedelta(hours=2)), format="json")
    assert touching.status_code == 201
    assert other_api.post("/api/bookings", payload(hall, in_two_days_10am), format="json").status_code == 201
    Booking.objects.filter(pk=first.json()["id"]).update(status="cancelled")
    assert customer_api.post("/api/bookings", payload(hall, in_two_days_10am), format="json").status_code == 201
    assert Booking.objects.count() == 4
