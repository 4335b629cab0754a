"""Bookings API: thin viewsets over `services`, `filters` and `invoice`."""

from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from lebrq.http.conditional import Representation
from lebrq.http.streaming import file_response

from . import invoice, services
from .filters import BookingFilter, PagePagination
from .models import Booking, Item, Space, Venue
from .serializers import BookingCreateSerializer, BookingSerializer, ItemSerializer, VenueSerializer


class VenueViewSet(viewsets.ReadOnlyModelViewSet):
    """Active venues with their active spaces and hourly prices (public)."""

    permission_classes = [AllowAny]
    authentication_classes = []
    serializer_class = VenueSerializer
    pagination_class = None
    queryset = Venue.objects.filter(is_active=True).prefetch_related(
        Prefetch("spaces", queryset=Space.objects.order_by("name", "id"))
    )


class ItemViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Active add-on items with unit prices and HSN/SAC codes (public)."""

    permission_classes = [AllowAny]
    authentication_classes = []
    serializer_class = ItemSerializer
    pagination_class = None
    queryset = Item.objects.filter(is_active=True)


class BookingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The caller's bookings (staff: everyone's). Another customer's booking is 404."""

    serializer_class = BookingSerializer
    pagination_class = PagePagination
    filterset_class = BookingFilter

    def get_queryset(self):
        bookings = Booking.objects.select_related("space__venue").prefetch_related("items", "payments")
        if self.request.user.is_staff:
            return bookings
        return bookings.filter(customer=self.request.user)

    @extend_schema(request=BookingCreateSerializer, responses={201: BookingSerializer, 409: OpenApiTypes.OBJECT})
    def create(self, request):
        payload = BookingCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        booking = services.create_booking(
            customer=request.user,
            space_id=data["space_id"],
            start=data["start_datetime"],
            end=data["end_datetime"],
            attendees=data["attendees"],
            items=[(line["item_id"], line["quantity"]) for line in data["items"]],
            custom_items=[services.CustomLine(**line) for line in data["custom_items"]],
            customer_note=data["customer_note"],
            event_type=data["event_type"],
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=booking.pk)).data, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: BookingSerializer, 409: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        booking = self.get_object()
        services.cancel_booking(booking.pk)
        return Response(self.get_serializer(self.get_queryset().get(pk=booking.pk)).data)

    @extend_schema(responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY), 409: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def invoice(self, request, pk=None):
        """The booking's GST invoice as a PDF, rendered to a temporary file and streamed in 64 KiB chunks."""
        return invoice_response(request, self.get_object())


def invoice_response(request, booking):
    """Render ``booking``'s invoice to a temporary PDF and stream it (64 KiB chunks); the file is removed once
    the response is closed. Raises `services.Conflict` (409) for a booking that has no invoice."""
    try:
        pdf_path = invoice.render_invoice_pdf(booking)
    except invoice.InvoiceNotAvailable as exc:
        raise services.Conflict(str(exc), code="invoice_not_available") from exc
    stat = pdf_path.stat()
    return file_response(
        request,
        path=pdf_path,
        representation=Representation(
            size=stat.st_size, etag=f'"{booking.booking_reference}-{stat.st_mtime_ns}"', last_modified=stat.st_mtime
        ),
        content_type="application/pdf",
        filename=f"invoice-{booking.booking_reference}.pdf",
        as_attachment=True,
        cache_control="private, no-cache",
        on_close=lambda: pdf_path.unlink(missing_ok=True),
    )
