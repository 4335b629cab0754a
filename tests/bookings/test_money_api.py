"""Money, one truth: the booking JSON, the quote and the invoice give the same amounts (bookings.money)."""

from datetime import timedelta
from decimal import Decimal

import pytest

from bookings.invoicing.document import build_invoice
from bookings.models import Booking, Payment

pytestmark = pytest.mark.django_db


def body(space, start, hours=3, **extra):
    return {
        "space_id": space.id,
        "start_datetime": start.isoformat(),
        "end_datetime": (start + timedelta(hours=hours)).isoformat(),
        "attendees": 100,
        **extra,
    }


def test_quote_answers_the_amounts_and_stores_nothing(customer_api, hall, catering, in_two_days_10am):
    custom = [{"name": "Décor", "quantity": 2, "unit_price": "1234.55"}]
    payload = body(
        hall, in_two_days_10am, hours=1.5, items=[{"item_id": catering.id, "quantity": 3}], custom_items=custom
    )
    response = customer_api.post("/api/bookings/quote", payload, format="json")
    assert response.status_code == 200, response.json()
    assert Booking.objects.count() == 0
    quote = response.json()
    assert quote["lines"] == [
        {
            "name": "Venue rental: Grand Hall",
            "hsn_sac": "997212",
            "quantity": "1.5",
            "unit_price": "5000.00",
            "line_total": "7500.00",
        },
        {"name": "Catering", "hsn_sac": "996334", "quantity": "3", "unit_price": "650.00", "line_total": "1950.00"},
        {"name": "Décor", "hsn_sac": "998596", "quantity": "2", "unit_price": "1234.55", "line_total": "2469.10"},
    ]
    # 11919.10 taxable; CGST = SGST = 9 % = 1072.72 (half up); 14064.54 → 14065.00 (round-off +0.46)
    assert {key: quote[key] for key in ("total_amount", "tax", "cgst", "sgst", "igst", "round_off", "grand_total")} == {
        "total_amount": "11919.10",
        "tax": "2145.44",
        "cgst": "1072.72",
        "sgst": "1072.72",
        "igst": "0.00",
        "round_off": "0.46",
        "grand_total": "14065.00",
    }
    assert (quote["amount_paid"], quote["balance_due"]) == ("0.00", "14065.00")
    assert quote["start_datetime"] == in_two_days_10am.isoformat()

    created = customer_api.post("/api/bookings", payload, format="json").json()
    for key in ("total_amount", "tax", "cgst", "sgst", "igst", "round_off", "grand_total", "balance_due"):
        assert created[key] == quote[key], key
    assert [item["hsn_sac"] for item in created["items"]] == ["996334", "998596"]


def test_booking_json_and_invoice_agree_with_payments(customer_api, staff_api, hall, in_two_days_10am):
    created = customer_api.post("/api/bookings", body(hall, in_two_days_10am), format="json").json()
    booking = Booking.objects.get(pk=created["id"])
    Payment.objects.create(booking=booking, amount=Decimal("5000.00"), status=Payment.Status.SUCCESS)
    Payment.objects.create(booking=booking, amount=Decimal("999.00"), status=Payment.Status.FAILED)
    for client in (customer_api, staff_api):
        detail = client.get(f"/api/bookings/{booking.pk}").json()
        listed = client.get("/api/bookings").json()["items"][0]
        assert detail == {**listed, **({"admin_note": ""} if "admin_note" in listed else {})}
    totals = build_invoice(booking).totals
    assert detail["total_amount"] == str(totals.taxable_value) == "15000.00"
    assert detail["tax"] == str(totals.total_tax) == "2700.00"
    assert detail["grand_total"] == str(totals.grand_total) == "17700.00"
    assert detail["amount_paid"] == "5000.00"
    assert detail["balance_due"] == str(totals.balance_due) == "12700.00"


def test_quote_refuses_what_create_refuses(customer_api, hall, in_two_days_10am):
    past = in_two_days_10am - timedelta(days=30)
    response = customer_api.post("/api/bookings/quote", body(hall, past), format="json")
    assert (response.status_code, response.json()["code"]) == (400, "in_the_past")
    crowd = body(hall, in_two_days_10am, attendees=301)
    assert customer_api.post("/api/bookings/quote", crowd, format="json").status_code == 400
    assert customer_api.post("/api/bookings/quote", {}, format="json").status_code == 400
    assert Booking.objects.count() == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"space_id": 2**63}, "space_id"),
        ({"space_id": 10**30}, "space_id"),
        ({"items": [{"item_id": 2**64, "quantity": 1}]}, "items"),
        ({"items": [{"item_id": 1, "quantity": 2**40}]}, "items"),
        ({"attendees": 2**40}, "attendees"),
        ({"custom_items": [{"name": "x", "quantity": 1, "unit_price": "1e20"}]}, "custom_items"),
        ({"custom_items": [{"name": "x", "quantity": 1, "unit_price": "10000000000.00"}]}, "custom_items"),
    ],
)
def test_numbers_beyond_storage_are_400(customer_api, hall, in_two_days_10am, change, field):
    response = customer_api.post("/api/bookings", {**body(hall, in_two_days_10am), **change}, format="json")
    assert response.status_code == 400
    assert list(response.json()["detail"]) == [field]
    assert Booking.objects.count() == 0


