"""Storing a finished upload: sniff its type, move it into MEDIA_ROOT, record it — all or nothing."""

import errno

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from rest_framework import status
from rest_framework.exceptions import APIException, UnsupportedMediaType, ValidationError

from lebrq.http.streaming import release_db_connections

from . import names, scrub, sniffing, verify
from .models import Upload


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The upload is too large."
    default_code = "payload_too_large"


class InsufficientStorage(APIException):
    status_code = status.HTTP_507_INSUFFICIENT_STORAGE
    default_detail = "The server has no room to store this upload."
    default_code = "insufficient_storage"


def read_head(uploaded: UploadedFile) -> bytes:
    """The first `sniffing.SNIFF_BYTES` bytes of ``uploaded`` (a bounded read); the file is rewound after."""
    uploaded.seek(0)
    head = uploaded.read(sniffing.SNIFF_BYTES)
    uploaded.seek(0)
    return head


# --- Content verification and metadata removal (uploads/verify.py, uploads/scrub.py) ---
def check_content(uploaded: UploadedFile, mime: str) -> None:
    """Verify the temporary file of ``uploaded`` as ``mime`` (`verify.verify_file`) and strip its private metadata
    in place (`scrub.scrub_file`); when that changed it, ``uploaded.size`` and ``uploaded.sha256`` are updated to
    the bytes that will be stored. Raises `PayloadTooLarge` (413 ``too_many_pixels``), `UnsupportedMediaType`
    (415, a type no verifier accepts) or `ValidationError` (400 ``corrupt_content`` or ``metadata_not_removable``).
    """
    path = uploaded.temporary_file_path()
    release_db_connections()  # decoding and ExifTool take CPU seconds: no pooled connection is held meanwhile
    try:
        verify.verify_file(path, mime)
        result = scrub.scrub_file(path, mime)
    except verify.TooManyPixels as exc:
        raise PayloadTooLarge(str(exc), code=exc.code) from exc
    except verify.Unverifiable as exc:
        raise UnsupportedMediaType(media_type=mime, detail=str(exc)) from exc
    except (verify.ContentRejected, scrub.MetadataNotRemovable) as exc:
        raise ValidationError({"file": [str(exc)]}, code=exc.code) from exc
    if result.changed:
        uploaded.size, uploaded.sha256 = result.size, result.sha256


# --- end content verification ---


def store_upload(uploaded: UploadedFile, *, kind: str, owner) -> Upload:
    """Validate ``uploaded`` for ``kind`` and make it permanent; returns the saved `Upload` row.

    The temporary file (already on disk, with ``sha256`` computed by the upload handler) is renamed into
    MEDIA_ROOT through the default storage. Raises `PayloadTooLarge` (413) past ``UPLOAD_MAX_BYTES[kind]``,
    `UnsupportedMediaType` (415) when the bytes are not of an accepted type, `InsufficientStorage` (507) on
    ENOSPC. On any failure nothing is left: no file in MEDIA_ROOT, no row (the temporary file is removed when
    the request closes it).
    """
    limit = settings.UPLOAD_MAX_BYTES[kind]
    if uploaded.size > limit:
        raise PayloadTooLarge(f"A {kind} upload may be at most {limit} bytes.")
    try:
        detected = sniffing.detect(read_head(uploaded), kind)
    except sniffing.UnsupportedType as exc:
        raise UnsupportedMediaType(media_type=uploaded.content_type or "", detail=str(exc)) from exc
    check_content(uploaded, detected.mime)  # issue #13: verified, then private metadata removed

    name = names.storage_name(kind, detected.extension)
    try:
        stored = default_storage.save(name, uploaded)
    except OSError as exc:
        default_storage.delete(name)
        if exc.errno == errno.ENOSPC:
            raise InsufficientStorage() from exc
        raise
    try:
        with transaction.atomic():
            return Upload.objects.create(
                kind=kind,
                name=stored,
                original_name=names.download_name(uploaded.name or "", detected.mime, detected.extension),
                size=uploaded.size,
                content_type=detected.mime,
                sha256=uploaded.sha256,
                owner=owner,
                is_public=kind != Upload.Kind.DOCUMENT,
            )
    except BaseException:
        default_storage.delete(stored)
        raise


def delete_upload(upload: Upload) -> None:
    """Delete ``upload``'s row, then its stored bytes (a failed row delete keeps both; the download view answers
    404 from the moment the row is gone)."""
    name = upload.name
    upload.delete()
    default_storage.delete(name)
