"""The invoice PDF cache: one file per revision, what makes a new revision, pruning, atomic renders, the render
limit (503 + Retry-After) and the API's ETag/304 — in process; the same over real HTTP is in tests/live."""

import asyncio
import os
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest

from bookings.invoicing import cache, pdf
from bookings.invoicing.cache import invoice_pdf, invoice_revision
from bookings.invoicing.limits import RenderLimiter
from bookings.models import Booking, BookingItem, Payment
from lebrq.exceptions import InvoiceBusy, InvoiceNotAvailable, InvoiceRenderError
from tests.helpers import bearer_client

BEFORE_EVENT = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def cache_dir(settings, tmp_path):
    settings.INVOICE_CACHE_DIR = str(tmp_path / "invoices")
    return Path(settings.INVOICE_CACHE_DIR)


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


def revision_of(booking) -> str:
    return invoice_revision(pdf.invoice_html(Booking.objects.get(pk=booking.pk), now=BEFORE_EVENT))


@pytest.mark.django_db
def test_a_revision_is_rendered_once_then_served_from_the_cache(booking, cache_dir, renders):
    first = invoice_pdf(booking, now=BEFORE_EVENT)
    assert first.path == cache_dir / booking.booking_reference / f"{first.revision}.pdf"
    assert first.etag == f'"{first.revision}"'
    assert len(first.revision) == 32
    assert first.size == first.path.stat().st_size
    assert first.filename == f"invoice-{booking.booking_reference}.pdf"
    assert first.path.read_bytes().startswith(b"%PDF-")
    again = invoice_pdf(Booking.objects.get(pk=booking.pk), now=BEFORE_EVENT)
    assert again == first
    assert len(renders) == 1
    # Nothing else is left in the directory: no partial render.
    assert [path.name for path in first.path.parent.iterdir()] == [first.path.name]


@pytest.mark.django_db
def test_the_same_revision_renders_to_the_same_bytes(booking):
    first = invoice_pdf(booking, now=BEFORE_EVENT)
    content = first.path.read_bytes()
    first.path.unlink()
    assert invoice_pdf(booking, now=BEFORE_EVENT).path.read_bytes() == content


@pytest.mark.django_db
def test_what_changes_the_revision(booking, settings):
    revisions = [revision_of(booking)]

    def changed() -> bool:
        revisions.append(revision_of(booking))
        return revisions[-1] != revisions[-2]

    Booking.objects.filter(pk=booking.pk).update(admin_note="call the caterer")  # not printed
    assert not changed()
    Payment.objects.create(booking=booking, amount=D("100.00"), status=Payment.Status.PENDING)  # not counted
    assert not changed()
    Payment.objects.filter(booking=booking).update(status=Payment.Status.SUCCESS)
    assert changed()
    BookingItem.objects.create(booking=booking, name="Chairs", quantity=10, unit_price=D("20"), line_total=D("200"))
    assert changed()
    BookingItem.objects.filter(booking=booking).update(quantity=11)
    assert changed()
    Booking.objects.filter(pk=booking.pk).update(billing_gstin="27AAPFU0939F1ZV")
    assert changed()
    Booking.objects.filter(pk=booking.pk).update(attendees=150)
    assert changed()
    settings.INVOICE_SELLER = {**settings.INVOICE_SELLER, "phone": "+91 484 400 0001"}
    assert changed()
    Booking.objects.filter(pk=booking.pk).update(status=Booking.Status.PAID)
    assert not changed()  # still a proforma, and the status is not printed
    assert len(set(revisions)) == 7


@pytest.mark.django_db
def test_the_revision_covers_the_template_assets(booking, monkeypatch):
    before = revision_of(booking)
    monkeypatch.setattr(cache, "assets_digest", lambda: "0" * 64)
    assert revision_of(booking) != before