@pytest.mark.parametrize("pk", ["9223372036854775808", "99999999999999999999999"])
def test_booking_ids_beyond_storage_are_404(customer_api, pk):
    assert customer_api.get(f"/api/bookings/{pk}").status_code == 404


def test_a_custom_line_is_bounded(settings, customer_api, hall, in_two_days_10am):
    settings.CUSTOM_LINE_MAX_TOTAL = Decimal("50000.00")
    over = [{"name": "Fireworks", "quantity": 2, "unit_price": "25000.01"}]
    response = customer_api.post("/api/bookings", body(hall, in_two_days_10am, custom_items=over), format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == {"custom_items": ["A custom line may total at most 50000.00 INR."]}
    at = [{"name": "Fireworks", "quantity": 2, "unit_price": "25000.00"}]
    assert (
        customer_api.post("/api/bookings", body(hall, in_two_days_10am, custom_items=at), format="json").status_code
        == 201
    )


def test_the_largest_accepted_total_can_be_invoiced(settings, customer_api, hall, in_two_days_10am):
    settings.CUSTOM_LINE_MAX_TOTAL = Decimal("999999999999.99")
    rental = 3 * 5000
    custom = [
        {"name": "Gold leaf", "quantity": 99, "unit_price": "9999999999.99"},
        {
            "name": "Rest",
            "quantity": 1,
            "unit_price": str(Decimal("999999999999.99") - 99 * Decimal("9999999999.99") - rental),
        },
    ]
    response = customer_api.post("/api/bookings", body(hall, in_two_days_10am, custom_items=custom), format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["total_amount"] == "999999999999.99"
    assert created["grand_total"] == "1180000000000.00"
    invoice = build_invoice(Booking.objects.get(pk=created["id"]))
    assert invoice.amount_in_words == "Rupees One Lakh Eighteen Thousand Crore Only"
    pdf = customer_api.get(f"/api/bookings/{created['id']}/invoice")
    assert (pdf.status_code, pdf["Content-Type"]) == (200, "application/pdf")


def test_a_later_price_change_does_not_change_a_booking(customer_api, hall, in_two_days_10am):
    created = customer_api.post("/api/bookings", body(hall, in_two_days_10am), format="json").json()
    hall.price_per_hour = Decimal("9999.00")
    hall.save()
    detail = customer_api.get(f"/api/bookings/{created['id']}").json()
    assert (detail["total_amount"], detail["grand_total"]) == ("15000.00", "17700.00")
    assert build_invoice(Booking.objects.get(pk=created["id"])).totals.grand_total == Decimal("17700.00")


def test_admin_edits_reprice_the_booking(django_user_model, customer, hall, catering, in_two_days_10am):
    from django.test import Client
    from django.utils import timezone

    admin = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-boss-123")
    client = Client()
    client.force_login(admin)
    start, end = timezone.localtime(in_two_days_10am), timezone.localtime(in_two_days_10am + timedelta(hours=2))
    form = {
        "customer": customer.pk,
        "space": hall.pk,
        "start_datetime_0": start.date().isoformat(),
        "start_datetime_1": start.strftime("%H:%M:%S"),
        "end_datetime_0": end.date().isoformat(),
        "end_datetime_1": end.strftime("%H:%M:%S"),
        "attendees": 10,
        "status": "pending",
        "items-TOTAL_FORMS": 1,
        "items-INITIAL_FORMS": 0,
        "items-0-item": catering.pk,
        "items-0-name": "Catering",
        "items-0-quantity": 10,
        "items-0-unit_price": "650.00",
        "items-0-line_total": "1.00",
        "payments-TOTAL_FORMS": 0,
        "payments-INITIAL_FORMS": 0,
    }
    response = client.post("/admin/bookings/booking/add/", form)
    assert response.status_code == 302
    booking = Booking.objects.get()
    assert booking.total_amount == Decimal("16500.00")  # 2 h × 5,000 + 10 × 650
    assert booking.items.get().line_total == Decimal("6500.00")
    assert build_invoice(booking).totals.taxable_value == booking.total_amount
