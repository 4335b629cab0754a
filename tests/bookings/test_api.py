"""The bookings API through Django's test client: auth, catalogue, create/list/detail/cancel, errors."""

from datetime import timedelta
from decimal import Decimal

import pytest

from bookings.models import Booking, BookingItem

pytestmark = pytest.mark.django_db


def booking_payload(space, start, hours=4, **extra):
    return {
        "space_id": space.id,
        "start_datetime": start.isoformat(),
        "end_datetime": (start + timedelta(hours=hours)).isoformat(),
        "attendees": 120,
        **extra,
    }


def test_login_returns_bearer_token_that_authenticates(api, customer):
    response = api.post("/api/auth/login", {"username": "asha", "password": "pw-asha-123"}, format="json")
    assert response.status_code == 200
    assert response.json()["token_type"] == "bearer"
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access_token']}")
    me = api.get("/api/auth/me")
    assert me.status_code == 200
    assert me.json()["username"] == "asha"
    assert me.json()["is_staff"] is False


def test_login_with_wrong_password_is_401_in_the_error_shape(api, customer):
    response = api.post("/api/auth/login", {"username": "asha", "password": "nope"}, format="json")
    assert response.status_code == 401
    body = response.json()
    assert body == {
        "detail": "Incorrect username or password.",
        "success": False,
        "message": "Incorrect username or password.",
        "code": "authentication_failed",
    }