@pytest.mark.django_db
def test_superseded_revisions_are_pruned_after_the_grace_period(booking, renders):
    old = invoice_pdf(booking, now=BEFORE_EVENT)
    Payment.objects.create(booking=booking, amount=D("500.00"), status=Payment.Status.SUCCESS)
    new = invoice_pdf(Booking.objects.get(pk=booking.pk), now=BEFORE_EVENT)
    assert new.revision != old.revision
    assert old.path.exists()  # a request that read the booking before the payment may still open it
    past = time.time() - cache.REVISION_GRACE_SECONDS - 1
    os.utime(new.path, (past, past))
    stale_partial = new.path.with_name(".render-crashed.pdf")
    stale_partial.write_bytes(b"%PDF-partial")
    os.utime(stale_partial, (past - cache.STALE_FILE_SECONDS, past - cache.STALE_FILE_SECONDS))
    fresh_partial = new.path.with_name(".render-running.pdf")
    fresh_partial.write_bytes(b"%PDF-partial")
    assert invoice_pdf(Booking.objects.get(pk=booking.pk), now=BEFORE_EVENT).path == new.path
    assert sorted(path.name for path in new.path.parent.iterdir()) == [".render-running.pdf", new.path.name]
    assert len(renders) == 2


@pytest.mark.django_db
def test_a_cancelled_booking_loses_its_cached_invoices(booking):
    cached = invoice_pdf(booking, now=BEFORE_EVENT)
    Booking.objects.filter(pk=booking.pk).update(status=Booking.Status.CANCELLED)
    with pytest.raises(InvoiceNotAvailable):
        invoice_pdf(Booking.objects.get(pk=booking.pk), now=BEFORE_EVENT)
    assert list(cached.path.parent.iterdir()) == []


@pytest.mark.django_db
def test_a_failed_render_leaves_nothing_in_the_cache(booking, cache_dir, monkeypatch):
    def create_pdf(html, dest, **kwargs):
        dest.write(b"%PDF-1.4 partial")
        raise RuntimeError("boom")

    monkeypatch.setattr(pdf.pisa, "CreatePDF", create_pdf)
    with pytest.raises(InvoiceRenderError):
        invoice_pdf(booking, now=BEFORE_EVENT)
    assert list((cache_dir / booking.booking_reference).iterdir()) == []


def test_limiter_slots_and_timeout():
    limiter = RenderLimiter(2, retry_after=3)
    deadline = time.monotonic() + 0.1
    with limiter.slot(deadline), limiter.slot(deadline):
        started = time.monotonic()
        with pytest.raises(InvoiceBusy) as busy, limiter.slot(time.monotonic() + 0.2):
            pass
        assert 0.15 <= time.monotonic() - started < 2
        assert busy.value.retry_after == 3
    with limiter.slot(time.monotonic()):  # free again
        pass
    with pytest.raises(ValueError):
        RenderLimiter(0)


def test_limiter_lets_one_thread_at_a_time_work_on_a_revision():
    limiter = RenderLimiter(2)
    inside, order = threading.Event(), []

    def first():
        with limiter.revision("abc", time.monotonic() + 5):
            inside.set()
            time.sleep(0.2)
            order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    inside.wait(5)
    with limiter.revision("other", time.monotonic()):  # another revision does not wait
        order.append("other")
    with limiter.revision("abc", time.monotonic() + 5):
        order.append("second")
    thread.join()
    assert order == ["other", "first done", "second"]
    with pytest.raises(InvoiceBusy), limiter.revision("abc", time.monotonic() + 5), limiter.revision("abc", 0):
        pass
    assert limiter._revisions == {}


@pytest.mark.django_db
def test_api_etag_and_304_without_rendering(booking, customer, renders):
    client = bearer_client(customer)
    first = client.get(f"/api/bookings/{booking.pk}/invoice")
    assert first.status_code == 200
    assert first["Content-Type"] == "application/pdf"
    etag = first["ETag"]
    assert etag == f'"{revision_of_now(booking)}"'
    body = b"".join(_sync_chunks(first))
    assert body.startswith(b"%PDF-")
    assert first["Content-Length"] == str(len(body))
    assert first["Cache-Control"] == "private, no-cache"
    not_modified = client.get(f"/api/bookings/{booking.pk}/invoice", headers={"If-None-Match": etag})
    assert not_modified.status_code == 304
    assert not_modified["ETag"] == etag
    assert len(renders) == 1
    assert (Path(cache.booking_cache_dir(booking.booking_reference)) / f"{etag.strip(chr(34))}.pdf").exists()


