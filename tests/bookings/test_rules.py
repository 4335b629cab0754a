"""Time rules (bookings.rules): local times in a venue's zone, DST gaps and overlaps, lead, horizon, duration."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bookings import pricing, rules
from lebrq.exceptions import InvalidBooking

NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def refused(start, end, now=NOW) -> tuple[str, str]:
    with pytest.raises(InvalidBooking) as caught:
        rules.check_times(start, end, now)
    return caught.value.field, caught.value.reason


def test_naive_time_is_read_in_the_zone_and_aware_time_is_kept():
    assert rules.as_utc(datetime(2027, 1, 5, 10, 0), NEW_YORK, "start_datetime") == datetime(
        2027, 1, 5, 15, 0, tzinfo=UTC
    )
    aware = datetime(2027, 1, 5, 10, 0, tzinfo=ZoneInfo("Asia/Kolkata"))
    assert rules.as_utc(aware, NEW_YORK, "start_datetime") == datetime(2027, 1, 5, 4, 30, tzinfo=UTC)


def test_a_local_time_skipped_by_spring_forward_is_refused():
    with pytest.raises(InvalidBooking) as caught:
        rules.as_utc(datetime(2027, 3, 14, 2, 30), NEW_YORK, "start_datetime")
    assert (caught.value.field, caught.value.reason) == ("start_datetime", "nonexistent_time")
    assert str(caught.value) == "2027-03-14 02:30 does not exist in America/New_York (daylight saving time starts)."


def test_a_local_time_repeated_by_fall_back_is_refused():
    with pytest.raises(InvalidBooking) as caught:
        rules.as_utc(datetime(2027, 11, 7, 1, 30), NEW_YORK, "end_datetime")
    assert (caught.value.field, caught.value.reason) == ("end_datetime", "ambiguous_time")


def test_durations_across_dst_are_elapsed_time():
    spring_start = rules.as_utc(datetime(2027, 3, 14, 1, 30), NEW_YORK, "s").astimezone(NEW_YORK)
    spring_end = rules.as_utc(datetime(2027, 3, 14, 3, 30), NEW_YORK, "e").astimezone(NEW_YORK)
    assert spring_end - spring_start == timedelta(hours=2)  # same tzinfo: Python gives the wall-clock difference
    assert pricing.booked_hours(spring_start, spring_end) == 1
    autumn_start = datetime(2027, 11, 7, 0, 30, tzinfo=NEW_YORK)
    autumn_end = datetime(2027, 11, 7, 1, 30, fold=1, tzinfo=NEW_YORK)
    assert pricing.booked_hours(autumn_start, autumn_end) == 2


def test_rules_accept_a_booking_within_them():
    rules.check_times(NOW + timedelta(minutes=1), NOW + timedelta(minutes=31), NOW)


def test_rules_refuse_with_field_and_code(settings):
    hour = timedelta(hours=1)
    assert refused(NOW - hour, NOW) == ("start_datetime", "in_the_past")
    assert refused(NOW + hour, NOW + hour) == ("end_datetime", "invalid")
    assert refused(NOW + hour + timedelta(seconds=1), NOW + 2 * hour) == ("start_datetime", "whole_minutes")
    assert refused(NOW + hour, NOW + 2 * hour + timedelta(seconds=1)) == ("end_datetime", "whole_minutes")
    assert refused(NOW + hour, NOW + hour + timedelta(minutes=29)) == ("end_datetime", "too_short")
    assert refused(NOW + hour, NOW + hour + timedelta(days=31, minutes=1)) == ("end_datetime", "too_long")
    far = NOW + timedelta(days=730, minutes=1)
    assert refused(far, far + hour) == ("start_datetime", "beyond_horizon")
    rules.check_times(far - timedelta(minutes=1), far + hour, NOW)
    settings.BOOKING_MIN_LEAD = 120
    assert refused(NOW + hour, NOW + 2 * hour) == ("start_datetime", "too_soon")
    rules.check_times(NOW + 2 * hour, NOW + 3 * hour, NOW)
    settings.BOOKING_MIN_DURATION = 60
    assert refused(NOW + 2 * hour, NOW + 2 * hour + timedelta(minutes=59)) == ("end_datetime", "too_short")
