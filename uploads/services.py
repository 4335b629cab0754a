"""Storing a finished upload: sniff its type, move it into MEDIA_ROOT, record it — all or nothing."""

import errno

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from lebrq.exceptions import InsufficientStorage, UploadTooLarge
from lebrq.sizes import upload_too_large_detail

from . import names, scrub, sniffing, verify
from .models import Upload


def read_head(uploaded: UploadedFile) -> bytes:
    """The first `sniffing.SNIFF_BYTES` bytes of ``uploaded`` (a bounded read); the file is rewound after."""
    uploaded.seek(0)
    head = uploaded.read(sniffing.SNIFF_BYTES)
    uploaded.seek(0)
    return head


def check_content(uploaded: UploadedFile, mime: str) -> None:
    """Verify the temporary file of ``uploaded`` as ``mime`` (`verify.verify_file`) and strip its private metadata
    in place (`scrub.scrub_file`); when that changed it, ``uploaded.size`` and ``uploaded.sha256`` are updated to
    the bytes that will be stored. Raises (`lebrq.exceptions`) `TooManyPixels`, `Unverifiable` (a type no
    verifier accepts), `CorruptContent` or `MetadataNotRemovable`. CPU and disk only, no database: the upload
    view runs it on the upload-check executor (`uploads.checking`).
    """
    path = uploaded.temporary_file_path()
    verify.verify_file(path, mime)
    result = scrub.scrub_file(path, mime)
    if result.changed:
        uploaded.size, uploaded.sha256 = result.size, result.sha256


def admit_upload(uploaded: UploadedFile, *, kind: str) -> sniffing.DetectedType:
    """What ``uploaded`` is, decided by its size and first bytes before its content is checked: its detected type.
    Raises (`lebrq.exceptions`) `UploadTooLarge` past ``UPLOAD_MAX_BYTES[kind]``, `UnsupportedType` when the bytes
    are not of a type ``kind`` accepts."""
    limit = settings.UPLOAD_MAX_BYTES[kind]
    if uploaded.size > limit:
        raise UploadTooLarge(upload_too_large_detail(kind, limit))
    return sniffing.detect(read_head(uploaded), kind)


def save_upload(uploaded: UploadedFile, detected: sniffing.DetectedType, *, kind: str, owner) -> Upload:
    """Make ``uploaded`` (admitted as ``detected`` and checked: `check_content`) permanent; returns the saved
    `Upload` row. The temporary file is renamed into MEDIA_ROOT through the default storage; raises
    `InsufficientStorage` on ENOSPC. On any failure nothing is left in MEDIA_ROOT and no row."""
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


def store_upload(uploaded: UploadedFile, *, kind: str, owner) -> Upload:
    """Validate ``uploaded`` for ``kind`` and make it permanent, all in the calling thread: `admit_upload`,
    `check_content`, `save_upload`; returns the saved `Upload` row and raises what they raise. (The upload view
    runs the check on its own executor instead: `uploads.checking`.) On any failure nothing is left: no file in
    MEDIA_ROOT, no row (the temporary file is removed when the request closes it).
    """
    detected = admit_upload(uploaded, kind=kind)
    check_content(uploaded, detected.mime)  # verified, then private metadata removed
    return save_upload(uploaded, detected, kind=kind, owner=owner)


def delete_upload(upload: Upload) -> None:
    """Delete ``upload``'s row, then its stored bytes (a failed row delete keeps both; the download view answers
    404 from the moment the row is gone)."""
    name = upload.name
    upload.delete()
    default_storage.delete(name)
