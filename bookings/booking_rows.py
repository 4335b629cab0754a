"""Bookings and venues as the API returns them, built from `.values()` rows: the read paths of ``/api/bookings``
and ``/api/venues``.

`bookings.serializers.BookingSerializer` (`VenueSerializer` for venues) declares the shape (it is what the OpenAPI
schema shows) and stays the reference: the keys and their order are read from its ``Meta.fields`` (and its nested
serializers'), and the tests compare the rows with the serializer's output for the same bookings and venues, key
for key and value for value. Values are formatted by DRF's own field classes (`DateTimeField`: ISO 8601 in the
venue's time zone, see `serializers.local_datetime`; `DecimalField`: a string with the model field's decimal
places), built once per process.

Why not the serializer itself: a `ModelSerializer` builds its fields, their validators and its nested serializers
again for every request, and prefetching builds model instances that refer to each other in cycles, left for the
garbage collector. For a page of 20 bookings that was about 19 ms of CPU per request in one worker (measured with
``bench/load.py``); rows as dicts and three queries cost a fraction of it.
"""

import functools
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.db.models import Model, QuerySet
from rest_framework import serializers

from lebrq.db.prepared import PreparedValues

from . import money, rules
from .models import Booking, BookingItem, Payment, Space
from .serializers import (
    LOCAL_DATETIME_FIELDS,
    BookingItemSerializer,
    BookingSerializer,
    PaymentSerializer,
    SpaceSerializer,
    local_datetime,
)


def _decimal(model: type[Model], name: str) -> Callable[[Any], str | None]:
    """DRF's representation of ``model.name``, a `DecimalField`: a string with the field's decimal places."""
    column = model._meta.get_field(name)
    field = serializers.DecimalField(max_digits=column.max_digits, decimal_places=column.decimal_places)
    return lambda value: field.to_representation(value) if value is not None else None


#: One output key: ``(key, column of the row, formatter or None)``.
Spec = tuple[str, str, Callable[[Any], Any] | None]


def _specs(fields: list[str], columns: dict[str, str], formats: dict[str, Callable]) -> tuple[Spec, ...]:
    """The keys ``fields`` (a serializer's ``Meta.fields``, in order), each read from its column (``columns``,
    else the key itself) and formatted by ``formats`` (else as it is)."""
    return tuple((name, columns.get(name, name), formats.get(name)) for name in fields)


def _build(specs: tuple[Spec, ...], row: dict) -> dict:
    return {key: fmt(row[column]) if fmt else row[column] for key, column, fmt in specs}


#: Keys of the nested ``space``, read from the booking row through its join.
SPACE_SPECS = _specs(
    SpaceSerializer.Meta.fields,
    {name: f"space__{name}" for name in SpaceSerializer.Meta.fields} | {"id": "space_id"},
    {"price_per_hour": _decimal(Space, "price_per_hour")},
)
ITEM_SPECS = _specs(
    BookingItemSerializer.Meta.fields,
    {},
    {"unit_price": _decimal(BookingItem, "unit_price"), "line_total": _decimal(BookingItem, "line_total")},
)
#: A payment's ``paid_at`` is given in the venue's time zone (filled in by `bookings`).
PAYMENT_SPECS = _specs(PaymentSerializer.Meta.fields, {}, {"amount": _decimal(Payment, "amount")})
#: The booking's own keys: every ``BookingSerializer.Meta.fields`` but the nested ``space``, ``items`` and
#: ``payments`` and the computed ``cancellation_deadline`` and `money.MONEY_KEYS` (filled in by `_booking`).
NESTED = ("space", "items", "payments", "cancellation_deadline", *money.MONEY_KEYS)
BOOKING_SPECS = _specs(
    [name for name in BookingSerializer.Meta.fields if name not in NESTED],
    {"venue_name": "space__venue__name"},
    {"total_amount": _decimal(Booking, "total_amount")},
)
#: The venue's time zone, in which the booking's instants (`LOCAL_DATETIME_FIELDS`) are given.
ZONE_COLUMN = "space__venue__time_zone"

#: Columns of one booking row; ``space__…`` and ``space__venue__name`` come through the joins.
BOOKING_COLUMNS = tuple(
    dict.fromkeys([*(column for _, column, _ in BOOKING_SPECS + SPACE_SPECS), ZONE_COLUMN, "price_per_hour"])
)
ITEM_COLUMNS = ("booking_id", *(column for _, column, _ in ITEM_SPECS))
PAYMENT_COLUMNS = ("booking_id", *(column for _, column, _ in PAYMENT_SPECS))
#: Output keys in `BookingSerializer.Meta.fields` order.
_KEYS = tuple(BookingSerializer.Meta.fields)


