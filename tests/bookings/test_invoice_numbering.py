"""Tax invoice numbers: per financial year, consecutive, assigned once — also under concurrent requests.

The concurrency tests run real threads, each with its own database connection, against committed rows
(``transaction=True``): on MariaDB the row locks do the work, on SQLite the IMMEDIATE transactions.
"""

import threading
import time
from datetime import UTC, datetime

import pytest
from django.db import connection

from bookings.invoicing import numbering
from bookings.invoicing.document import TAX_INVOICE, build_invoice
from bookings.invoicing.numbering import issue_invoice_number
from bookings.models import Booking, InvoiceCounter

EVENT = datetime(2030, 3, 14, 4, 30, tzinfo=UTC)  # 10:00 IST, FY 2029-30
# 31 Mar 2031 23:59 IST and 1 Apr 2031 00:00 IST: the last minute of FY 2030-31 and the first of 2031-32.
LAST_MINUTE_OF_FY = datetime(2031, 3, 31, 18, 29, tzinfo=UTC)
FIRST_MINUTE_OF_FY = datetime(2031, 3, 31, 18, 30, tzinfo=UTC)


@pytest.fixture
def make_bookings(make_booking):
    """``make_bookings(count, status=completed)``: that many bookings of 3.5 hours from `EVENT`."""

    def make(count, status=Booking.Status.COMPLETED):
        return [make_booking(start=EVENT, end=EVENT.replace(hour=8), status=status) for _ in range(count)]

    return make


@pytest.mark.django_db
def test_numbers_are_consecutive_per_financial_year_and_assigned_once(make_bookings, settings):
    settings.INVOICE_NUMBER_PREFIX = "LB"
    first, second, third, fourth = make_bookings(4)
    assert issue_invoice_number(first, LAST_MINUTE_OF_FY) == "LB/30-31/000001"
    assert issue_invoice_number(second, LAST_MINUTE_OF_FY) == "LB/30-31/000002"
    assert issue_invoice_number(third, FIRST_MINUTE_OF_FY) == "LB/31-32/000001"
    # Asked again (even in another year, or from a fresh copy of the row): the same number, the first date.
    assert issue_invoice_number(first, FIRST_MINUTE_OF_FY) == "LB/30-31/000001"
    fresh = Booking.objects.get(pk=first.pk)
    assert issue_invoice_number(fresh, datetime(2035, 1, 1, tzinfo=UTC)) == "LB/30-31/000001"
    assert fresh.invoice_issued_at == LAST_MINUTE_OF_FY
    assert issue_invoice_number(fourth, FIRST_MINUTE_OF_FY) == "LB/31-32/000002"
    assert dict(InvoiceCounter.objects.values_list("financial_year", "last_number")) == {"2030-31": 2, "2031-32": 2}


@pytest.mark.django_db
def test_only_a_tax_invoice_takes_a_number(make_bookings):
    (booking,) = make_bookings(1, status=Booking.Status.CONFIRMED)
    before = build_invoice(booking, now=datetime(2030, 1, 1, tzinfo=UTC))
    assert before.invoice_number is None
    assert not InvoiceCounter.objects.exists()
    assert Booking.objects.get(pk=booking.pk).invoice_number is None

    after = build_invoice(booking, now=datetime(2030, 4, 2, tzinfo=UTC))
    assert after.title == TAX_INVOICE
    assert after.invoice_number == "LB/30-31/000001"
    assert after.issued_at == datetime(2030, 4, 2, tzinfo=UTC)
    # A later download prints the same number and the date it was first issued.
    again = build_invoice(Booking.objects.get(pk=booking.pk), now=datetime(2030, 6, 1, tzinfo=UTC))
    assert (again.invoice_number, again.issued_at) == ("LB/30-31/000001", datetime(2030, 4, 2, tzinfo=UTC))


