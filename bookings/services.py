"""Booking operations that touch several rows: create (with the slot check) and cancel."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError

from . import pricing
from .models import Booking, BookingItem, Item, Space

#: Largest amount a booking's total and line totals can hold (their columns: 14 digits, 2 decimal places), INR.
MAX_TOTAL = Decimal("999999999999.99")


class Conflict(APIException):
    """409: the request contradicts the current state (a taken slot, a booking that can no longer change)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict with the current state."
    default_code = "conflict"


@dataclass(frozen=True)
class CustomLine:
    name: str
    quantity: int
    unit_price: Decimal


def overlapping(space: Space, start: datetime, end: datetime):
    """Bookings of ``space`` that hold the slot and overlap ``[start, end)`` (touching ends do not overlap)."""
    return Booking.objects.filter(
        space=space,
        status__in=Booking.BLOCKING_STATUSES,
        start_datetime__lt=end,
        end_datetime__gt=start,
    )


@transaction.atomic
def create_booking(
    *,
    customer,
    space_id: int,
    start: datetime,
    end: datetime,
    attendees: int,
    items: list[tuple[int, int]],
    custom_items: list[CustomLine],
    customer_note: str = "",
    event_type: str = "",
) -> Booking:
    """Create a pending booking with its lines and total; ``items`` is ``[(item_id, quantity), ...]``.

    The space row is locked (``SELECT ... FOR UPDATE``) so two concurrent requests for one slot are serialised.
    Raises `ValidationError` (400) for an unknown/inactive space or item, too many attendees or a total above
    `MAX_TOTAL`, and `Conflict`
    (409) when the slot overlaps an approved, confirmed or paid booking of the same space.
    """
    # Locks the space row only (a join would lock its venue too, serialising every space of the venue).
    space = Space.objects.select_for_update().filter(pk=space_id, is_active=True).first()
    if space is None:
        raise ValidationError({"space_id": [f"Space {space_id} does not exist."]}, code="invalid")
    if attendees > space.capacity:
        raise ValidationError({"attendees": [f"The space holds at most {space.capacity} people."]}, code="invalid")
    if overlapping(space, start, end).exists():
        raise Conflict("The space is already booked for an overlapping time slot.", code="slot_conflict")

    catalogue = Item.objects.in_bulk([item_id for item_id, _ in items])
    lines = []
    for item_id, quantity in items:
        item = catalogue.get(item_id)
        if item is None or not item.is_active:
            raise ValidationError({"items": [f"Item {item_id} does not exist."]}, code="invalid")
        lines.append(
            BookingItem(item=item, name=item.name, hsn_sac=item.hsn_sac, quantity=quantity, unit_price=item.unit_price)
        )
    for custom in custom_items:
        lines.append(BookingItem(name=custom.name, quantity=custom.quantity, unit_price=custom.unit_price))
    for line in lines:
        line.line_total = pricing.line_total(line.quantity, line.unit_price)

    rental = pricing.rental_amount(start, end, space.price_per_hour)
    total = pricing.booking_total(rental, (line.line_total for line in lines))
    if total > MAX_TOTAL:
        raise ValidationError({"custom_items": [f"The booking total may be at most {MAX_TOTAL} INR."]}, code="invalid")
    booking = Booking.objects.create(
        customer=customer,
        space=space,
        start_datetime=start,
        end_datetime=end,
        attendees=attendees,
        customer_note=customer_note,
        event_type=event_type,
        total_amount=total,
    )
    for line in lines:
        line.booking = booking
    BookingItem.objects.bulk_create(lines)
    return booking


@transaction.atomic
def cancel_booking(booking_id: int) -> Booking:
    """Cancel a booking that is still pending, approved or confirmed; raises `Conflict` (409) otherwise."""
    booking = Booking.objects.select_for_update().get(pk=booking_id)
    if booking.status not in Booking.CANCELLABLE_STATUSES:
        raise Conflict(f"A {booking.status} booking cannot be cancelled.", code="not_cancellable")
    if booking.invoice_number:
        # A numbered tax invoice stays in the gapless series: staff issue a credit note instead.
        raise Conflict(
            f"Booking {booking.booking_reference} has tax invoice {booking.invoice_number}; "
            "contact the venue to cancel.",
            code="invoice_issued",
        )
    booking.status = Booking.Status.CANCELLED
    booking.save(update_fields=["status", "updated_at"])
    return booking
