"""Staff admin for venues, spaces, items and bookings (with inline lines and payments, and the invoice)."""

from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html

from .models import Booking, BookingItem, Item, Payment, Space, Venue
from .services import Conflict
from .views import invoice_response


class SpaceInline(admin.TabularInline):
    model = Space
    extra = 0


@admin.register(Venue)
class VenueAdmin(admin.ModelAdmin):
    list_display = ["name", "city", "state", "is_active"]
    list_filter = ["is_active", "city"]
    search_fields = ["name", "city"]
    inlines = [SpaceInline]


@admin.register(Space)
class SpaceAdmin(admin.ModelAdmin):
    list_display = ["name", "venue", "capacity", "price_per_hour", "is_active"]
    list_filter = ["venue", "is_active"]
    search_fields = ["name", "venue__name"]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["name", "unit_price", "hsn_sac", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name", "hsn_sac"]


class BookingItemInline(admin.TabularInline):
    model = BookingItem
    extra = 0
    autocomplete_fields = ["item"]


class PaymentInline(admin.TabularInline):
    model = Payment
    extra = 0


@admin.register(Booking)
class BookingAdmin(admin.ModelAdmin):
    list_display = ["booking_reference", "customer", "space", "start_datetime", "status", "total_amount", "invoice"]
    list_filter = ["status", "space", ("start_datetime", admin.DateFieldListFilter)]
    search_fields = [
        "booking_reference",
        "customer__username",
        "customer__email",
        "customer__first_name",
        "customer__last_name",
    ]
    date_hierarchy = "start_datetime"
    list_select_related = ["customer", "space__venue"]
    raw_id_fields = ["customer"]
    readonly_fields = ["booking_reference", "created_at", "updated_at", "invoice"]
    inlines = [BookingItemInline, PaymentInline]

    @admin.display(description="Invoice")
    def invoice(self, booking):
        if booking.pk is None:
            return "-"
        url = reverse("admin:bookings_booking_invoice", args=[booking.pk])
        return format_html('<a href="{}">Download invoice</a>', url)

    def invoice_view(self, request, booking_id: int):
        """Staff download of a booking's invoice PDF (same rendering and streaming as the API)."""
        booking = get_object_or_404(Booking, pk=booking_id)
        try:
            return invoice_response(request, booking)
        except Conflict as exc:
            messages.error(request, str(exc.detail))
            return redirect("admin:bookings_booking_change", booking_id)

    def get_urls(self):
        view = self.admin_site.admin_view(self.invoice_view)
        return [path("<int:booking_id>/invoice/", view, name="bookings_booking_invoice"), *super().get_urls()]
