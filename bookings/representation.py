"""Bookings and venues as the API returns them, built from `.values()` rows: the read paths of ``/api/bookings``
and ``/api/venues``.

`bookings.serializers.BookingSerializer` (`VenueSerializer` for venues) declares the shape (it is what the
OpenAPI schema shows) and stays the reference: the tests compare `bookings` and `venues` with the serializers'
output for the same rows, key for key and value for value. Values are formatted by DRF's own field classes
(`DateTimeField`: ISO 8601 in the current time zone; `DecimalField`: a string with the model field's decimal
places), built once per process.

Why not the serializer itself: a `ModelSerializer` builds its fields, their validators and its nested
serializers again for every request, and prefetching builds model instances that refer to each other in
cycles, left for the garbage collector. For a page of 20 bookings that was about 19 ms of CPU per request in
one worker (measured with ``bench/load.py``); rows as dicts and three queries cost a fraction of it.
"""

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.db.models import Model, QuerySet
from rest_framework import serializers

from .models import Booking, BookingItem, Payment, Space

_DATETIME = serializers.DateTimeField()


def _datetime(value) -> str | None:
    """DRF's representation of an aware datetime (ISO 8601 in the current time zone, ``Z`` for UTC)."""
    return _DATETIME.to_representation(value) if value is not None else None


def _decimal(model: type[Model], name: str) -> Callable[[Any], str | None]:
    """DRF's representation of ``model.name``, a `DecimalField`: a string with the field's decimal places."""
    column = model._meta.get_field(name)
    field = serializers.DecimalField(max_digits=column.max_digits, decimal_places=column.decimal_places)
    return lambda value: field.to_representation(value) if value is not None else None


_price_per_hour = _decimal(Booking._meta.get_field("space").related_model, "price_per_hour")
_total_amount = _decimal(Booking, "total_amount")
_unit_price = _decimal(BookingItem, "unit_price")
_line_total = _decimal(BookingItem, "line_total")
_amount = _decimal(Payment, "amount")

#: Columns of one booking row; ``space__…`` and ``space__venue__name`` come through the joins.
BOOKING_COLUMNS = (
    "id",
    "booking_reference",
    "customer_id",
    "space_id",
    "space__venue_id",
    "space__name",
    "space__capacity",
    "space__price_per_hour",
    "space__venue__name",
    "start_datetime",
    "end_datetime",
    "attendees",
    "status",
    "event_type",
    "customer_note",
    "admin_note",
    "total_amount",
    "billing_name",
    "billing_phone",
    "billing_email",
    "billing_address",
    "billing_gstin",
    "invoice_number",
    "created_at",
    "updated_at",
)
ITEM_COLUMNS = ("booking_id", "id", "item_id", "name", "hsn_sac", "quantity", "unit_price", "line_total")
PAYMENT_COLUMNS = ("booking_id", "id", "amount", "provider", "provider_reference", "status", "paid_at")


def _item(row: dict) -> dict:
    return {
        "id": row["id"],
        "item_id": row["item_id"],
        "name": row["name"],
        "hsn_sac": row["hsn_sac"],
        "quantity": row["quantity"],
        "unit_price": _unit_price(row["unit_price"]),
        "line_total": _line_total(row["line_total"]),
    }


def _payment(row: dict) -> dict:
    return {
        "id": row["id"],
        "amount": _amount(row["amount"]),
        "provider": row["provider"],
        "provider_reference": row["provider_reference"],
        "status": row["status"],
        "paid_at": _datetime(row["paid_at"]),
    }


def _booking(row: dict, items: list[dict], payments: list[dict], staff: bool) -> dict:
    data = {
        "id": row["id"],
        "booking_reference": row["booking_reference"],
        "customer_id": row["customer_id"],
        "space_id": row["space_id"],
        "space": {
            "id": row["space_id"],
            "venue_id": row["space__venue_id"],
            "name": row["space__name"],
            "capacity": row["space__capacity"],
            "price_per_hour": _price_per_hour(row["space__price_per_hour"]),
        },
        "venue_name": row["space__venue__name"],
        "start_datetime": _datetime(row["start_datetime"]),
        "end_datetime": _datetime(row["end_datetime"]),
        "attendees": row["attendees"],
        "status": row["status"],
        "event_type": row["event_type"],
        "customer_note": row["customer_note"],
        "admin_note": row["admin_note"],
        "total_amount": _total_amount(row["total_amount"]),
        "billing_name": row["billing_name"],
        "billing_phone": row["billing_phone"],
        "billing_email": row["billing_email"],
        "billing_address": row["billing_address"],
        "billing_gstin": row["billing_gstin"],
        "invoice_number": row["invoice_number"],
        "items": items,
        "payments": payments,
        "created_at": _datetime(row["created_at"]),
        "updated_at": _datetime(row["updated_at"]),
    }
    if not staff:
        del data["admin_note"]
    return data


def bookings(queryset: QuerySet, *, staff: bool) -> list[dict]:
    """The bookings of ``queryset`` (filtered, ordered, possibly sliced) as the API returns them, in its order.

    Three queries whatever the number of bookings: the bookings joined with their space and venue, their items,
    their payments. ``staff``: include ``admin_note`` (staff only, as `BookingSerializer` does).
    """
    rows = list(queryset.values(*BOOKING_COLUMNS))
    if not rows:
        return []
    ids = [row["id"] for row in rows]
    items: dict[int, list[dict]] = defaultdict(list)
    for row in BookingItem.objects.filter(booking_id__in=ids).order_by("id").values(*ITEM_COLUMNS):
        items[row["booking_id"]].append(_item(row))
    payments: dict[int, list[dict]] = defaultdict(list)
    for row in Payment.objects.filter(booking_id__in=ids).order_by("id").values(*PAYMENT_COLUMNS):
        payments[row["booking_id"]].append(_payment(row))
    return [_booking(row, items[row["id"]], payments[row["id"]], staff) for row in rows]


VENUE_COLUMNS = ("id", "name", "address", "city", "state")
SPACE_COLUMNS = ("id", "venue_id", "name", "capacity", "price_per_hour")


def venues(queryset: QuerySet) -> list[dict]:
    """The venues of ``queryset`` (filtered, ordered) as `VenueSerializer` writes them, each with its active
    spaces by name and id. Two queries whatever the number of venues."""
    rows = list(queryset.values(*VENUE_COLUMNS))
    if not rows:
        return []
    spaces: dict[int, list[dict]] = defaultdict(list)
    active = Space.objects.filter(venue_id__in=[row["id"] for row in rows], is_active=True)
    for space in active.order_by("name", "id").values(*SPACE_COLUMNS):
        space["price_per_hour"] = _price_per_hour(space["price_per_hour"])
        spaces[space["venue_id"]].append(space)
    return [{**row, "spaces": spaces[row["id"]]} for row in rows]
