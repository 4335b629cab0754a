"""Buyer details through the API (PATCH /api/bookings/{id}/billing) and the admin, and the admin's ZIP of invoices."""

import io
import zipfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pypdf
import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client
from django.utils import timezone

from bookings.models import Booking

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def cache_dir(settings, tmp_path):
    settings.INVOICE_CACHE_DIR = str(tmp_path / "invoices")


@pytest.fixture
def booking(make_booking):
    return make_booking(start=timezone.now() + timedelta(days=3), hours=2, status=Booking.Status.PENDING)


def test_customer_sets_billing_details(customer_api, booking):
    response = customer_api.patch(
        f"/api/bookings/{booking.pk}/billing",
        {
            "billing_name": "Menon Events LLP",
            "billing_phone": "+91 98470 12345",
            "billing_address": "Marine Drive, Kochi",
            "billing_gstin": "27 aapfu 0939 f1zv",
        },
        format="json",
    )
    assert response.status_code == 200
    data = response.json()
    assert {key: data[key] for key in data if key.startswith("billing_")} == {
        "billing_name": "Menon Events LLP",
        "billing_phone": "+91 98470 12345",
        "billing_email": "",
        "billing_address": "Marine Drive, Kochi",
        "billing_gstin": "27AAPFU0939F1ZV",
    }
    assert data["invoice_number"] is None
    response = customer_api.patch(f"/api/bookings/{booking.pk}/billing", {"billing_gstin": ""}, format="json")
    assert response.json()["billing_gstin"] == ""
    assert Booking.objects.get(pk=booking.pk).billing_name == "Menon Events LLP"  # partial: the rest stays


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"billing_gstin": "27AAPFU0939F1ZW"}, "billing_gstin"),
        ({"billing_gstin": "not a gstin"}, "billing_gstin"),
        ({"billing_email": "nobody"}, "billing_email"),
        ({"billing_phone": "9" * 21}, "billing_phone"),
        ({"billing_address": "x" * 501}, "billing_address"),
    ],
)
def test_bad_billing_details_are_refused(customer_api, booking, payload, field):
    response = customer_api.patch(f"/api/bookings/{booking.pk}/billing", payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert list(body["detail"]) == [field]
    booking.refresh_from_db()
    assert (booking.billing_gstin, booking.billing_email, booking.billing_phone) == ("", "", "")


def test_billing_of_another_customer_is_not_found(other_api, booking):
    response = other_api.patch(f"/api/bookings/{booking.pk}/billing", {"billing_name": "x"}, format="json")
    assert response.status_code == 404


def test_billing_is_fixed_once_the_tax_invoice_is_issued(customer_api, booking):
    Booking.objects.filter(pk=booking.pk).update(invoice_number="LEBRQ/2026-27/000007")
    response = customer_api.patch(f"/api/bookings/{booking.pk}/billing", {"billing_name": "x"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "invoice_issued"
    assert Booking.objects.get(pk=booking.pk).billing_name == ""


@pytest.fixture
def admin_client(django_user_model):
    user = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-boss-123")
    client = AsyncClient()
    async_to_sync(client.aforce_login)(user)
    return client


def post_action(client, ids):
    async def run():
        response = await client.post(
            "/admin/bookings/booking/",
            {"action": "download_invoices_zip", "_selected_action": [str(pk) for pk in ids]},
        )
        body = b"".join([chunk async for chunk in response.streaming_content]) if response.streaming else b""
        return response, body

    return async_to_sync(run)()


def test_admin_zip_of_invoices(admin_client, booking, make_booking, settings, tmp_path):
    start = datetime(2024, 3, 14, 4, 30, tzinfo=UTC)
    past = make_booking(start=start, hours=2, status=Booking.Status.COMPLETED)
    cancelled = make_booking(start=start, hours=1, status=Booking.Status.CANCELLED)
    response, body = post_action(admin_client, [booking.pk, past.pk, cancelled.pk])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="invoices-')
    assert response["Content-Length"] == str(len(body))
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == [
            f"invoice-{booking.booking_reference}.pdf",
            f"invoice-{past.booking_reference}.pdf",
            "SKIPPED.txt",
        ]
        assert all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())
        skipped = archive.read("SKIPPED.txt").decode()
        reference = cancelled.booking_reference
        assert skipped == f"{reference}: Booking {reference} is cancelled: it has no invoice.\n"
        tax = "\n".join(
            page.extract_text() for page in pypdf.PdfReader(io.BytesIO(archive.read(archive.namelist()[1]))).pages
        )
        assert "TAX INVOICE" in tax
        assert Booking.objects.get(pk=past.pk).invoice_number in tax
    # The ZIP's temporary file is gone once the response is closed; the cached PDFs stay.
    response.close()
    assert list(Path(settings.FILE_UPLOAD_TEMP_DIR).glob("invoices-*.zip")) == []
    assert len(list(Path(settings.INVOICE_CACHE_DIR).rglob("*.pdf"))) == 2


def test_admin_zip_when_renders_are_busy(admin_client, booking, settings):
    import time

    from bookings.invoicing import cache

    settings.INVOICE_MAX_CONCURRENT_RENDERS = 1
    settings.INVOICE_RENDER_WAIT = 0.1
    with cache.render_limiter().slot(time.monotonic()):
        response, _ = post_action(admin_client, [booking.pk])
    assert response.status_code == 302  # back to the list, with the message
    assert list(Path(settings.FILE_UPLOAD_TEMP_DIR).glob("invoices-*.zip")) == []


def test_admin_shows_billing_fields_and_invoice_number(django_user_model, booking):
    user = django_user_model.objects.create_superuser("boss2", "boss2@example.com", "pw-boss-123")
    client = Client()
    client.force_login(user)
    billing = ["billing_name", "billing_phone", "billing_email", "billing_address", "billing_gstin"]
    html = client.get(f"/admin/bookings/booking/{booking.pk}/change/").content.decode()
    for name in billing:
        assert f'name="{name}"' in html
    Booking.objects.filter(pk=booking.pk).update(invoice_number="LEBRQ/2026-27/000042")
    html = client.get(f"/admin/bookings/booking/{booking.pk}/change/").content.decode()
    assert "LEBRQ/2026-27/000042" in html
    for name in [*billing, "invoice_number"]:
        assert f'name="{name}"' not in html  # shown, no longer editable once a tax invoice is numbered
    assert D(0) == booking.total_amount


@pytest.mark.parametrize("accept", ["application/pdf", "image/png", "text/html", "*/*"])
def test_invoice_download_ignores_accept_and_is_a_sandboxed_private_attachment(customer_api, booking, accept):
    response = customer_api.get(f"/api/bookings/{booking.pk}/invoice", headers={"Accept": accept})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="invoice-{booking.booking_reference}.pdf"'
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response["Cache-Control"] == "private, no-cache"
    assert response["Vary"] == "Authorization, origin"
