"""Booking operations: check and price a request (`plan_booking`, the quote), and those that lock rows: create
(with the slot check), cancel, and set the invoice's buyer.

They raise the project's own exceptions (`lebrq.exceptions`), which `lebrq.errors` maps to HTTP."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from lebrq.exceptions import (
    CancellationWindowClosed,
    DuplicateBooking,
    InvalidBooking,
    InvoiceIssued,
    NotCancellable,
    SlotConflict,
)

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


def overlapping(space: Space | int, start: datetime, end: datetime, *statuses: str):
    """Bookings of ``space`` (or its id) that hold the slot (or have one of ``statuses``) and overlap ``[start, end)``
    (touching ends do not overlap)."""
    return Booking.objects.filter(
        space=space,
        status__in=[*Booking.BLOCKING_STATUSES, *statuses],
        start_datetime__lt=end,
        end_datetime__gt=start,
    )


@dataclass(frozen=True)
class BookingPlan:
    """A priced booking request, not stored: ``start``/``end`` aware UTC instants, ``lines`` unsaved
    `BookingItem` rows with their ``line_total``, ``total`` the taxable value (INR, rental + lines)."""

    space: Space
    start: datetime
    end: datetime
    attendees: int
    lines: list[BookingItem]
    total: Decimal


def hold_slot(space_id: int, start: datetime, end: datetime, *, exclude_pk: int | None = None) -> None:
    """Lock the space row (``SELECT ... FOR UPDATE``, the same lock as `create_booking`'s) and raise
    `SlotConflict` when ``[start, end)`` overlaps an approved, confirmed or paid booking of it other than
    ``exclude_pk``. Every path that makes a booking blocking calls it inside the transaction that saves the booking
    (the admin's approve, confirm and paid), so two such changes for one space are serialised: the second sees the
    first. Raises `RuntimeError` outside a transaction (the lock would be released at once)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("hold_slot must run inside the transaction that saves the booking")
    list(Space.objects.select_for_update().filter(pk=space_id).values_list("pk", flat=True))
    clash = overlapping(space_id, start, end).exclude(pk=exclude_pk).first()
    if clash is not None:
        raise SlotConflict(f"The slot overlaps {clash.booking_reference} ({clash.status}).")


def plan_booking(
    space: Space,
    *,
    start: datetime,
    end: datetime,
    attendees: int,
    items: list[tuple[int, int]],
    custom_items: list[CustomLine],
) -> BookingPlan:
    """Check and price a booking request for ``space`` (active), writing nothing.

    ``start`` and ``end`` are aware, or naive local times of the venue (`rules.as_utc`); the time rules
    (`rules.check_times`) apply as of now. ``items`` is ``[(item_id, quantity), ...]``; a custom line's SAC is
    settings.SAC_CUSTOM_LINE and its line total at most settings.CUSTOM_LINE_MAX_TOTAL INR. Raises
    `InvalidBooking` for a time the rules refuse, more attendees than the space holds, an unknown or inactive
    item, a custom line or a total above its bound (`MAX_TOTAL`).
    """
    zone = rules.venue_zone(Venue.objects.values_list("time_zone", flat=True).get(pk=space.venue_id))
    start, end = rules.as_utc(start, zone, "start_datetime"), rules.as_utc(end, zone, "end_datetime")
    rules.check_times(start, end, timezone.now())
    if attendees > space.capacity:
        raise InvalidBooking("attendees", f"The space holds at most {space.capacity} people.")
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
        line = BookingItem(
            name=custom.name, hsn_sac=settings.SAC_CUSTOM_LINE, quantity=custom.quantity, unit_price=custom.unit_price
        )
        if pricing.line_total(line.quantity, line.unit_price) > settings.CUSTOM_LINE_MAX_TOTAL:
            raise InvalidBooking(
                "custom_items", f"A custom line may total at most {settings.CUSTOM_LINE_MAX_TOTAL} INR."
            )
        lines.append(line)
    for line in lines:
        line.line_total = pricing.line_total(line.quantity, line.unit_price)
    rental = pricing.rental_amount(start, end, space.price_per_hour)
    total = pricing.booking_total(rental, (line.line_total for line in lines))
    if total > MAX_TOTAL or any(line.line_total > MAX_TOTAL for line in lines):
        raise InvalidBooking("custom_items", f"The booking total may be at most {MAX_TOTAL} INR.")
    return BookingPlan(space=space, start=start, end=end, attendees=attendees, lines=lines, total=total)


def active_space(space_id: int, *, lock: bool = False) -> Space:
    """The active space ``space_id``, its row locked (``SELECT ... FOR UPDATE``) when ``lock``; raises
    `InvalidBooking` when there is none. Locks the space row only (a join would lock its venue too, serialising
    every space of the venue)."""
    spaces = Space.objects.select_for_update() if lock else Space.objects.all()
    space = spaces.filter(pk=space_id, is_active=True).first()
    if space is None:
        raise InvalidBooking("space_id", f"Space {space_id} does not exist.")
    return space


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
    """Create a pending booking as `plan_booking` checks and prices it (its errors are raised as they are).

    The space row is locked (`active_space`) so two concurrent requests for one slot are serialised. Raises
    `SlotConflict` when the slot overlaps an approved, confirmed or paid booking of the same space, and
    `DuplicateBooking` when it overlaps one of the customer's own pending bookings of it.
    """
    space = active_space(space_id, lock=True)
    plan = plan_booking(space, start=start, end=end, attendees=attendees, items=items, custom_items=custom_items)
    if overlapping(space, plan.start, plan.end).exists():
        raise SlotConflict("The space is already booked for an overlapping time slot.")
    own = overlapping(space, plan.start, plan.end, Booking.Status.PENDING).filter(customer=customer).first()
    if own is not None:
        raise DuplicateBooking(f"You already have booking {own.booking_reference} ({own.status}) of this space then.")
    booking = Booking.objects.create(
        customer=customer,
        space=space,
        start_datetime=plan.start,
        end_datetime=plan.end,
        attendees=attendees,
        customer_note=customer_note,
        event_type=event_type,
        total_amount=plan.total,
        price_per_hour=space.price_per_hour,
    )
    for line in plan.lines:
        line.booking = booking
    BookingItem.objects.bulk_create(plan.lines)
    return booking


def quote_booking(*, space_id: int, **request) -> BookingPlan:
    """`plan_booking` for the active space ``space_id`` (``request``: its keyword arguments), storing nothing."""
    return plan_booking(active_space(space_id), **request)


@transaction.atomic
def reprice(booking_id: int) -> Decimal:
    """Recompute a booking's line totals and ``total_amount`` (the taxable value, INR) from its times, rate and
    lines, as `plan_booking` prices them, after staff edited them in the admin; returns the new total."""
    booking = Booking.objects.select_for_update().select_related("space").get(pk=booking_id)
    line_totals = []
    for line in booking.items.all():
        total = pricing.line_total(line.quantity, line.unit_price)
        if total != line.line_total:
            BookingItem.objects.filter(pk=line.pk).update(line_total=total)
        line_totals.append(total)
    rental = pricing.rental_amount(booking.start_datetime, booking.end_datetime, booking.rate)
    total = pricing.booking_total(rental, line_totals)
    Booking.objects.filter(pk=booking_id).update(total_amount=total)
    return total


@transaction.atomic
def cancel_booking(booking_id: int, *, by_customer: bool = True) -> Booking:
    """Cancel a booking that is still pending, approved, confirmed or paid; raises `NotCancellable` otherwise,
    `CancellationWindowClosed` when ``by_customer`` and its `rules.cancellation_deadline` has passed, and
    `InvoiceIssued` for a booking with a numbered tax invoice."""
    booking = Booking.objects.select_for_update().get(pk=booking_id)
    if booking.status not in Booking.CANCELLABLE_STATUSES:
        raise NotCancellable(f"A {booking.status} booking cannot be cancelled.")
    deadline = rules.cancellation_deadline(booking.status, booking.start_datetime)
    if by_customer and timezone.now() >= deadline:
        raise CancellationWindowClosed(
            f"A {booking.status} booking can be cancelled until {deadline.isoformat()}; contact the venue."
        )
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
