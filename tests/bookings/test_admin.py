"""Staff admin: the booking pages render, and the invoice downloads from the admin."""

import io
from datetime import timedelta
from decimal import Decimal

import pypdf
import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client
from django.utils import timezone

from bookings.models import Booking

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-boss-123")


@pytest.fixture
def booking(make_booking):
    return make_booking(start=timezone.now() + timedelta(days=3), hours=2, total_amount=Decimal("10000.00"))


def test_booking_changelist_filters_search_and_invoice_link(admin_user, booking):
    client = Client()
    client.force_login(admin_user)
    page = client.get("/admin/bookings/booking/", {"status__exact": "confirmed", "q": booking.booking_reference})
    assert page.status_code == 200
    html = page.content.decode()
    assert booking.booking_reference in html
    assert f"/admin/bookings/booking/{booking.pk}/invoice/" in html
    change = client.get(f"/admin/bookings/booking/{booking.pk}/change/")
    assert change.status_code == 200
    assert "Download invoice" in change.content.decode()


def test_admin_invoice_download_streams_a_pdf(admin_user, booking):
    client = AsyncClient()
    async_to_sync(client.aforce_login)(admin_user)

    async def download():
        response = await client.get(f"/admin/bookings/booking/{booking.pk}/invoice/")
        return response, b"".join([chunk async for chunk in response.streaming_content])

    response, body = async_to_sync(download)()
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert body.startswith(b"%PDF-")
    assert response["Content-Disposition"] == f'attachment; filename="invoice-{booking.booking_reference}.pdf"'
    assert int(response["Content-Length"]) == len(body)
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(body)).pages)
    assert booking.booking_reference in text
    assert "₹11,800.00" in text  # 2 h × 5,000 + 18 % GST


def test_admin_requires_staff(customer, booking):
    client = Client()
    client.force_login(customer)
    response = client.get(f"/admin/bookings/booking/{booking.pk}/invoice/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def result_rows(html: str) -> list[str]:
    """The change list's result rows (``<tr>`` of ``#result_list``'s body), as HTML."""
    body = html.split('<table id="result_list">', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return body.split("<tr")[1:]


@pytest.mark.parametrize(
    ("model", "label", "columns"),
    [
        ("venue", "venue", ["LeBRQ Grand", "Kochi", "Kerala"]),
        ("space", "space", ["Grand Hall", "LeBRQ Grand", "300", "5000.00"]),
        ("item", "item", ["Catering", "650.00", "996334"]),
        ("booking", "booking", ["asha", "Grand Hall", "Confirmed", "10000.00", "Download invoice"]),
    ],
)
def test_admin_lists_show_each_row_with_its_columns(admin_user, booking, catering, model, label, columns):
    client = Client()
    client.force_login(admin_user)
    response = client.get(f"/admin/bookings/{model}/")
    assert response.status_code == 200
    html = response.content.decode()
    (row,) = result_rows(html)  # exactly the one object the fixtures made
    for text in columns:
        assert text in row, text
    assert f"1 {label}" in html  # the paginator's count


def test_upload_admin_list_shows_the_upload_and_offers_no_add(admin_user, customer):
    from uploads.models import Upload

    Upload.objects.create(
        kind=Upload.Kind.IMAGE,
        name="image/2030/03/abc123.jpg",
        original_name="stage.jpg",
        size=48213,
        content_type="image/jpeg",
        sha256="0" * 64,
        owner=customer,
    )
    client = Client()
    client.force_login(admin_user)
    response = client.get("/admin/uploads/upload/")
    assert response.status_code == 200
    html = response.content.decode()
    (row,) = result_rows(html)
    for text in ["image/2030/03/abc123.jpg", "stage.jpg", "Image", "image/jpeg", "48213", "asha"]:
        assert text in row, text
    assert "/admin/uploads/upload/add/" not in html  # uploads come only through the API
    assert client.get("/admin/uploads/upload/add/").status_code == 403


def test_docs_page_uses_local_assets(api):
    html = api.get("/api/docs/").content.decode()
    assert "cdn.jsdelivr" not in html
    assert "/assets/drf_spectacular_sidecar/swagger-ui-dist/" in html


def test_admin_cannot_approve_a_booking_into_a_taken_slot(admin_user, booking, customer, hall, make_booking):
    from bookings.admin import BookingAdminForm

    pending = make_booking(
        start=booking.start_datetime + timedelta(hours=1),
        end=booking.end_datetime + timedelta(hours=1),
        status=Booking.Status.PENDING,
    )
    data = {
        "customer": customer.pk,
        "space": hall.pk,
        "start_datetime": pending.start_datetime,
        "end_datetime": pending.end_datetime,
        "attendees": 1,
        "status": "approved",
        "total_amount": "0",
    }
    form = BookingAdminForm(data=data, instance=pending)
    assert not form.is_valid()
    assert form.non_field_errors() == [f"The slot overlaps {booking.booking_reference} (confirmed)."]
    form = BookingAdminForm(data={**data, "status": "pending"}, instance=pending)
    assert form.is_valid(), form.errors


def test_invoiced_booking_fields_are_read_only_in_the_admin(admin_user, booking):
    from django.contrib.admin.sites import site
    from django.test import RequestFactory

    model_admin = site._registry[Booking]
    request = RequestFactory().get("/")
    assert "billing_name" not in model_admin.get_readonly_fields(request, booking)
    booking.invoice_number = "LEBRQ/2026-27/000001"
    assert "billing_name" in model_admin.get_readonly_fields(request, booking)
    assert "start_datetime" in model_admin.get_readonly_fields(request, booking)


def test_admin_refuses_text_the_invoice_cannot_print(admin_user, venue):
    client = Client()
    client.force_login(admin_user)
    url = f"/admin/bookings/venue/{venue.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update({"name": "Hall 🎉", "spaces-TOTAL_FORMS": "0", "spaces-INITIAL_FORMS": "0"})
    data["is_active"] = "on"
    refused = client.post(url, data)
    assert refused.status_code == 200  # the form again, with the error on its field
    assert refused.context["adminform"].form.errors["name"] == [
        "The character U+1F389 cannot be printed on the invoice (emoji and other characters beyond U+FFFF are "
        "not supported)."
    ]
    venue.refresh_from_db()
    assert "🎉" not in venue.name
    data["name"] = "Hall Utsav"
    assert client.post(url, data).status_code == 302
    venue.refresh_from_db()
    assert venue.name == "Hall Utsav"
