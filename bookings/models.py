"""Venues, spaces, add-on items, bookings and their payments. Money is INR as `Decimal` (2 places)."""

import contextlib
import secrets
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


def validate_gstin_field(value: str) -> None:
    """Model-field validator: `ValidationError` unless ``value`` is a valid GSTIN (`bookings.gst.validate_gstin`)."""
    from .gst import validate_gstin

    try:
        validate_gstin(value)
    except ValueError as exc:
        raise ValidationError(str(exc), code="invalid_gstin") from exc


def default_time_zone() -> str:
    """A new venue's time zone: settings.TIME_ZONE (an IANA name such as ``"Asia/Kolkata"``)."""
    return settings.TIME_ZONE


def validate_time_zone(value: str) -> None:
    """Model-field validator: `ValidationError` unless ``value`` names an IANA time zone known to `zoneinfo`."""
    try:
        ZoneInfo(value)
    except (ValueError, ZoneInfoNotFoundError) as exc:
        raise ValidationError(f"{value!r} is not a known time zone.", code="invalid_time_zone") from exc


def new_booking_reference() -> str:
    """Return a fresh booking reference: ``"BK-"`` followed by 10 uppercase hex digits (40 random bits)."""
    return "BK-" + secrets.token_hex(5).upper()


class Venue(models.Model):
    name = models.CharField(max_length=200)
    address = models.TextField(blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=100, blank=True)
    time_zone = models.CharField(
        max_length=64,
        default=default_time_zone,
        validators=[validate_time_zone],
        help_text="IANA time zone of the venue: naive booking times are read in it, invoices print in it.",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Space(models.Model):
    venue = models.ForeignKey(Venue, on_delete=models.CASCADE, related_name="spaces")
    name = models.CharField(max_length=200)
    capacity = models.PositiveIntegerField()
    price_per_hour = models.DecimalField(max_digits=12, decimal_places=2, help_text="INR per hour, before GST.")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["venue_id", "name", "id"]

    def __str__(self) -> str:
        return f"{self.venue.name} – {self.name}"


class Item(models.Model):
    """An add-on that can be booked with a space (catering, projector, decoration...)."""

    name = models.CharField(max_length=200)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2, help_text="INR per unit, before GST.")
    hsn_sac = models.CharField("HSN/SAC code", max_length=8, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Booking(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        CONFIRMED = "confirmed"
        PAID = "paid"
        CANCELLED = "cancelled"
        REJECTED = "rejected"
        COMPLETED = "completed"

    #: Statuses that hold the slot: another booking overlapping one of these is refused (409).
    BLOCKING_STATUSES = (Status.APPROVED, Status.CONFIRMED, Status.PAID)
    #: Statuses a customer may still cancel (until `bookings.rules.cancellation_deadline`).
    CANCELLABLE_STATUSES = (Status.PENDING, Status.APPROVED, Status.CONFIRMED, Status.PAID)

    booking_reference = models.CharField(max_length=13, unique=True, default=new_booking_reference, editable=False)
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bookings")
    space = models.ForeignKey(Space, on_delete=models.PROTECT, related_name="bookings")
    start_datetime = models.DateTimeField()
    end_datetime = models.DateTimeField()
    attendees = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    event_type = models.CharField(max_length=100, blank=True)
    customer_note = models.TextField(blank=True)
    admin_note = models.TextField(blank=True)
    total_amount = models.DecimalField(
        max_digits=14, decimal_places=2, default=0, help_text="INR, taxable value (before GST)."
    )
    # The space's hourly rate when the booking was made, so a later price change does not alter its invoice.
    price_per_hour = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="INR per hour, before GST, as booked; blank: the space's current rate.",
    )
    # The invoice's buyer ("Bill to"); a blank name or email falls back to the customer's account.
    billing_name = models.CharField(max_length=200, blank=True, help_text="Blank: the customer's full name.")
    billing_phone = models.CharField(max_length=20, blank=True)
    billing_email = models.EmailField(blank=True, help_text="Blank: the customer's email.")
    billing_address = models.TextField(max_length=500, blank=True)
    billing_gstin = models.CharField(
        "buyer GSTIN",
        max_length=15,
        blank=True,
        validators=[validate_gstin_field],
        help_text="The buyer's GSTIN for a B2B invoice (15 characters, check character verified); blank: unregistered.",
    )
    # Set once, when the booking's TAX INVOICE is first issued (bookings.invoicing.numbering.issue_invoice_number).
    invoice_number = models.CharField(max_length=32, unique=True, null=True, blank=True, editable=False)
    invoice_issued_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-start_datetime", "-id"]
        indexes = [models.Index(fields=["space", "start_datetime", "end_datetime"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_datetime__gt=models.F("start_datetime")), name="booking_end_after_start"
            )
        ]

    def __str__(self) -> str:
        return self.booking_reference

    @property
    def rate(self):
        """The hourly rate this booking is priced at (INR): its own ``price_per_hour``, else its space's."""
        return self.space.price_per_hour if self.price_per_hour is None else self.price_per_hour

    def clean(self) -> None:
        """Store a valid buyer GSTIN normalised (upper case, no spaces or dashes); `clean_fields` validated it."""
        super().clean()
        if self.billing_gstin:
            from .gst import validate_gstin

            with contextlib.suppress(ValueError):  # an invalid one is reported by the field's validator
                self.billing_gstin = validate_gstin(self.billing_gstin)


class BookingItem(models.Model):
    """One line of a booking: a catalogue `Item` or a custom line (name and price given by the customer)."""

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="items")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, null=True, blank=True)
    name = models.CharField(max_length=200)
    hsn_sac = models.CharField("HSN/SAC code", max_length=8, blank=True)
    quantity = models.PositiveIntegerField(default=1)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    line_total = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} × {self.quantity}"


class Payment(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCESS = "success"
        FAILED = "failed"
        REFUNDED = "refunded"

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="payments")
    amount = models.DecimalField(max_digits=14, decimal_places=2, help_text="INR.")
    provider = models.CharField(max_length=50, blank=True)
    provider_reference = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    paid_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.amount} {self.status}"


class InvoiceCounter(models.Model):
    """The last tax invoice serial issued in one financial year (April–March); its row is locked while a number is
    taken, so numbers are consecutive with no gaps or repeats (CGST Rules 2017, Rule 46(b))."""

    financial_year = models.CharField(max_length=7, primary_key=True, help_text='e.g. "2026-27".')
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.financial_year}: {self.last_number}"