def _booking(row: dict, items: list[dict], payments: list[dict], amounts: dict, staff: bool) -> dict:
    """One booking's output; ``amounts`` has its raw ``lines`` (name, hsn_sac, quantity, unit_price) and ``paid``
    (successful payment amounts) for `money.booking_money`."""
    values = _build(BOOKING_SPECS, row)
    for name in LOCAL_DATETIME_FIELDS:
        values[name] = local_datetime(row[name], row[ZONE_COLUMN])
    values.update(space=_build(SPACE_SPECS, row), items=items, payments=payments)
    deadline = rules.cancellation_deadline(row["status"], row["start_datetime"])
    values["cancellation_deadline"] = local_datetime(deadline, row[ZONE_COLUMN])
    values.update(
        money.booking_money(
            row["start_datetime"],
            row["end_datetime"],
            row["space__price_per_hour"] if row["price_per_hour"] is None else row["price_per_hour"],
            amounts.get("lines", ()),
            amounts.get("paid", ()),
        )
    )
    data = {key: values[key] for key in _KEYS}
    if not staff:
        del data["admin_note"]
    return data


@functools.cache
def _values(model: type[Model], columns: tuple[str, ...]) -> QuerySet:
    """``model.objects.values(*columns)``, resolved once per process: later queries clone it and add their
    filters, instead of resolving every column's name and join again per request."""
    return model._default_manager.values(*columns)


#: The items and the payments of a list of bookings, by id: compiled once per number of bookings (`PreparedValues`).
_ITEM_ROWS = PreparedValues(lambda ids: _values(BookingItem, ITEM_COLUMNS).filter(booking_id__in=ids).order_by("id"))
_PAYMENT_ROWS = PreparedValues(lambda ids: _values(Payment, PAYMENT_COLUMNS).filter(booking_id__in=ids).order_by("id"))


def booking_values() -> QuerySet:
    """All bookings as rows of `BOOKING_COLUMNS`, the columns `bookings` reads: filter, order and slice it, then
    pass it to `bookings` (any other queryset of bookings is turned into such rows there)."""
    return _values(Booking, BOOKING_COLUMNS).all()  # a clone: the cached queryset's result cache stays empty


def bookings(queryset: QuerySet, *, staff: bool) -> list[dict]:
    """The bookings of ``queryset`` (filtered, ordered, possibly sliced; of `Booking` instances or from
    `booking_values`) as the API returns them, in its order.

    Three queries whatever the number of bookings: the bookings joined with their space and venue, their items,
    their payments. ``staff``: include ``admin_note`` (staff only, as `BookingSerializer` does).
    """
    if queryset._fields != BOOKING_COLUMNS:  # not rows of booking_values() yet
        queryset = queryset.values(*BOOKING_COLUMNS)
    rows = list(queryset)
    if not rows:
        return []
    ids = [row["id"] for row in rows]
    items: dict[int, list[dict]] = defaultdict(list)
    amounts: dict[int, dict[str, list]] = defaultdict(lambda: {"lines": [], "paid": []})
    for row in _ITEM_ROWS.rows(ids):
        items[row["booking_id"]].append(_build(ITEM_SPECS, row))
        amounts[row["booking_id"]]["lines"].append((row["name"], row["hsn_sac"], row["quantity"], row["unit_price"]))
    payments: dict[int, list[dict]] = defaultdict(list)
    zones = {row["id"]: row[ZONE_COLUMN] for row in rows}
    for row in _PAYMENT_ROWS.rows(ids):
        payment = _build(PAYMENT_SPECS, row)
        payment["paid_at"] = local_datetime(row["paid_at"], zones[row["booking_id"]])
        payments[row["booking_id"]].append(payment)
        if row["status"] == Payment.Status.SUCCESS:
            amounts[row["booking_id"]]["paid"].append(row["amount"])
    return [_booking(row, items[row["id"]], payments[row["id"]], amounts[row["id"]], staff) for row in rows]


VENUE_COLUMNS = ("id", "name", "address", "city", "state")
SPACE_COLUMNS = ("id", "venue_id", "name", "capacity", "price_per_hour")
_PRICE_PER_HOUR = _decimal(Space, "price_per_hour")
#: The active spaces of a list of venues, by name and id (compiled once per number of venues).
_ACTIVE_SPACE_ROWS = PreparedValues(
    lambda ids: _values(Space, SPACE_COLUMNS).filter(venue_id__in=ids, is_active=True).order_by("name", "id")
)


def venues(queryset: QuerySet) -> list[dict]:
    """The venues of ``queryset`` (filtered, ordered) as `VenueSerializer` writes them, each with its active
    spaces by name and id: the read path of ``/api/venues``. Two queries whatever the number of venues."""
    rows = list(queryset.values(*VENUE_COLUMNS))
    if not rows:
        return []
    spaces: dict[int, list[dict]] = defaultdict(list)
    for space in _ACTIVE_SPACE_ROWS.rows([row["id"] for row in rows]):
        space["price_per_hour"] = _PRICE_PER_HOUR(space["price_per_hour"])
        spaces[space["venue_id"]].append(space)
    return [{**row, "spaces": spaces[row["id"]]} for row in rows]
