"""Render fairness: one customer holds at most one render slot, a burst of edits renders the latest revision
once, and another customer's first render is not starved (two clients, real threads)."""

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from bookings.invoicing import cache, limits
from bookings.invoicing.cache import invoice_pdf
from bookings.invoicing.limits import RenderLimiter
from bookings.models import Booking

RENDER_SECONDS = 0.4


@pytest.fixture
def slow_renders(monkeypatch, settings, tmp_path):
    """Each render takes RENDER_SECONDS; records ``(customer marker, start, end)`` and the most renders of one
    customer at once."""
    settings.INVOICE_CACHE_DIR = tmp_path / "invoices"
    settings.INVOICE_MAX_CONCURRENT_RENDERS = 2
    settings.INVOICE_RENDER_WAIT = 20
    limits._limiters.clear()
    cache._latest.clear()
    render = cache.render_html_to_file
    log, running, guard = [], {}, threading.Lock()
    peak = {}

    def slow(html, directory):
        owner = "asha" if "Asha" in html else "ravi"
        with guard:
            running[owner] = running.get(owner, 0) + 1
            peak[owner] = max(peak.get(owner, 0), running[owner])
        started = time.monotonic()
        time.sleep(RENDER_SECONDS)
        try:
            return render(html, directory)
        finally:
            with guard:
                running[owner] -= 1
                log.append((owner, started, time.monotonic(), html))

    monkeypatch.setattr(cache, "render_html_to_file", slow)
    yield log, peak
    limits._limiters.clear()


def make(customer, space, days: int) -> Booking:
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(days=days)
    booking = Booking.objects.create(
        customer=customer,
        space=space,
        start_datetime=start,
        end_datetime=start + timedelta(hours=2),
        total_amount=Decimal("10000.00"),
        billing_name="Asha Menon" if customer.username == "asha" else "Ravi Kumar",
    )
    return Booking.objects.select_related("space__venue", "customer").get(pk=booking.pk)


def run(calls):
    """Run each ``(delay, function)`` in its own thread; return ``{index: (started, ended, result or error)}``."""
    results = {}

    def work(index, delay, function):
        time.sleep(delay)
        started = time.monotonic()
        try:
            outcome = function()
        except Exception as exc:
            outcome = exc
        finally:
            connection.close()
        results[index] = (started, time.monotonic(), outcome)

    threads = [threading.Thread(target=work, args=(i, d, f)) for i, (d, f) in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_owner_gate_lets_one_thread_per_owner_through():
    limiter = RenderLimiter(2)
    deadline = time.monotonic() + 5
    with limiter.owner(1, deadline) as waited:
        assert waited is False
        with pytest.raises(cache.InvoiceBusy), limiter.owner(1, time.monotonic() + 0.05):
            pass
        with limiter.owner(2, deadline) as other:
            assert other is False
    with limiter.owner(1, deadline) as again:
        assert again is False
    assert limiter._owners == {}


@pytest.mark.django_db(transaction=True)
def test_one_customer_cannot_starve_another(slow_renders, customer, other_customer, hall):
    log, peak = slow_renders
    asha = [make(customer, hall, days) for days in range(2, 7)]
    ravi = make(other_customer, hall, 10)
    calls = [(0, lambda b=b: invoice_pdf(b)) for b in asha] + [(0.1, lambda: invoice_pdf(ravi))]
    results = run(calls)
    assert not [r for r in results.values() if isinstance(r[2], Exception)]
    assert peak == {"asha": 1, "ravi": 1}
    asha_starts = sorted(start for owner, start, _, _ in log if owner == "asha")
    (ravi_start,) = [start for owner, start, _, _ in log if owner == "ravi"]
    # Ravi, asking 0.1 s after Asha's five, took the free slot at once: his render started before Asha's second.
    assert ravi_start < asha_starts[1]


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_edits_renders_the_latest_revision_once(slow_renders, customer, hall):
    """Each download reads the booking as the API does (after its own edit); the three that wait for the
    customer's first render make the latest revision once between them."""
    log, _ = slow_renders
    booking = make(customer, hall, 3)

    def fresh() -> Booking:
        return Booking.objects.select_related("space__venue", "customer").get(pk=booking.pk)

    def edit_then_download(n: int):
        Booking.objects.filter(pk=booking.pk).update(billing_address=f"Flat {n}")
        return invoice_pdf(fresh())

    calls = [(0, lambda: invoice_pdf(fresh()))]
    calls += [(0.1 + 0.05 * n, lambda n=n: edit_then_download(n)) for n in range(3)]
    results = run(calls)
    assert not [r for r in results.values() if isinstance(r[2], Exception)]
    assert len(log) == 2  # the first revision, then the latest once
    assert "Flat 2" in log[1][3]
    latest = {results[i][2].revision for i in range(1, 4)}
    assert len(latest) == 1
    assert results[0][2].revision not in latest


@pytest.mark.django_db(transaction=True)
def test_queued_renders_of_one_customer_hold_no_render_thread(slow_renders, customer, other_customer, hall, settings):
    """On the render executor (one thread here), a customer's queued renders wait for their turn on the event
    loop: the other customer's render, asked for after them, takes the thread before the first customer's second."""
    import asyncio

    settings.INVOICE_MAX_CONCURRENT_RENDERS = 1
    log, peak = slow_renders
    asha = [cache.prepare_invoice(make(customer, hall, days)) for days in range(2, 5)]
    ravi = cache.prepare_invoice(make(other_customer, hall, 10))

    async def burst():
        first = [asyncio.ensure_future(cache.render_in_executor(pending)) for pending in asha]
        await asyncio.sleep(0.1)
        return await asyncio.gather(*first, cache.render_in_executor(ravi))

    results = asyncio.run(burst())
    assert [pdf.revision for pdf in results] == [pending.revision for pending in [*asha, ravi]]
    assert peak == {"asha": 1, "ravi": 1}
    order = [owner for owner, _, _, _ in sorted(log, key=lambda entry: entry[1])]
    assert order == ["asha", "ravi", "asha", "asha"]
