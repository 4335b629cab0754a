"""`bookings.booking_rows` against its reference, `BookingSerializer`: same keys, same order, same values."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIRequestFactory

from bookings import booking_rows, services
from bookings.models import Booking, Payment
from bookings.serializers import BookingSerializer


@pytest.fixture
def varied_bookings(customer, other_customer, hall, catering, in_two_days_10am):
    """Three bookings: items (catalogue and custom), payments of each status with and without ``paid_at``,
    billing details and a tax invoice number, notes; one booking with nothing attached; one of another customer."""
    full = services.create_booking(
        customer=customer,
        space_id=hall.pk,
        start=in_two_days_10am,
        end=in_two_days_10am + timedelta(hours=3, minutes=30),
        attendees=120,
        items=[(catering.pk, 120)],
        custom_items=[services.CustomLine(name="Décor ✿ फूल", quantity=2, unit_price=Decimal("1234.50"))],
        customer_note="Stage on the left\nand a ramp",
        event_type="Wedding",
    )
    Booking.objects.filter(pk=full.pk).update(
        admin_note="VIP",
        billing_name="Asha Traders",
        billing_gstin="32AAACA1234A1Z5",
        invoice_number="LEBRQ/2026-27/000007",
        status=Booking.Status.APPROVED,
    )
    paid = datetime(2026, 11, 29, 18, 45, 7, 123456, tzinfo=UTC)  # crosses midnight in Asia/Kolkata
    for status, amount, paid_at in [
        (Payment.Status.SUCCESS, Decimal("1000.5"), paid),
        (Payment.Status.PENDING, Decimal("0.00"), None),
        (Payment.Status.FAILED, Decimal("99999999999.99"), None),
        (Payment.Status.REFUNDED, Decimal("12"), paid - timedelta(days=400)),
    ]:
        Payment.objects.create(booking=full, amount=amount, status=status, paid_at=paid_at, provider="upi")
    bare = services.create_booking(
        customer=customer,
        space_id=hall.pk,
        start=in_two_days_10am + timedelta(days=3),
        end=in_two_days_10am + timedelta(days=3, hours=1),
        attendees=1,
        items=[],
        custom_items=[],
        customer_note="",
        event_type="",
    )
    other = services.create_booking(
        customer=other_customer,
        space_id=hall.pk,
        start=in_two_days_10am + timedelta(days=5),
        end=in_two_days_10am + timedelta(days=5, hours=2),
        attendees=10,
        items=[(catering.pk, 1)],
        custom_items=[],
        customer_note="",
        event_type="",
    )
    return [full, bare, other]


def _as_json(data) -> str:
    """What a client receives: keys in order, values as JSON."""
    return json.dumps(data, ensure_ascii=False)


@pytest.mark.parametrize("time_zone", ["Asia/Kolkata", "UTC"])
@pytest.mark.parametrize("is_staff", [False, True])
def test_bookings_match_the_serializer_key_for_key(varied_bookings, customer, staff, time_zone, is_staff, settings):
    user = staff if is_staff else customer
    request = APIRequestFactory().get("/api/bookings")
    request.user = user
    with timezone.override(time_zone):
        reference = BookingSerializer(
            Booking.objects.select_related("space__venue").prefetch_related("items", "payments"),
            many=True,
            context={"request": request},
        ).data
        ours = booking_rows.bookings(Booking.objects.all(), staff=is_staff)
    assert len(ours) == 3
    assert _as_json(ours) == _as_json(reference)
    assert ("admin_note" in ours[0]) is is_staff


def test_values_are_formatted_as_drf_does(varied_bookings):
    with timezone.override("Asia/Kolkata"):
        full = booking_rows.bookings(Booking.objects.filter(pk=varied_bookings[0].pk), staff=True)[0]
    assert [p["paid_at"] for p in full["payments"]] == ["2026-11-30T00:15:07.123456+05:30", None, None,
                                                        "2025-10-26T00:15:07.123456+05:30"]  # fmt: skip
    assert [p["amount"] for p in full["payments"]] == ["1000.50", "0.00", "99999999999.99", "12.00"]
    assert [(line["name"], line["unit_price"], line["line_total"]) for line in full["items"]] == [
        ("Catering", "650.00", "78000.00"),
        ("Décor ✿ फूल", "1234.50", "2469.00"),
    ]
    assert full["space"] == {
        "id": varied_bookings[0].space_id,
        "venue_id": varied_bookings[0].space.venue_id,
        "name": "Grand Hall",
        "capacity": 300,
        "price_per_hour": "5000.00",
    }
    assert full["venue_name"] == "LeBRQ Grand"
    assert full["invoice_number"] == "LEBRQ/2026-27/000007"


def test_three_queries_whatever_the_number_of_bookings(varied_bookings, django_assert_num_queries):
    with django_assert_num_queries(3):
        assert len(booking_rows.bookings(Booking.objects.all(), staff=True)) == 3
    with django_assert_num_queries(1):  # nothing found: no item or payment query
        assert booking_rows.bookings(Booking.objects.filter(pk=0), staff=True) == []


def test_a_sliced_queryset_keeps_its_order(varied_bookings):
    ordered = list(Booking.objects.values_list("id", flat=True))
    assert [b["id"] for b in booking_rows.bookings(Booking.objects.all()[1:3], staff=True)] == ordered[1:3]


@pytest.mark.parametrize("pk", ["abc", "99999999999999999999999", "0"])
def test_detail_of_no_booking_is_json_404(customer_api, pk):
    response = customer_api.get(f"/api/bookings/{pk}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_list_and_detail_return_the_representation(customer_api, customer, varied_bookings):
    listed = customer_api.get("/api/bookings").json()["items"]
    expected = booking_rows.bookings(Booking.objects.filter(customer=customer), staff=False)
    assert listed == json.loads(_as_json(expected))
    assert customer_api.get(f"/api/bookings/{varied_bookings[0].pk}").json() == listed[1]


@pytest.fixture
def varied_venues(venue, hall):
    """Three venues: one with an inactive space among spaces whose names sort before their ids, one without
    spaces, one inactive."""
    from bookings.models import Space, Venue

    Space.objects.create(venue=venue, name="Annex", capacity=40, price_per_hour=Decimal("750.5"))
    Space.objects.create(venue=venue, name="Closed", capacity=10, price_per_hour=Decimal("1"), is_active=False)
    Space.objects.create(venue=venue, name="Annex", capacity=41, price_per_hour=Decimal("99999999.99"))
    Venue.objects.create(name="Ärmel Hall", address="", city="", state="")
    Venue.objects.create(name="Shut", address="x", city="y", state="z", is_active=False)


def test_venues_match_the_serializer_key_for_key(varied_venues):
    from bookings.models import Venue
    from bookings.serializers import VenueSerializer

    visible = Venue.objects.filter(is_active=True)
    expected = VenueSerializer(visible.prefetch_related("spaces"), many=True).data
    ours = booking_rows.venues(visible)
    assert _as_json(ours) == _as_json(expected)
    spaces = {v["name"]: v["spaces"] for v in ours}  # the venues' order is the database's collation's
    assert {name: len(listed) for name, listed in spaces.items()} == {"LeBRQ Grand": 3, "Ärmel Hall": 0}
    assert [(space["name"], space["price_per_hour"]) for space in spaces["LeBRQ Grand"]] == [
        ("Annex", "750.50"),
        ("Annex", "99999999.99"),
        ("Grand Hall", "5000.00"),
    ]


def test_two_queries_whatever_the_number_of_venues(varied_venues, django_assert_num_queries):
    from bookings.models import Venue

    with django_assert_num_queries(2):
        assert len(booking_rows.venues(Venue.objects.filter(is_active=True))) == 2
    with django_assert_num_queries(1):
        assert booking_rows.venues(Venue.objects.filter(pk=0)) == []


def test_venue_list_returns_the_representation(api, varied_venues):
    from bookings.models import Venue

    response = api.get("/api/venues")
    assert response.status_code == 200
    assert response.json() == json.loads(_as_json(booking_rows.venues(Venue.objects.filter(is_active=True))))
