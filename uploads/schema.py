"""What the OpenAPI document says of the upload endpoints (`uploads.views.UploadView`): one operation per kind,
each described with the types and size it accepts, its body a multipart form with one binary ``file``."""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from lebrq.schema import ApiSchema
from lebrq.sizes import human_size

from .sniffing import ACCEPTED

#: The errors of an upload's own rules (`lebrq.errors.ERROR_CODES`), beside those of any request with a body;
#: a kind that accepts images adds ``too_many_pixels``.
UPLOAD_ERROR_CODES = (
    "incomplete_upload",
    "too_many_files",
    "too_many_fields",
    "corrupt_content",
    "metadata_not_removable",
    "payload_too_large",
    "unsupported_media_type",
    "too_many_uploads",
    "insufficient_storage",
    "invalid_idempotency_key",
    "idempotency_key_reused",
    "upload_checks_busy",
    "storage_unavailable",
)


@extend_schema_field(OpenApiTypes.BINARY)
class BinaryFileField(serializers.FileField):
    """A file field documented as ``format: binary`` (Swagger UI offers a file chooser), not as a URI."""


class UploadFileSerializer(serializers.Serializer):
    """The upload's multipart form: one field ``file``."""

    file = BinaryFileField(help_text="The file; its type is decided by its bytes, not by its name.")


class UploadSchema(ApiSchema):
    """The schema of one upload route: its kind (the view's ``kind``) names the operation and its description."""

    def get_operation_id(self) -> str:
        return f"api_uploads_{self.view.kind}_create"

    def operation_error_codes(self, operation: dict) -> list[str]:
        codes = [*super().operation_error_codes(operation), *UPLOAD_ERROR_CODES]
        if "image/jpeg" in ACCEPTED[self.view.kind]:
            codes.append("too_many_pixels")
        return list(dict.fromkeys(codes))

    def get_description(self) -> str:
        kind = self.view.kind
        types = ", ".join(sorted(ACCEPTED[kind]))
        text = (
            f"Upload a{'n' if kind[0] in 'aeiou' else ''} {kind}: a multipart form whose field `file` is the file, "
            f"at most {human_size(settings.UPLOAD_MAX_BYTES[kind])}, of one of these types (decided by its bytes): "
            f"{types}. Location and device metadata are removed from images and videos before they are stored. "
            "Answers 201 with the stored upload; its `url` serves the file."
        )
        if "image/jpeg" in ACCEPTED[kind]:
            text += f" An image may have at most {settings.IMAGE_MAX_PIXELS:,} pixels."
        return text
