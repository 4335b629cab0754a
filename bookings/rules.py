"""Time rules of a booking: local times read in the venue's time zone, instants compared as UTC.

Pure functions over datetimes and settings; they raise `lebrq.exceptions.InvalidBooking` naming the request field
at fault (the API answers 400 with the exception's ``code``).

* A time without an offset is a wall-clock time in the venue's zone (`Venue.time_zone`). One that does not exist
  there (skipped by a daylight-saving change, e.g. 02:30 on the spring-forward day in America/New_York) or exists
  twice (the hour repeated in autumn) is refused: no guess is made for the customer.
* Every comparison and every duration is on UTC instants (elapsed time): an hour across a DST change is one hour.
* Cancelling (`cancellation_deadline`): a pending booking until its start, an approved, confirmed or paid one
  until ``CANCEL_CUTOFF`` hours before it.
* settings: a start no sooner than now + ``BOOKING_MIN_LEAD`` minutes (so never in the past) and no later than
  now + ``BOOKING_MAX_HORIZON`` days; at least ``BOOKING_MIN_DURATION`` minutes, at most ``BOOKING_MAX_DAYS``
  days; start and end on whole minutes.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

from lebrq.exceptions import InvalidBooking


def venue_zone(name: str) -> ZoneInfo:
    """The `ZoneInfo` of a venue's ``time_zone`` (an IANA name, validated when the venue is saved)."""
    return ZoneInfo(name)


def as_utc(value: datetime, zone: ZoneInfo, field: str) -> datetime:
    """``value`` as an aware UTC instant: an aware value is converted; a naive one is read in ``zone``.

    Raises `InvalidBooking` (code ``nonexistent_time`` or ``ambiguous_time``) when the naive local time does not
    exist in ``zone`` or exists twice there (a daylight-saving change).
    """
    if value.tzinfo is not None and value.utcoffset() is not None:
        return value.astimezone(UTC)
    first = value.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = value.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first == second:
        return first
    if first.astimezone(zone).replace(tzinfo=None) == value:
        raise InvalidBooking(
            field,
            f"{value:%Y-%m-%d %H:%M} happens twice in {zone.key} (daylight saving time ends); give the offset.",
            code="ambiguous_time",
        )
    raise InvalidBooking(
        field,
        f"{value:%Y-%m-%d %H:%M} does not exist in {zone.key} (daylight saving time starts).",
        code="nonexistent_time",
    )


def check_times(start: datetime, end: datetime, now: datetime) -> None:
    """Apply the module's rules to ``[start, end)`` (aware instants) as of ``now`` (aware).

    Raises `InvalidBooking` with the field and code: ``end_datetime``/``invalid`` when the end is not after the
    start; ``start_datetime``/``in_the_past`` before ``now``, ``too_soon`` before now + BOOKING_MIN_LEAD minutes,
    ``beyond_horizon`` after now + BOOKING_MAX_HORIZON days; ``…``/``whole_minutes`` for seconds in a time;
    ``end_datetime``/``too_short`` under BOOKING_MIN_DURATION minutes, ``too_long`` over BOOKING_MAX_DAYS days.
    """
    if end <= start:
        raise InvalidBooking("end_datetime", "Must be after start_datetime.")
    for field, value in (("start_datetime", start), ("end_datetime", end)):
        if value.second or value.microsecond:
            raise InvalidBooking(field, "Must be a whole minute (no seconds).", code="whole_minutes")
    if start < now:
        raise InvalidBooking("start_datetime", "Must not be in the past.", code="in_the_past")
    lead = timedelta(minutes=settings.BOOKING_MIN_LEAD)
    if start < now + lead:
        raise InvalidBooking(
            "start_datetime", f"Must be at least {settings.BOOKING_MIN_LEAD} minutes from now.", code="too_soon"
        )
    if start > now + timedelta(days=settings.BOOKING_MAX_HORIZON):
        raise InvalidBooking(
            "start_datetime",
            f"Must be within {settings.BOOKING_MAX_HORIZON} days from now.",
            code="beyond_horizon",
        )
    if end - start < timedelta(minutes=settings.BOOKING_MIN_DURATION):
        raise InvalidBooking(
            "end_datetime", f"A booking lasts at least {settings.BOOKING_MIN_DURATION} minutes.", code="too_short"
        )
    if end - start > timedelta(days=settings.BOOKING_MAX_DAYS):
        raise InvalidBooking(
            "end_datetime", f"A booking lasts at most {settings.BOOKING_MAX_DAYS} days.", code="too_long"
        )


def cancellation_deadline(status: str, start: datetime) -> datetime | None:
    """Until when the customer may cancel a booking in ``status`` starting at ``start``: a pending one (a request
    withdrawn) until its start, an approved, confirmed or paid one until settings.CANCEL_CUTOFF hours before it;
    None for a status that cannot be cancelled."""
    if status == "pending":
        return start
    if status in ("approved", "confirmed", "paid"):
        return start - timedelta(hours=settings.CANCEL_CUTOFF)
    return None


def unprintable_on_invoice(value: str) -> str | None:
    """Why the invoice cannot print ``value`` (one sentence), or None when it can: a character outside Unicode's
    Basic Multilingual Plane (emoji, U+10000 and up), which the invoice's fonts cannot draw and whose text the PDF
    would not give back on copy or search. The API answers it 400 ``unsupported_character``; the admin, a form
    error."""
    bad = next((char for char in value if ord(char) > 0xFFFF), None)
    if bad is None:
        return None
    return (
        f"The character U+{ord(bad):04X} cannot be printed on the invoice (emoji and other characters beyond "
        "U+FFFF are not supported)."
    )
