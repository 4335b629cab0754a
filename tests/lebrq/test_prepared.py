"""`lebrq.db.prepared.PreparedValues`: the same rows as ``.values()`` (order, converted values), one compile per
number of values; a query that does not use each value once is refused. `accounts.tokens.user_by_id` on it."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from accounts.models import Profile
from accounts.tokens import user_by_id
from bookings.models import Payment
from lebrq.db.prepared import PreparedValues

pytestmark = pytest.mark.django_db

COLUMNS = ("id", "booking_id", "amount", "status", "paid_at")


def payments(ids):
    return Payment.objects.filter(booking_id__in=ids).order_by("-amount", "id").values(*COLUMNS)


@pytest.fixture
def two_bookings(make_booking):
    first = make_booking(paid=[Decimal("10.50"), Decimal("1000.25")])
    second = make_booking(start=datetime(2030, 4, 1, 4, 30, tzinfo=UTC), paid=[Decimal("99.00")])
    Payment.objects.update(paid_at=datetime(2026, 11, 29, 18, 45, 7, tzinfo=UTC))
    return first, second


def test_rows_are_those_of_values_in_their_order(two_bookings):
    prepared = PreparedValues(payments)
    ids = [booking.pk for booking in two_bookings]
    rows = prepared.rows(ids)
    assert rows == list(payments(ids))
    assert [row["amount"] for row in rows] == [Decimal("1000.25"), Decimal("99.00"), Decimal("10.50")]
    assert rows[0]["paid_at"] == datetime(2026, 11, 29, 18, 45, 7, tzinfo=UTC)  # the backend's converters ran
    assert prepared.rows([two_bookings[1].pk]) == list(payments([two_bookings[1].pk]))
    assert prepared.rows([-1]) == []


def test_one_compile_per_number_of_values(two_bookings, django_assert_num_queries):
    calls = []

    def counted(ids):
        calls.append(list(ids))
        return payments(ids)

    prepared = PreparedValues(counted)
    first, second = (booking.pk for booking in two_bookings)
    prepared.rows([first, second])
    prepared.rows([second, first])
    prepared.rows([first])
    assert len(calls) == 2  # two lengths, compiled with probe values, never with the real ones
    assert all(value > 2_147_483_000 for values in calls for value in values)
    with django_assert_num_queries(1):
        assert len(prepared.rows([first, second])) == 3


def test_a_query_that_does_not_use_each_value_once_is_refused(two_bookings):
    twice = PreparedValues(lambda ids: payments([ids[0], ids[0]]).filter(booking_id=ids[0]))
    with pytest.raises(ValueError, match="each value must be one parameter"):
        twice.rows([two_bookings[0].pk])


def test_user_by_id_loads_the_user_with_its_profile_or_none(customer):
    Profile.objects.filter(user=customer).delete()
    profile = Profile.objects.create(user=customer, mobile="+919876543210", token_generation=3)
    user = user_by_id(customer.pk)
    assert (user.pk, user.username, user.password, user.is_active) == (
        customer.pk,
        customer.username,
        customer.password,
        True,
    )
    assert user._state.adding is False
    with django_queries(0):
        assert (user.profile.pk, user.profile.token_generation, user.profile.mobile) == (profile.pk, 3, "+919876543210")
        assert user.profile.user is user
    profile.delete()
    without = user_by_id(customer.pk)
    with django_queries(0), pytest.raises(Profile.DoesNotExist):
        _ = without.profile
    assert user_by_id(10**9) is None
    with pytest.raises((ValueError, TypeError)):
        user_by_id("abc")
    assert user_by_id(str(customer.pk)).pk == customer.pk
    assert get_user_model().objects.count() == 1


def django_queries(count):
    from django.test.utils import CaptureQueriesContext

    class Exactly(CaptureQueriesContext):
        def __exit__(self, *exc):
            super().__exit__(*exc)
            assert len(self.captured_queries) == count, self.captured_queries

    return Exactly(connection)