def revision_of_now(booking) -> str:
    return invoice_revision(pdf.invoice_html(Booking.objects.get(pk=booking.pk)))


def _sync_chunks(response):
    from asgiref.sync import async_to_sync

    async def collect():
        return [chunk async for chunk in response.streaming_content]

    return async_to_sync(collect)()


@pytest.mark.django_db
def test_api_busy_renders_answer_503_with_retry_after(booking, customer, settings):
    settings.INVOICE_MAX_CONCURRENT_RENDERS = 1
    settings.INVOICE_RENDER_WAIT = 0.2
    limiter = cache.render_limiter()
    with limiter.slot(time.monotonic()):  # the only slot is taken
        response = bearer_client(customer).get(f"/api/bookings/{booking.pk}/invoice")
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert response.json() == {
        "detail": "Invoices are being rendered at capacity; retry shortly.",
        "success": False,
        "message": "Invoices are being rendered at capacity; retry shortly.",
        "code": "invoice_busy",
    }
    assert not list(Path(settings.INVOICE_CACHE_DIR).rglob("*.pdf"))


@pytest.mark.django_db
def test_prepare_invoice_gives_the_pending_render_then_the_cached_pdf(booking, cache_dir, renders):
    pending = cache.prepare_invoice(booking, now=BEFORE_EVENT)
    assert isinstance(pending, cache.PendingRender)
    assert pending.revision == revision_of(booking)
    assert pending.path == cache_dir / booking.booking_reference / f"{pending.revision}.pdf"
    assert pending.filename == f"invoice-{booking.booking_reference}.pdf"
    assert renders == []
    assert not pending.path.exists()
    rendered = pending.render(time.monotonic() + 5)
    assert rendered.path == pending.path
    assert rendered.size == pending.path.stat().st_size
    assert cache.prepare_invoice(Booking.objects.get(pk=booking.pk), now=BEFORE_EVENT) == rendered
    assert len(renders) == 1


@pytest.mark.django_db
def test_render_in_executor_renders_in_a_render_thread(booking, cache_dir, settings, monkeypatch):
    settings.INVOICE_MAX_CONCURRENT_RENDERS = 1
    settings.INVOICE_RENDER_WAIT = 5.0
    threads = []
    real = pdf.html_to_pdf

    def recording(html, dest):
        threads.append(threading.current_thread().name)
        return real(html, dest)

    monkeypatch.setattr(pdf, "html_to_pdf", recording)
    pending = cache.prepare_invoice(booking, now=BEFORE_EVENT)
    rendered = asyncio.run(cache.render_in_executor(pending))
    assert rendered.path.read_bytes().startswith(b"%PDF-")
    assert threads == ["lebrq-render-0"]
    assert cache.render_threads().size == 1


def test_render_in_executor_answers_invoice_busy_when_no_render_thread_comes_free(settings, tmp_path):
    settings.INVOICE_MAX_CONCURRENT_RENDERS = 1
    settings.INVOICE_RENDER_WAIT = 0.2
    release = threading.Event()

    class Slow(cache.PendingRender):
        def render_unowned(self, deadline):
            release.wait(10)
            return "rendered"

    def slow(owner: int) -> Slow:  # two customers: the second waits for the render thread, not for a turn
        return Slow("<html></html>", "0" * 32, f"BK-{owner}", f"invoice-BK-{owner}.pdf", tmp_path / "x.pdf", owner)

    async def both():
        first = asyncio.ensure_future(cache.render_in_executor(slow(1)))
        await asyncio.sleep(0.05)
        with pytest.raises(InvoiceBusy) as busy:
            await cache.render_in_executor(slow(2))
        release.set()
        return await first, busy.value.retry_after

    assert asyncio.run(both()) == ("rendered", 1)
