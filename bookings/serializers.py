"""Serializers of the bookings API, in the original app's JSON shapes."""

import functools
from datetime import UTC
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from . import money, rules
from .gst import validate_gstin
from .models import Booking, BookingItem, Item, Payment, Space, Venue

MAX_MONEY = Decimal("9999999999.99")
#: Largest id the tables hold (BigAutoField: a signed 64-bit integer); a larger one is a 400, never a 500.
MAX_ID = 2**63 - 1
#: A booking's instants, given in its venue's local time with the offset (`local_datetime`).
LOCAL_DATETIME_FIELDS = ("start_datetime", "end_datetime", "created_at", "updated_at")


def printable_on_invoice(value: str) -> str:
    """Validator of customer text that the invoice prints: 400 ``unsupported_character`` when
    `rules.unprintable_on_invoice` says why it cannot be printed."""
    reason = rules.unprintable_on_invoice(value)
    if reason is not None:
        raise serializers.ValidationError(reason, code="unsupported_character")
    return value


@functools.lru_cache(maxsize=64)
def _local_field(zone_name: str) -> serializers.DateTimeField:
    return serializers.DateTimeField(default_timezone=ZoneInfo(zone_name))


def local_datetime(value, zone_name: str) -> str | None:
    """DRF's ISO 8601 of the aware ``value`` in the time zone ``zone_name`` (a venue's), with its offset
    (``2026-03-08T03:30:00-04:00``; ``Z`` for UTC); None stays None."""
    return _local_field(zone_name).to_representation(value) if value is not None else None


class SpaceSerializer(serializers.ModelSerializer):
    venue_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Space
        fields = ["id", "venue_id", "name", "capacity", "price_per_hour"]


class VenueSerializer(serializers.ModelSerializer):
    spaces = serializers.SerializerMethodField()

    class Meta:
        model = Venue
        fields = ["id", "name", "address", "city", "state", "spaces"]

    def get_spaces(self, venue) -> list[dict]:
        return SpaceSerializer([s for s in venue.spaces.all() if s.is_active], many=True).data


class ItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = Item
        fields = ["id", "name", "unit_price", "hsn_sac"]


class BookingItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = BookingItem
        fields = ["id", "item_id", "name", "hsn_sac", "quantity", "unit_price", "line_total"]


class PaymentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Payment
        fields = ["id", "amount", "provider", "provider_reference", "status", "paid_at"]


@extend_schema_field({"type": "string", "format": "decimal", "example": "5900.00"})
class BookingMoneyField(serializers.Field):
    """One of a booking's computed amounts (`bookings.money.MONEY_KEYS`: GST, grand total, balance due...), INR
    as a string with 2 decimal places; all of them are computed once per booking (`booking_money_json`)."""

    def __init__(self, **kwargs):
        super().__init__(read_only=True, source="*", **kwargs)

    def to_representation(self, booking):
        return booking_money_json(booking)[self.field_name]


def booking_money_json(booking) -> dict[str, str]:
    """`money.booking_money` of a `Booking` instance (its space, items and payments), kept on the instance."""
    cached = getattr(booking, "_money_json", None)
    if cached is None:
        cached = booking._money_json = money.booking_money(
            booking.start_datetime,
            booking.end_datetime,
            booking.rate,
            [(item.name, item.hsn_sac, item.quantity, item.unit_price) for item in booking.items.all()],
            [p.amount for p in booking.payments.all() if p.status == Payment.Status.SUCCESS],
        )
    return cached


@extend_schema_field({"type": "string", "format": "date-time", "nullable": True})
class CancellationDeadlineField(serializers.Field):
    """Until when the customer may cancel (`bookings.rules.cancellation_deadline`), in the venue's time zone;
    null when the booking's status cannot be cancelled."""

    def __init__(self, **kwargs):
        super().__init__(read_only=True, source="*", **kwargs)

    def to_representation(self, booking):
        deadline = rules.cancellation_deadline(booking.status, booking.start_datetime)
        return local_datetime(deadline, booking.space.venue.time_zone)


