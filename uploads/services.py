"""Storing a finished upload: sniff its type, move it into MEDIA_ROOT, record it — all or nothing."""

import contextlib
import errno

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from lebrq import objectstore
from lebrq.exceptions import InsufficientStorage, StorageUnavailable, UploadTooLarge
from lebrq.http.streaming import release_db_connections

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
    verifier accepts), `CorruptContent` or `MetadataNotRemovable`.
    """
    path = uploaded.temporary_file_path()
    release_db_connections()  # decoding and ExifTool take CPU seconds: no pooled connection is held meanwhile
    verify.verify_file(path, mime)
    result = scrub.scrub_file(path, mime)
    if result.changed:
        uploaded.size, uploaded.sha256 = result.size, result.sha256


def store_upload(uploaded: UploadedFile, *, kind: str, owner) -> Upload:
    """Validate ``uploaded`` for ``kind`` and make it permanent; returns the saved `Upload` row.

    The temporary file (already on disk, with ``sha256`` computed by the upload handler) is renamed into
    MEDIA_ROOT through the default storage, or on an object store sent to it in parts from the file
    (`objectstore.save_file`: bounded memory, a failed multipart upload aborted). Raises (`lebrq.exceptions`)
    `UploadTooLarge` past ``UPLOAD_MAX_BYTES[kind]``, `UnsupportedType` when the bytes are not of an accepted type,
    `InsufficientStorage` on ENOSPC, `StorageUnavailable` when the object store fails. On any failure nothing is
    left: no stored file, no row (the temporary file is removed when the request closes it).
    """
    limit = settings.UPLOAD_MAX_BYTES[kind]
    if uploaded.size > limit:
        raise UploadTooLarge(f"A {kind} upload may be at most {limit} bytes.")
    detected = sniffing.detect(read_head(uploaded), kind)
    check_content(uploaded, detected.mime)  # verified, then private metadata removed

    name = names.storage_name(kind, detected.extension)
    try:
        if objectstore.is_object_store(default_storage):
            stored = objectstore.save_file(default_storage, name, uploaded.temporary_file_path(), detected.mime)
        else:
            stored = default_storage.save(name, uploaded)
    except (OSError, StorageUnavailable) as exc:
        _discard(name)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
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
        _discard(stored)
        raise


def _discard(name: str) -> None:
    """Remove what a failed store may have left as ``name``; a store that fails again is not the caller's error."""
    with contextlib.suppress(OSError, StorageUnavailable):
        objectstore.delete(default_storage, name)


def delete_upload(upload: Upload) -> None:
    """Delete ``upload``'s row, then its stored bytes (a failed row delete keeps both; the download view answers
    404 from the moment the row is gone)."""
    name = upload.name
    upload.delete()
    objectstore.delete(default_storage, name)