def test_login_with_missing_field_is_400(api):
    response = api.post("/api/auth/login", {"username": "asha"}, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "password: This field is required."
    assert response.json()["detail"] == {"password": ["This field is required."]}


def test_api_without_token_is_401(api):
    response = api.get("/api/bookings")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_venues_are_public_with_spaces_and_prices(api, hall):
    response = api.get("/api/venues")
    assert response.status_code == 200
    assert response.json() == [
        {
            "id": hall.venue.id,
            "name": "LeBRQ Grand",
            "address": "12 MG Road",
            "city": "Kochi",
            "state": "Kerala",
            "spaces": [
                {
                    "id": hall.id,
                    "venue_id": hall.venue.id,
                    "name": "Grand Hall",
                    "capacity": 300,
                    "price_per_hour": "5000.00",
                }
            ],
        }
    ]
    assert api.get(f"/api/venues/{hall.venue.id}").json()["name"] == "LeBRQ Grand"
    assert api.get("/api/venues/999999").status_code == 404


def test_items_are_public(api, catering):
    assert api.get("/api/items").json() == [
        {"id": catering.id, "name": "Catering", "unit_price": "650.00", "hsn_sac": "996334"}
    ]


def test_create_booking_prices_hours_times_rate_plus_items(customer_api, hall, catering, in_two_days_10am):
    payload = booking_payload(
        hall,
        in_two_days_10am,
        hours=3.5,
        items=[{"item_id": catering.id, "quantity": 100}],
        custom_items=[{"name": "Flower décor", "quantity": 2, "unit_price": "1250.50"}],
        customer_note="Vegetarian only",
        event_type="Wedding",
    )
    response = customer_api.post("/api/bookings", payload, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    # 3.5 h × 5000 + 100 × 650 + 2 × 1250.50
    assert body["total_amount"] == "85001.00"
    assert body["status"] == "pending"
    assert body["booking_reference"].startswith("BK-")
    assert len(body["booking_reference"]) == 13
    assert [(i["name"], i["quantity"], i["line_total"]) for i in body["items"]] == [
        ("Catering", 100, "65000.00"),
        ("Flower décor", 2, "2501.00"),
    ]
    assert "admin_note" not in body
    booking = Booking.objects.get(pk=body["id"])
    assert booking.total_amount == Decimal("85001.00")
    assert BookingItem.objects.filter(booking=booking).count() == 2


def test_overlap_with_approved_booking_is_409(customer_api, hall, in_two_days_10am):
    first = customer_api.post("/api/bookings", booking_payload(hall, in_two_days_10am), format="json")
    Booking.objects.filter(pk=first.json()["id"]).update(status=Booking.Status.APPROVED)
    clash = customer_api.post(
        "/api/bookings", booking_payload(hall, in_two_days_10am + timedelta(hours=2)), format="json"
    )
    assert clash.status_code == 409
    assert clash.json()["code"] == "slot_conflict"
    touching = customer_api.post(
        "/api/bookings", booking_payload(hall, in_two_days_10am + timedelta(hours=4)), format="json"
    )
    assert touching.status_code == 201
    assert Booking.objects.count() == 2


def test_pending_booking_does_not_hold_the_slot(customer_api, other_api, hall, in_two_days_10am):
    assert customer_api.post("/api/bookings", booking_payload(hall, in_two_days_10am), format="json").status_code == 201
    assert other_api.post("/api/bookings", booking_payload(hall, in_two_days_10am), format="json").status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"end_datetime": "2020-01-01T00:00:00+05:30"}, "end_datetime"),
        ({"space_id": 999999}, "space_id"),
        ({"attendees": 301}, "attendees"),
        ({"attendees": 0}, "attendees"),
        ({"items": [{"item_id": 999999, "quantity": 1}]}, "items"),
        ({"custom_items": [{"name": "x", "quantity": 1, "unit_price": "-1"}]}, "custom_items"),
        ({"start_datetime": "not a date"}, "start_datetime"),
    ],
)
def test_invalid_booking_is_400_and_leaves_no_row(customer_api, hall, in_two_days_10am, change, field):
    response = customer_api.post("/api/bookings", {**booking_payload(hall, in_two_days_10am), **change}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert field in body["detail"]
    assert body["message"].startswith(f"{field}:")
    assert Booking.objects.count() == 0


def test_list_is_own_bookings_paginated(customer_api, other_api, staff_api, hall, in_two_days_10am):
    for day in range(3):
        customer_api.post("/api/bookings", booking_payload(hall, in_two_days_10am + timedelta(days=day)), format="json")
    other_api.post("/api/bookings", booking_payload(hall, in_two_days_10am), format="json")

    page = customer_api.get("/api/bookings", {"page": 1, "page_size": 2}).json()
    assert len(page["items"]) == 2
    assert page["pagination"] == {
        "page": 1,
        "page_size": 2,
        "total": 3,
        "total_pages": 2,
        "has_next": True,
        "has_prev": False,
    }
    second = customer_api.get("/api/bookings", {"page": 2, "page_size": 2}).json()
    assert len(second["items"]) == 1
    assert second["pagination"]["has_prev"] is True
    assert staff_api.get("/api/bookings").json()["pagination"]["total"] == 4
    assert other_api.get("/api/bookings").json()["pagination"]["total"] == 1


@pytest.mark.parametrize(
    ("page", "page_size", "total", "counted"),
    [(1, 2, 3, True), (2, 2, 3, False), (1, 5, 3, False), (1, 3, 3, True), (2, 3, 3, True), (9, 2, 3, True)],
)
def test_total_is_counted_only_when_the_page_does_not_show_it(
    customer_api, hall, in_two_days_10am, page, page_size, total, counted, django_assert_num_queries
):
    for day in range(3):
        customer_api.post("/api/bookings", booking_payload(hall, in_two_days_10am + timedelta(days=day)), format="json")
    shown = max(0, min(page_size, total - (page - 1) * page_size))
    # user (token), bookings, then items and payments when the page is not empty, then the count if needed
    queries = 2 + (2 if shown else 0) + (1 if counted else 0)
    with django_assert_num_queries(queries):
        body = customer_api.get("/api/bookings", {"page": page, "page_size": page_size}).json()
    assert len(body["items"]) == shown
    assert body["pagination"]["total"] == total
    assert body["pagination"]["total_pages"] == -(-total // page_size)


def test_an_empty_first_page_has_total_zero_without_counting(customer_api, django_assert_num_queries):
    with django_assert_num_queries(2):
        body = customer_api.get("/api/bookings").json()
    assert body["pagination"] == {
        "page": 1,
        "page_size": 20,
        "total": 0,
        "total_pages": 0,
        "has_next": False,
        "has_prev": False,
    }


def test_list_filters_by_status_and_dates(customer_api, hall, in_two_days_10am):
    ids = [
        customer_api.post(
            "/api/bookings", booking_payload(hall, in_two_days_10am + timedelta(days=day)), format="json"
        ).json()["id"]
        for day in range(3)
    ]
    Booking.objects.filter(pk=ids[0]).update(status=Booking.Status.CONFIRMED)
    confirmed = customer_api.get("/api/bookings", {"status": "confirmed"}).json()
    assert [b["id"] for b in confirmed["items"]] == [ids[0]]
    second_day = (in_two_days_10am + timedelta(days=1)).date().isoformat()
    by_date = customer_api.get("/api/bookings", {"from_date": second_day, "to_date": second_day}).json()
    assert [b["id"] for b in by_date["items"]] == [ids[1]]


@pytest.mark.parametrize(
    "params", [{"page_size": 101}, {"page_size": 0}, {"page": "x"}, {"status": "bogus"}, {"from_date": "2026-13-01"}]
)
def test_list_rejects_bad_query_with_400(customer_api, params):
    response = customer_api.get("/api/bookings", params)
    assert response.status_code == 400
    assert response.json()["success"] is False


def test_other_customers_booking_is_404_but_staff_sees_it(customer_api, other_api, staff_api, hall, in_two_days_10am):
    booking_id = customer_api.post("/api/bookings", booking_payload(hall, in_two_days_10am), format="json").json()["id"]
    assert other_api.get(f"/api/bookings/{booking_id}").status_code == 404
    assert other_api.post(f"/api/bookings/{booking_id}/cancel").status_code == 404
    staff_view = staff_api.get(f"/api/bookings/{booking_id}").json()
    assert staff_view["id"] == booking_id
    assert staff_view["admin_note"] == ""


def test_cancel_then_cancel_again_is_409(customer_api, hall, in_two_days_10am):
    booking_id = customer_api.post("/api/bookings", booking_payload(hall, in_two_days_10am), format="json").json()["id"]
    response = customer_api.post(f"/api/bookings/{booking_id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    again = customer_api.post(f"/api/bookings/{booking_id}/cancel")
    assert again.status_code == 409
    assert again.json()["code"] == "not_cancellable"


def test_cancelled_booking_has_no_invoice(customer_api, hall, in_two_days_10am):
    booking_id = customer_api.post("/api/bookings", booking_payload(hall, in_two_days_10am), format="json").json()["id"]
    customer_api.post(f"/api/bookings/{booking_id}/cancel")
    response = customer_api.get(f"/api/bookings/{booking_id}/invoice")
    assert response.status_code == 409
    assert response.json()["code"] == "invoice_not_available"


def test_unknown_url_is_json_404(api):
    response = api.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json()["success"] is False


def test_openapi_schema_and_docs(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for expected in ["/api/auth/login", "/api/bookings", "/api/bookings/{id}/invoice", "/api/uploads/image"]:
        assert any(p.rstrip("/") == expected for p in paths), expected
    assert api.get("/api/docs/").status_code == 200


def test_total_beyond_the_money_columns_is_400_not_500(settings, customer_api, hall, in_two_days_10am):
    settings.CUSTOM_LINE_MAX_TOTAL = Decimal("10") ** 20
    custom = [{"name": "x", "quantity": 10000, "unit_price": "9999999999.99"}]
    response = customer_api.post(
        "/api/bookings", booking_payload(hall, in_two_days_10am, hours=1, custom_items=custom), format="json"
    )
    assert response.status_code == 400
    assert response.json()["detail"] == {"custom_items": ["The booking total may be at most 999999999999.99 INR."]}
    assert Booking.objects.count() == 0


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00", "1999-06-01T00:00:00+00:00", "9999-12-31T20:00:00"])
def test_dates_outside_the_supported_years_are_400(customer_api, hall, moment):
    payload = {"space_id": hall.id, "start_datetime": moment, "end_datetime": moment, "attendees": 1}
    response = customer_api.post("/api/bookings", payload, format="json")
    assert response.status_code == 400
    assert "start_datetime" in response.json()["detail"]


@pytest.mark.parametrize("params", [{"to_date": "9999-12-31"}, {"from_date": "0001-01-01"}])
def test_list_dates_outside_the_supported_years_are_400(customer_api, params):
    response = customer_api.get("/api/bookings", params)
    assert response.status_code == 400
    assert response.json()["detail"] == {"date": ["Dates must be between the years 2000 and 9998."]}


def test_booking_with_a_numbered_tax_invoice_cannot_be_cancelled(customer_api, hall, in_two_days_10am):
    booking_id = customer_api.post("/api/bookings", booking_payload(hall, in_two_days_10am), format="json").json()["id"]
    Booking.objects.filter(pk=booking_id).update(status=Booking.Status.CONFIRMED, invoice_number="LEBRQ/2026-27/000001")
    response = customer_api.post(f"/api/bookings/{booking_id}/cancel")
    assert response.status_code == 409
    assert response.json()["code"] == "invoice_issued"
    assert Booking.objects.get(pk=booking_id).status == Booking.Status.CONFIRMED