@pytest.mark.django_db
def test_a_failed_transaction_leaves_no_gap(make_bookings, monkeypatch):
    first, second = make_bookings(2)

    def broken(year, serial):
        raise RuntimeError("disk full")

    monkeypatch.setattr(numbering, "format_invoice_number", broken)
    with pytest.raises(RuntimeError):
        issue_invoice_number(first, LAST_MINUTE_OF_FY)
    monkeypatch.undo()
    assert InvoiceCounter.objects.get(financial_year="2030-31").last_number == 0
    assert issue_invoice_number(second, LAST_MINUTE_OF_FY) == "LB/30-31/000001"


def run_in_threads(target, arguments):
    """Run ``target(argument)`` in one thread per argument, all released at once; return results and errors."""
    barrier = threading.Barrier(len(arguments))
    results, errors = {}, []

    def work(argument):
        try:
            barrier.wait()
            results[argument] = target(argument)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(argument,)) for argument in arguments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish within 60 s"
    return results, errors


@pytest.fixture
def threads_on_the_database():
    """SQLite's test database is in memory with a shared cache, where a second writer fails at once with "table
    is locked" instead of waiting; the file database a server uses is tested in tests/live/test_invoice_live.py."""
    if connection.vendor == "sqlite":
        pytest.skip("in-memory SQLite cannot take concurrent writers; see tests/live/test_invoice_live.py")


@pytest.fixture
def slow_numbering(monkeypatch):
    """Widen the window between reading the counter and storing the number (20 ms), so that an unlocked
    read-increment-write would hand out duplicates here every time."""
    format_number = numbering.format_invoice_number

    def slow(year, serial):
        time.sleep(0.02)
        return format_number(year, serial)

    monkeypatch.setattr(numbering, "format_invoice_number", slow)


@pytest.mark.django_db(transaction=True)
def test_concurrent_issues_are_consecutive_without_gaps_or_repeats(
    make_bookings, threads_on_the_database, slow_numbering
):
    bookings = {booking.pk: booking for booking in make_bookings(20)}

    def issue(pk):
        return issue_invoice_number(Booking.objects.get(pk=pk), LAST_MINUTE_OF_FY)

    results, errors = run_in_threads(issue, list(bookings))
    assert errors == []
    assert sorted(results.values()) == [f"LB/30-31/{serial:06d}" for serial in range(1, 21)]
    stored = dict(Booking.objects.filter(pk__in=bookings).values_list("pk", "invoice_number"))
    assert stored == results
    assert InvoiceCounter.objects.get(financial_year="2030-31").last_number == 20


@pytest.mark.django_db(transaction=True)
def test_concurrent_issues_for_one_booking_take_one_number(make_bookings, threads_on_the_database, slow_numbering):
    (booking,) = make_bookings(1)

    def issue(_):
        return issue_invoice_number(Booking.objects.get(pk=booking.pk), LAST_MINUTE_OF_FY)

    results, errors = run_in_threads(issue, list(range(10)))
    assert errors == []
    assert list(results.values()) == ["LB/30-31/000001"] * 10
    assert InvoiceCounter.objects.get(financial_year="2030-31").last_number == 1


def test_default_numbers_fit_in_16_characters(settings):
    assert settings.INVOICE_NUMBER_PREFIX == "LB"
    assert numbering.format_invoice_number("2026-27", 123) == "LB/26-27/000123"
    assert numbering.format_invoice_number("2026-27", 1_000_000) == "LB/26-27/1000000"  # 16
    settings.INVOICE_NUMBER_PREFIX = "ABC"
    assert numbering.format_invoice_number("2099-00", 999_999) == "ABC/99-00/999999"  # 16
    with pytest.raises(ValueError, match="longer than 16"):
        numbering.format_invoice_number("2026-27", 1_000_000)


@pytest.mark.parametrize(
    ("prefix", "errors"),
    [("LB", []), ("A-1", []), ("LEBRQ", ["bookings.E001"]), ("L B", ["bookings.E001"]), ("", ["bookings.E001"])],
)
def test_the_prefix_is_checked_at_start_up(settings, prefix, errors):
    from bookings.checks import check_invoice_number_prefix

    settings.INVOICE_NUMBER_PREFIX = prefix
    assert [error.id for error in check_invoice_number_prefix()] == errors
