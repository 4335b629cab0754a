"""Staff admin for uploads (read-only metadata; the bytes are served by the download views; deleting an upload
removes its bytes too)."""

from django.conf import settings
from django.contrib import admin
from django.utils.html import format_html

from .models import Upload
from .services import delete_upload


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = ["name", "original_name", "kind", "content_type", "size", "owner", "is_public", "created_at"]
    list_filter = ["kind", "is_public", "content_type"]
    search_fields = ["name", "original_name", "sha256", "owner__username"]
    readonly_fields = ["name", "original_name", "kind", "content_type", "size", "sha256", "created_at", "link"]
    raw_id_fields = ["owner"]

    @admin.display(description="File")
    def link(self, upload):
        return format_html('<a href="{}">{}</a>', settings.MEDIA_URL + upload.name, upload.name)

    def has_add_permission(self, request):
        return False

    def delete_model(self, request, obj):
        """Delete the row and the stored bytes (`services.delete_upload`)."""
        delete_upload(obj)

    def delete_queryset(self, request, queryset):
        """The bulk "delete selected" action: each upload with its bytes."""
        for upload in queryset:
            delete_upload(upload)
