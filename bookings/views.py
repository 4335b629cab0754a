"""Bookings API: thin viewsets over `services`, `filters`, `booking_rows` and `invoicing`."""

import re

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from lebrq.http.negotiation import IgnoreClientContentNegotiation
from lebrq.schema import error_codes

from . import availability, booking_rows, money, services
from .filters import BookingFilter, PagePagination
from .invoicing.download import invoice_response
from .models import Booking, Item, Space, Venue
from .serializers import (
    BillingSerializer,
    BookingCreateSerializer,
    BookingSerializer,
    ItemSerializer,
    VenueSerializer,
    local_datetime,
)

#: The 400 codes of the booking time rules (`bookings.rules`).
TIME_RULE_CODES = (
    "in_the_past",
    "too_soon",
    "beyond_horizon",
    "too_short",
    "too_long",
    "whole_minutes",
    "nonexistent_time",
    "ambiguous_time",
)


class VenueViewSet(viewsets.ReadOnlyModelViewSet):
    """Active venues with their active spaces and hourly prices (public)."""

    lookup_value_regex = "[0-9]+"  # the id, as documented: anything else matches no route (404)
    permission_classes = [AllowAny]
    authentication_classes = []
    serializer_class = VenueSerializer
    pagination_class = None
    queryset = Venue.objects.filter(is_active=True).prefetch_related(
        Prefetch("spaces", queryset=Space.objects.order_by("name", "id"))
    )

    @extend_schema(description="One active venue with its active spaces and hourly prices (public).")
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    def list(self, request):
        """Active venues with their active spaces and hourly prices (public)."""
        # Built from `.values()` rows by `booking_rows.venues` (`VenueSerializer` is the reference).
        return Response(booking_rows.venues(self.get_queryset().prefetch_related(None)))


class ItemViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Active add-on items with unit prices and HSN/SAC codes (public)."""

    permission_classes = [AllowAny]
    authentication_classes = []
    serializer_class = ItemSerializer
    pagination_class = None
    queryset = Item.objects.filter(is_active=True)


#: A booking reference as printed (`bookings.models.new_booking_reference`); matched in any case.
BOOKING_REFERENCE = re.compile(r"BK-[0-9A-F]{10}", re.IGNORECASE)
#: What addresses one booking in its URL (`BookingViewSet.lookup_value_regex`): its id, or its reference in any
#: case. The route matches nothing else (404).
BOOKING_LOOKUP = "[0-9]+|[Bb][Kk]-[0-9A-Fa-f]{10}"
#: The booking path parameter as documented: exactly what `BOOKING_LOOKUP` takes.
BOOKING_ID = OpenApiParameter(
    "id",
    {"type": "string", "pattern": f"^({BOOKING_LOOKUP})$"},
    OpenApiParameter.PATH,
    description="The booking's id (`id`) or its reference (`booking_reference`, `BK-` and 10 hex digits, any case).",
)


class SpaceAvailabilityView(APIView):
    """The busy times of a space between two dates (``from``, ``to``: YYYY-MM-DD; public; at most 92 days, both
    included, in the venue's time zone): ``{space_id, time_zone, from, to, busy: [{start, end}]}``, the intervals
    of approved, confirmed and paid bookings, with the offset and nothing about who booked. 404 for an unknown or
    inactive space."""

    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, required=True),
            OpenApiParameter("to", OpenApiTypes.DATE, required=True),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request, space_id: int):
        zone = Space.objects.filter(pk=space_id, is_active=True).values_list("venue__time_zone", flat=True).first()
        if zone is None:
            raise Http404("No such space.")
        first, last = availability.date_range(request.query_params.get("from"), request.query_params.get("to"))
        busy = availability.busy_intervals(space_id, zone, first, last)
        return Response(
            {
                "space_id": space_id,
                "time_zone": zone,
                "from": first.isoformat(),
                "to": last.isoformat(),
                "busy": [{"start": local_datetime(s, zone), "end": local_datetime(e, zone)} for s, e in busy],
            }
        )


class BookingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The caller's bookings (staff: everyone's). Another customer's booking is 404."""

    # Bookings are returned by `booking_rows.bookings` (rows as dicts, three queries); `BookingSerializer`
    # declares their shape for the schema and is what the tests compare that output with.
    lookup_value_regex = BOOKING_LOOKUP
    serializer_class = BookingSerializer
    pagination_class = PagePagination
    filterset_class = BookingFilter

    def filter_queryset(self, queryset):
        """Query-string filters narrow the list only, and only when the query string names one: a booking
        addressed by id is found whatever they say, and other requests skip building the FilterSet's form."""
        if self.action != "list" or not self.request.query_params.keys() & BookingFilter.base_filters.keys():
            return queryset
        return super().filter_queryset(queryset)

    def visible_bookings(self, rows: bool = False) -> QuerySet:
        """The bookings the caller may see: all for staff, else their own; as `Booking` instances, or with
        ``rows`` as the rows `booking_rows.bookings` reads (`booking_rows.booking_values`)."""
        bookings = booking_rows.booking_values() if rows else Booking.objects.all()
        if self.request.user.is_staff:
            return bookings
        return bookings.filter(customer_id=self.request.user.pk)

    def get_queryset(self):
        """For the actions that work on one `Booking` instance (cancel, billing, invoice): the invoice reads its
        space and venue; its items once and its payments as a sum, so nothing is prefetched."""
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular's schema generation: no request user
            return Booking.objects.none()
        return self.visible_bookings().select_related("space__venue")

    def represent(self, bookings: QuerySet) -> list[dict]:
        return booking_rows.bookings(bookings, staff=self.request.user.is_staff)

    @staticmethod
    def addressed(bookings: QuerySet, pk) -> QuerySet:
        """``bookings`` narrowed to the one addressed by ``pk``: its id, or its reference (``BK-`` and 10 hex
        digits, any case); `Http404` when ``pk`` is neither (``"abc"``, ``"1.5"``: no booking has that id)."""
        if isinstance(pk, str) and BOOKING_REFERENCE.fullmatch(pk):
            return bookings.filter(booking_reference=pk.upper())
        try:
            return bookings.filter(pk=pk)
        except (TypeError, ValueError, ValidationError):
            raise Http404("No Booking matches the given query.") from None

    def get_object(self):
        """The visible booking addressed by id or reference (`addressed`); `Http404` otherwise."""
        booking = self.addressed(self.get_queryset(), self.kwargs["pk"]).first()
        if booking is None:
            raise Http404("No Booking matches the given query.")
        self.check_object_permissions(self.request, booking)
        return booking

    def represent_one(self, pk) -> dict:
        """One visible booking as the API returns it, addressed by id or reference; `Http404` when there is none."""
        found = self.represent(self.addressed(self.visible_bookings(rows=True), pk))
        if not found:
            raise Http404("No Booking matches the given query.")
        return found[0]

    @extend_schema(description="The caller's bookings (staff: everyone's), newest first, paginated.")
    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.visible_bookings(rows=True)))
        return self.get_paginated_response(self.represent(page))

    @extend_schema(
        parameters=[BOOKING_ID], description="One booking of the caller (staff: anyone's); another's is 404."
    )
    def retrieve(self, request, pk=None):
        return Response(self.represent_one(pk))

    @staticmethod
    def booking_request(data: dict) -> dict:
        """`services.plan_booking`'s arguments (with ``space_id``) from a valid `BookingCreateSerializer`."""
        return {
            "space_id": data["space_id"],
            "start": data["start_datetime"],
            "end": data["end_datetime"],
            "attendees": data["attendees"],
            "items": [(line["item_id"], line["quantity"]) for line in data["items"]],
            "custom_items": [services.CustomLine(**line) for line in data["custom_items"]],
        }

    @extend_schema(
        request=BookingCreateSerializer,
        responses={201: BookingSerializer},
        description="Book a space for a time slot, with add-on items and custom lines: 201 with the booking, "
        "pending until staff approve it. The slot must be free (409 `slot_conflict`) and not overlap the caller's "
        "own pending or held booking of the space (409 `duplicate_booking`).",
        extensions=error_codes("slot_conflict", "duplicate_booking", *TIME_RULE_CODES, "unsupported_character"),
    )
    def create(self, request):
        payload = BookingCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        booking = services.create_booking(
            customer=request.user,
            **self.booking_request(data),
            customer_note=data["customer_note"],
            event_type=data["event_type"],
        )
        return Response(self.represent_one(booking.pk), status.HTTP_201_CREATED)

    @extend_schema(
        request=BookingCreateSerializer,
        responses={200: OpenApiTypes.OBJECT},
        extensions=error_codes(*TIME_RULE_CODES, "unsupported_character"),
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def quote(self, request):
        """What a booking would cost, storing nothing: the create body → ``{space_id, start_datetime,
        end_datetime, attendees, lines: [{name, hsn_sac, quantity, unit_price, line_total}], total_amount, tax,
        cgst, sgst, igst, round_off, grand_total, amount_paid, balance_due}``, as the invoice would compute it.
        The slot is not checked: availability says which slots are free."""
        payload = BookingCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        plan = services.quote_booking(**self.booking_request(payload.validated_data))
        zone = Venue.objects.values_list("time_zone", flat=True).get(pk=plan.space.venue_id)
        return Response(money.quote_json(plan, zone))

    @extend_schema(
        request=None,
        parameters=[BOOKING_ID],
        responses={200: BookingSerializer},
        extensions=error_codes("not_cancellable", "cancellation_window_closed"),
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel the booking: a customer until its ``cancellation_deadline`` (409 ``cancellation_window_closed``
        after it), staff at any time; 409 ``not_cancellable`` for a status that cannot be cancelled."""
        booking = self.get_object()
        services.cancel_booking(booking.pk, by_customer=not request.user.is_staff)
        return Response(self.represent_one(booking.pk))

    @extend_schema(
        parameters=[BOOKING_ID],
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The invoice."),
            (206, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The ranges asked for."),
            304: OpenApiResponse(description="Not modified since the validator sent (If-None-Match)."),
        },
        extensions=error_codes("invoice_not_available", "invoice_busy", "precondition_failed", "range_not_satisfiable"),
    )
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[],
        pagination_class=None,
        content_negotiation_class=IgnoreClientContentNegotiation,  # the PDF whatever Accept says, never 406
    )
    def invoice(self, request, pk=None):
        """The booking's GST invoice as a PDF (cached per revision; ETag, If-None-Match → 304, byte ranges)."""
        return invoice_response(request, self.get_object())

    @extend_schema(
        request=BillingSerializer,
        parameters=[BOOKING_ID],
        responses={200: BookingSerializer},
        extensions=error_codes("invoice_issued", "unsupported_character"),
    )
    @action(detail=True, methods=["patch"], filter_backends=[], pagination_class=None)
    def billing(self, request, pk=None):
        """Set the invoice's buyer details (billing_name, billing_phone, billing_email, billing_address,
        billing_gstin); partial. 409 once the booking's tax invoice has been issued (its buyer is then fixed)."""
        booking = self.get_object()
        payload = BillingSerializer(booking, data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        services.set_billing(booking.pk, payload.validated_data)
        return Response(self.represent_one(booking.pk))
