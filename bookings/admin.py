"""Staff admin for venues, spaces, items and bookings (with inline lines and payments, and the invoice)."""

from zoneinfo import ZoneInfo

from django import forms
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from lebrq.exceptions import InvoiceBusy, InvoiceNotAvailable, InvoiceRenderError, SlotConflict

from .invoicing.download import invoice_response, zip_response
from .invoicing.export import write_invoices_zip
from .models import Booking, BookingItem, Item, Payment, Space, Venue
from .rules import unprintable_on_invoice
from .services import hold_slot, reprice


class PrintableOnInvoiceForm(forms.ModelForm):
    """Staff text that an invoice prints (names, addresses, notes) is refused with an error on its field when it
    holds a character the invoice cannot print (`rules.unprintable_on_invoice`), as the API refuses it."""

    def clean(self):
        cleaned = super().clean()
        for name, value in list(cleaned.items()):
            reason = unprintable_on_invoice(value) if isinstance(value, str) else None
            if reason is not None:
                self.add_error(name, reason)
        return cleaned


class SpaceInline(admin.TabularInline):
    model = Space
    form = PrintableOnInvoiceForm
    extra = 0


@admin.register(Venue)
class VenueAdmin(admin.ModelAdmin):
    form = PrintableOnInvoiceForm
    list_display = ["name", "city", "state", "time_zone", "is_active"]
    list_filter = ["is_active", "city"]
    search_fields = ["name", "city"]
    inlines = [SpaceInline]


@admin.register(Space)
class SpaceAdmin(admin.ModelAdmin):
    form = PrintableOnInvoiceForm
    list_display = ["name", "venue", "capacity", "price_per_hour", "is_active"]
    list_filter = ["venue", "is_active"]
    search_fields = ["name", "venue__name"]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    form = PrintableOnInvoiceForm
    list_display = ["name", "unit_price", "hsn_sac", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name", "hsn_sac"]


class BookingItemInline(admin.TabularInline):
    model = BookingItem
    form = PrintableOnInvoiceForm
    extra = 0
    autocomplete_fields = ["item"]


class PaymentInline(admin.TabularInline):
    model = Payment
    extra = 0


class BookingAdminForm(PrintableOnInvoiceForm):
    """Staff edits keep the slot rule of the API: a booking that holds its slot (approved, confirmed, paid) may
    not overlap another that does. `services.hold_slot` locks the space row first; the admin validates and saves in
    one transaction, so the lock is held until the booking is saved and two staff approving overlapping bookings
    at once cannot both succeed."""

    class Meta:
        model = Booking
        fields = "__all__"  # noqa: DJ007 -- the admin decides what is shown; this form only adds clean()

    def clean(self):
        cleaned = super().clean()
        space, start, end = cleaned.get("space"), cleaned.get("start_datetime"), cleaned.get("end_datetime")
        if cleaned.get("status") in Booking.BLOCKING_STATUSES and space and start and end:
            try:
                hold_slot(space.pk, start, end, exclude_pk=self.instance.pk)
            except SlotConflict as exc:
                raise forms.ValidationError(str(exc)) from None
        return cleaned


@admin.register(Booking)
class BookingAdmin(admin.ModelAdmin):
    form = BookingAdminForm
    list_display = ["booking_reference", "customer", "space", "start_datetime", "status", "total_amount", "invoice"]
    list_filter = ["status", "space", ("start_datetime", admin.DateFieldListFilter)]
    search_fields = [
        "booking_reference",
        "customer__username",
        "customer__email",
        "customer__first_name",
        "customer__last_name",
    ]
    list_select_related = ["customer", "space__venue"]
    raw_id_fields = ["customer"]
    readonly_fields = [
        "booking_reference",
        "total_amount",
        "created_at",
        "updated_at",
        "invoice",
        "invoice_number",
        "invoice_issued_at",
    ]
    inlines = [BookingItemInline, PaymentInline]
    actions = ["download_invoices_zip"]
    #: What a numbered tax invoice printed: frozen once the number is issued.
    INVOICED_FIELDS = [
        "customer",
        "space",
        "start_datetime",
        "end_datetime",
        "billing_name",
        "billing_phone",
        "billing_email",
        "billing_address",
        "billing_gstin",
    ]

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        """The booking's times are shown and read in its venue's time zone (the space posted, else the booking's;
        settings.TIME_ZONE for a new booking's empty form)."""
        with timezone.override(self.venue_time_zone(request, object_id)):
            response = super().changeform_view(request, object_id, form_url, extra_context)
            if hasattr(response, "render"):  # a TemplateResponse renders later: render it in the venue's zone
                response.render()
            return response

    @staticmethod
    def venue_time_zone(request, object_id) -> ZoneInfo | None:
        """The time zone of the venue of the space named in the POST, else of the booking ``object_id``."""
        space_id = request.POST.get("space", "")
        if space_id.isdigit():
            zone = Space.objects.filter(pk=space_id).values_list("venue__time_zone", flat=True).first()
        elif object_id and str(object_id).isdigit():
            zone = Booking.objects.filter(pk=object_id).values_list("space__venue__time_zone", flat=True).first()
        else:
            zone = None
        return ZoneInfo(zone) if zone else None

    def save_related(self, request, form, formsets, change):
        """After the booking and its lines are saved: its ``total_amount`` and line totals are recomputed from
        them (`services.reprice`), so the booking JSON, the quote and the invoice keep agreeing."""
        super().save_related(request, form, formsets, change)
        reprice(form.instance.pk)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.invoice_number:
            fields += self.INVOICED_FIELDS
        return fields

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
        except (InvoiceNotAvailable, InvoiceBusy) as exc:
            messages.error(request, str(exc))
            return redirect("admin:bookings_booking_change", booking_id)

    @admin.action(description="Download invoices of selected bookings (ZIP)")
    def download_invoices_zip(self, request, queryset):
        """One ZIP of the selected bookings' invoice PDFs (cancelled/rejected ones are listed in SKIPPED.txt).

        The ZIP is written to a temporary file (`invoicing.export.write_invoices_zip`: one booking and one PDF at a
        time, copied in 8 KiB pieces) and then streamed by `invoicing.download.zip_response` in 64 KiB chunks, the
        file being removed when the response closes. Chosen over writing the ZIP into the response as it is made:
        under ASGI a sync generator body is drained into memory whole, an async one would need a thread hand-off per
        piece and a hand-made pipe, and the file gives an exact Content-Length. The cost is disk space for one ZIP
        and the time to gather every invoice (rendering the uncached ones) before the first byte.
        """
        try:
            archive = write_invoices_zip(list(queryset.order_by("pk").values_list("pk", flat=True)))
        except (InvoiceBusy, InvoiceRenderError) as exc:
            self.message_user(request, f"{exc} No ZIP was made.", messages.ERROR)
            return None
        return zip_response(request, archive)

    def get_urls(self):
        view = self.admin_site.admin_view(self.invoice_view)
        return [path("<int:booking_id>/invoice/", view, name="bookings_booking_invoice"), *super().get_urls()]
