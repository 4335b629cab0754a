"""Booking operations that lock rows: create (with the slot check), cancel, and set the invoice's buyer.

They raise the project's own exceptions (`lebrq.exceptions`), which `lebrq.errors` maps to HTTP."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from lebrq.exceptions import InvalidBooking, InvoiceIssued, NotCancellable, SlotConflict

from . import pricing, rules
from .models import Booking, BookingItem, Item, Space, Venue

#: Largest amount a booking's total and line totals can hold (their columns: 14 digits, 2 decimal places), INR.
MAX_TOTAL = Decimal("999999999999.99")
#: The booking fields that make the invoice's buyer ("Bill to"), set by `set_billing`.
BILLING_FIELDS = ("billing_name", "billing_phone", "billing_email", "billing_address", "billing_gstin")


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

    ``start`` and ``end`` are aware, or naive local times of the venue (`rules.as_utc`); the time rules
    (`rules.check_times`) apply as of now. The space row is locked (``SELECT ... FOR UPDATE``) so two concurrent
    requests for one slot are serialised. Raises `InvalidBooking` for an unknown/inactive space or item, too many
    attendees, a total above `MAX_TOTAL` or a time the rules refuse, and `SlotConflict` when the slot overlaps an
    approved, confirmed or paid booking of the same space.
    """
    # Locks the space row only (a join would lock its venue too, serialising every space of the venue).
    space = Space.objects.select_for_update().filter(pk=space_id, is_active=True).first()
    if space is None:
        raise InvalidBooking("space_id", f"Space {space_id} does not exist.")
    zone = rules.venue_zone(Venue.objects.values_list("time_zone", flat=True).get(pk=space.venue_id))
    start, end = rules.as_utc(start, zone, "start_datetime"), rules.as_utc(end, zone, "end_datetime")
    rules.check_times(start, end, timezone.now())
    if attendees > space.capacity:
        raise InvalidBooking("attendees", f"The space holds at most {space.capacity} people.")
    if overlapping(space, start, end).exists():
        raise SlotConflict("The space is already booked for an overlapping time slot.")

    catalogue = Item.objects.in_bulk([item_id for item_id, _ in items])
    lines = []
    for item_id, quantity in items:
        item = catalogue.get(item_id)
        if item is None or not item.is_active:
            raise InvalidBooking("items", f"Item {item_id} does not exist.")
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
        raise InvalidBooking("custom_items", f"The booking total may be at most {MAX_TOTAL} INR.")
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
    """Cancel a booking that is still pending, approved or confirmed; raises `NotCancellable` otherwise, and
    `InvoiceIssued` for a booking with a numbered tax invoice."""
    booking = Booking.objects.select_for_update().get(pk=booking_id)
    if booking.status not in Booking.CANCELLABLE_STATUSES:
        raise NotCancellable(f"A {booking.status} booking cannot be cancelled.")
    if booking.invoice_number:
        # A numbered tax invoice stays in the gapless series: staff issue a credit note instead.
        raise InvoiceIssued(
            f"Booking {booking.booking_reference} has tax invoice {booking.invoice_number}; "
            "contact the venue to cancel."
        )
    booking.status = Booking.Status.CANCELLED
    booking.save(update_fields=["status", "updated_at"])
    return booking


@transaction.atomic
def set_billing(booking_id: int, fields: dict[str, str]) -> Booking:
    """Set the invoice's buyer details: ``fields`` maps some of `BILLING_FIELDS` to their (validated) values.

    The booking row is locked first, which orders this against the tax invoice's numbering
    (`bookings.invoicing.numbering.issue_invoice_number`); raises `InvoiceIssued` once the booking's tax invoice
    has a number (its buyer is then fixed: staff change it in the admin).
    """
    booking = Booking.objects.select_for_update().get(pk=booking_id)
    if booking.invoice_number:
        raise InvoiceIssued(
            f"Tax invoice {booking.invoice_number} has been issued; its buyer details can no longer change."
        )
    unknown = fields.keys() - set(BILLING_FIELDS)
    if unknown:
        raise ValueError(f"Not billing fields: {sorted(unknown)}")
    for name, value in fields.items():
        setattr(booking, name, value)
    booking.save(update_fields=[*fields, "updated_at"])
    return booking
