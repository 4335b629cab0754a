"""When a space is taken: the busy intervals of its blocking bookings over a range of the venue's local dates,
with no personal data (``GET /api/spaces/{id}/availability``)."""

from datetime import UTC, date, datetime, time, timedelta

from lebrq.exceptions import InvalidBooking

from .models import Booking
from .rules import venue_zone

#: Longest range of dates one request may ask for, in days (both ends included).
MAX_DAYS = 92


def _date(value: str | None, field: str) -> date:
    if not value:
        raise InvalidBooking(field, "This field is required (YYYY-MM-DD).", code="required")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidBooking(field, "Must be a date: YYYY-MM-DD.") from None


def date_range(first: str | None, last: str | None) -> tuple[date, date]:
    """The query's ``from`` and ``to`` dates (ISO 8601, both included, at most `MAX_DAYS` days). Raises
    `InvalidBooking` naming ``from`` or ``to`` when one is missing, not a date, or the range is backwards or too
    long."""
    start, end = _date(first, "from"), _date(last, "to")
    if end < start:
        raise InvalidBooking("to", "Must not be before from.")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidBooking("to", f"At most {MAX_DAYS} days from from.")
    return start, end


def busy_intervals(space_id: int, zone_name: str, first: date, last: date) -> list[tuple[datetime, datetime]]:
    """``(start, end)`` of the approved, confirmed or paid bookings of the space that overlap the local dates
    ``first``..``last`` (from ``first`` 00:00 to the midnight after ``last``, in ``zone_name``), ordered by
    start; aware datetimes in that zone."""
    zone = venue_zone(zone_name)
    since = datetime.combine(first, time(), tzinfo=zone).astimezone(UTC)
    until = datetime.combine(last + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
    rows = (
        Booking.objects.filter(
            space_id=space_id,
            status__in=Booking.BLOCKING_STATUSES,
            start_datetime__lt=until,
            end_datetime__gt=since,
        )
        .order_by("start_datetime", "id")
        .values_list("start_datetime", "end_datetime")
    )
    return [(start.astimezone(zone), end.astimezone(zone)) for start, end in rows]