class BookingSerializer(serializers.ModelSerializer):
    """A booking as clients read it; ``admin_note`` is shown to staff only. ``total_amount`` is the taxable value
    (before GST); ``tax`` … ``balance_due`` are what the invoice says. Its dates and times (and its payments'
    ``paid_at``) are in the venue's time zone, with the offset."""

    # The money fields are `bookings.money`'s; the local instants are `LOCAL_DATETIME_FIELDS`.

    space = SpaceSerializer(read_only=True)
    venue_name = serializers.CharField(source="space.venue.name", read_only=True)
    customer_id = serializers.IntegerField(read_only=True)
    items = BookingItemSerializer(many=True, read_only=True)
    payments = PaymentSerializer(many=True, read_only=True)
    cancellation_deadline = CancellationDeadlineField()
    tax = BookingMoneyField()
    cgst = BookingMoneyField()
    sgst = BookingMoneyField()
    igst = BookingMoneyField()
    round_off = BookingMoneyField()
    grand_total = BookingMoneyField()
    amount_paid = BookingMoneyField()
    balance_due = BookingMoneyField()

    class Meta:
        model = Booking
        fields = [
            "id",
            "booking_reference",
            "customer_id",
            "space_id",
            "space",
            "venue_name",
            "start_datetime",
            "end_datetime",
            "attendees",
            "status",
            "cancellation_deadline",
            "event_type",
            "customer_note",
            "admin_note",
            "total_amount",
            *money.MONEY_KEYS,
            "billing_name",
            "billing_phone",
            "billing_email",
            "billing_address",
            "billing_gstin",
            "invoice_number",
            "items",
            "payments",
            "created_at",
            "updated_at",
        ]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        zone_name = instance.space.venue.time_zone
        for name in LOCAL_DATETIME_FIELDS:
            data[name] = local_datetime(getattr(instance, name), zone_name)
        for payment, stored in zip(data["payments"], instance.payments.all(), strict=True):
            payment["paid_at"] = local_datetime(stored.paid_at, zone_name)
        request = self.context.get("request")
        if not (request and request.user and request.user.is_staff):
            data.pop("admin_note")
        return data


class BillingSerializer(serializers.ModelSerializer):
    """Input of ``PATCH /api/bookings/{id}/billing``: the invoice's buyer ("Bill to"). Blank name or email: the
    customer's account values are printed. ``billing_gstin`` is checked (format, state code, PAN, check character)
    and stored upper case without spaces; blank means an unregistered buyer."""

    # Longer than the stored 15 characters: spaces and dashes are accepted and removed.
    billing_gstin = serializers.CharField(max_length=32, required=False, allow_blank=True)

    class Meta:
        model = Booking
        fields = ["billing_name", "billing_phone", "billing_email", "billing_address", "billing_gstin"]
        extra_kwargs = {"billing_address": {"max_length": 500}}

    def validate(self, attrs):
        errors = {}
        for name, value in attrs.items():
            try:
                printable_on_invoice(value)
            except serializers.ValidationError as exc:
                errors[name] = exc.detail
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def validate_billing_gstin(self, value: str) -> str:
        if not value:
            return ""
        try:
            return validate_gstin(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc), code="invalid_gstin") from exc


class ItemLineSerializer(serializers.Serializer):
    item_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    quantity = serializers.IntegerField(min_value=1, max_value=10_000)


class BookingDateTimeField(serializers.DateTimeField):
    """A booking's start or end: ISO 8601, between the years 2000 and 9998 (400 otherwise, never a 500 from a
    date that cannot be converted to UTC). A value with an offset becomes an aware UTC datetime; one without stays
    naive, to be read in the venue's time zone by the service (`bookings.rules.as_utc`)."""

    def enforce_timezone(self, value):
        if timezone.is_naive(value):
            return value
        try:
            return value.astimezone(UTC)
        except OverflowError:
            self.fail("overflow")

    def to_internal_value(self, value):
        try:
            parsed = super().to_internal_value(value)
        except OverflowError:
            self.fail("invalid", format="YYYY-MM-DDThh:mm[:ss][+HH:MM]")
        if not 2000 <= parsed.year <= 9998:
            raise serializers.ValidationError("Must be between the years 2000 and 9998.")
        return parsed


class CustomItemSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, validators=[printable_on_invoice])
    quantity = serializers.IntegerField(min_value=1, max_value=10_000)
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal(0), max_value=MAX_MONEY)


class BookingCreateSerializer(serializers.Serializer):
    """A booking request (``POST /api/bookings``, ``POST /api/bookings/quote``); dates and times without an offset
    are read in the venue's time zone."""

    # The time rules (`bookings.rules`) are applied by the service, which knows the venue.

    space_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    start_datetime = BookingDateTimeField()
    end_datetime = BookingDateTimeField()
    attendees = serializers.IntegerField(min_value=1, max_value=100_000, default=1)
    items = ItemLineSerializer(many=True, required=False, default=list, max_length=100)
    custom_items = CustomItemSerializer(many=True, required=False, default=list, max_length=100)
    customer_note = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default="", validators=[printable_on_invoice]
    )
    event_type = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default="", validators=[printable_on_invoice]
    )
