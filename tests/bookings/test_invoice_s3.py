"""The invoice cache in a shared S3-compatible store (INVOICE_STORAGE=default on moto_server): one object per
revision, rendered on local disk and stored by one PUT, served by ranged GETs, pruned and discarded in the store."""

import asyncio
import contextlib
import io
import zipfile
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.core.files.storage import default_storage
from django.test import AsyncClient

from bookings.invoicing import cache, pdf, shared
from bookings.invoicing.cache import invoice_pdf, prepare_invoice
from bookings.models import Booking, Payment
from lebrq import objectstore
from lebrq.exceptions import InvoiceNotAvailable

pytestmark = pytest.mark.django_db

BEFORE_EVENT = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
def renders(monkeypatch):
    """Counts the PDF renders (calls of `pdf.html_to_pdf`)."""
    calls = []
    real = pdf.html_to_pdf

    def counting(html, dest):
        calls.append(html)
        return real(html, dest)

    monkeypatch.setattr(pdf, "html_to_pdf", counting)
    return calls


@pytest.fixture
def booking(make_booking):
    return make_booking()


def body_of(response) -> bytes:
    async def consume():
        async with contextlib.aclosing(aiter(response)) as content:
            return b"".join([chunk async for chunk in content])

    return asyncio.run(consume())


def stored_bytes(s3_storage, key: str) -> bytes:
    return s3_storage.client.get_object(Bucket=s3_storage.bucket, Key=f"{s3_storage.location}/{key}")["Body"].read()


def local_files(settings) -> list[Path]:
    return [
        path
        for directory in (settings.INVOICE_CACHE_DIR, settings.FILE_UPLOAD_TEMP_DIR)
        for path in Path(directory).rglob("*")
        if path.is_file()
    ]


def test_a_revision_is_rendered_once_into_the_store(booking, s3_storage, renders, settings):
    first = invoice_pdf(booking, now=BEFORE_EVENT)
    key = f"invoices/{booking.booking_reference}/{first.revision}.pdf"
    assert first.path is None
    assert first.key == key
    assert s3_storage.keys() == [key]
    data = stored_bytes(s3_storage, key)
    assert data.startswith(b"%PDF-")
    assert first.size == len(data)
    assert local_files(settings) == []  # rendered in the temp dir, then removed
    again = invoice_pdf(Booking.objects.get(pk=booking.pk), now=BEFORE_EVENT)
    assert again == first
    assert len(renders) == 1


def test_a_pdf_stored_by_another_host_is_served_without_rendering(booking, s3_storage, renders):
    """What another host finds: nothing of this process's state (forgotten), only the object in the store."""
    first = invoice_pdf(booking, now=BEFORE_EVENT)
    cache.forget_latest(booking.booking_reference)
    found = prepare_invoice(Booking.objects.get(pk=booking.pk), now=BEFORE_EVENT)
    assert isinstance(found, cache.InvoicePdf)
    assert (found.key, found.size, found.revision) == (first.key, first.size, first.revision)
    assert len(renders) == 1


def test_an_existing_revision_is_never_replaced(booking, s3_storage, tmp_path):
    """Two hosts rendering one revision at once: the first stored object stays (If-None-Match: *)."""
    first = invoice_pdf(booking, now=BEFORE_EVENT)
    other = tmp_path / "other.pdf"
    other.write_bytes(b"%PDF- another render")
    assert objectstore.save_file(default_storage, first.key, other, "application/pdf", exclusive=True) == first.key
    assert len(stored_bytes(s3_storage, first.key)) == first.size


def test_superseded_revisions_go_after_the_grace_period(booking, s3_storage, monkeypatch):
    old = invoice_pdf(booking, now=BEFORE_EVENT)
    Payment.objects.create(booking=booking, amount=D("1000.00"), status=Payment.Status.SUCCESS)
    new = invoice_pdf(Booking.objects.get(pk=booking.pk), now=BEFORE_EVENT)
    assert new.revision != old.revision
    assert s3_storage.keys() == sorted([old.key, new.key])  # within the grace period both stay
    monkeypatch.setattr(shared, "REVISION_GRACE_SECONDS", -5)
    assert shared.prune_stored_after_hit(booking.booking_reference, new.revision) == 1
    assert s3_storage.keys() == [new.key]


def test_a_cancelled_booking_loses_its_stored_invoices(booking, s3_storage):
    invoice_pdf(booking, now=BEFORE_EVENT)
    Booking.objects.filter(pk=booking.pk).update(status=Booking.Status.CANCELLED)
    with pytest.raises(InvoiceNotAvailable):
        invoice_pdf(Booking.objects.get(pk=booking.pk), now=BEFORE_EVENT)
    assert s3_storage.keys() == []


def test_api_download_streams_from_the_store_with_ranges(customer_api, booking, s3_storage, monkeypatch):
    response = customer_api.get(f"/api/bookings/{booking.pk}/invoice")
    assert response.status_code == 200
    data = body_of(response)
    [key] = s3_storage.keys()
    assert data == stored_bytes(s3_storage, key)
    etag = response["ETag"]
    assert etag == f'"{Path(key).stem}"'
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == f'attachment; filename="invoice-{booking.booking_reference}.pdf"'
    seen = []
    real = objectstore.open_range
    monkeypatch.setattr(objectstore, "open_range", lambda *a: seen.append(a[2:]) or real(*a))
    ranged = customer_api.get(f"/api/bookings/{booking.pk}/invoice", headers={"Range": "bytes=100-199"})
    assert ranged.status_code == 206
    assert ranged["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert body_of(ranged) == data[100:200]
    assert seen == [(100, 199)]
    assert customer_api.get(f"/api/bookings/{booking.pk}/invoice", headers={"If-None-Match": etag}).status_code == 304


def test_admin_zip_copies_stored_pdfs(django_user_model, booking, make_booking, s3_storage):
    second = make_booking(start=datetime(2030, 4, 1, 4, 30, tzinfo=UTC))
    admin = AsyncClient()
    async_to_sync(admin.aforce_login)(django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-1"))

    async def run():
        response = await admin.post(
            "/admin/bookings/booking/",
            {"action": "download_invoices_zip", "_selected_action": [str(booking.pk), str(second.pk)]},
        )
        return response, b"".join([chunk async for chunk in response.streaming_content])

    response, body = async_to_sync(run)()
    response.close()
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None
        contents = {name: archive.read(name) for name in archive.namelist()}
    keys = s3_storage.keys()
    assert len(keys) == 2
    assert sorted(contents) == sorted(f"invoice-{b.booking_reference}.pdf" for b in (booking, second))
    assert sorted(contents.values()) == sorted(stored_bytes(s3_storage, key) for key in keys)


def test_invoice_storage_may_be_a_local_storage(booking, settings, renders, customer_api):
    """INVOICE_STORAGE=default with the default FileSystemStorage: the cache under MEDIA_ROOT/invoices/."""
    settings.INVOICE_STORAGE = "default"
    first = invoice_pdf(booking, now=BEFORE_EVENT)
    path = Path(settings.MEDIA_ROOT) / "invoices" / booking.booking_reference / f"{first.revision}.pdf"
    assert first.key == f"invoices/{booking.booking_reference}/{first.revision}.pdf"
    assert first.size == path.stat().st_size
    assert invoice_pdf(Booking.objects.get(pk=booking.pk), now=BEFORE_EVENT) == first
    assert len(renders) == 1
    assert not any(Path(settings.INVOICE_CACHE_DIR).rglob("*.pdf"))
