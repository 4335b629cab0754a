"""Storing a finished upload: sniff its type, check it, move it into its storage, record it — all or nothing."""

import contextlib
import errno
import re

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction

from lebrq import objectstore
from lebrq.exceptions import (
    IdempotencyKeyReused,
    InsufficientStorage,
    InvalidInput,
    StorageUnavailable,
    UploadTooLarge,
)
from lebrq.sizes import upload_too_large_detail

from . import names, scrub, sniffing, verify
from .models import Upload

#: An idempotency key: 1-64 visible ASCII characters but the quote and the backslash (a UUID is 36), bare or as a
#: Structured Fields string in quotes (draft-ietf-httpapi-idempotency-key-header §2.1, RFC 8941 §3.3.3).
KEY_CHARACTERS = r"[\x21\x23-\x5b\x5d-\x7e]{1,64}"
IDEMPOTENCY_KEY = re.compile(rf'"({KEY_CHARACTERS})"|({KEY_CHARACTERS})')


def idempotency_key(header: str | None) -> str | None:
    """The key of an ``Idempotency-Key`` header value (its surrounding quotes removed), None when there is none.

    Raises `InvalidInput` (field ``Idempotency-Key``, reason ``invalid_idempotency_key``) for an empty value, one
    longer than 64 characters, or one with other characters than visible ASCII but the quote and the backslash."""
    if header is None:
        return None
    match = IDEMPOTENCY_KEY.fullmatch(header.strip())
    if match is None:
        raise InvalidInput(
            "Idempotency-Key",
            "An Idempotency-Key is 1 to 64 visible ASCII characters, other than a quote or a backslash.",
            reason="invalid_idempotency_key",
        )
    return match.group(1) or match.group(2)


def earlier_upload(owner, key: str, kind: str) -> Upload | None:
    """The upload ``owner`` created with the idempotency ``key``, or None; raises `IdempotencyKeyReused` when that
    upload is of another ``kind`` than the one asked for now (the key names one request)."""
    upload = Upload.objects.filter(owner=owner, idempotency_key=key).first()
    if upload is not None and upload.kind != kind:
        raise IdempotencyKeyReused(f"This Idempotency-Key was used for an upload of kind {upload.kind!r}.")
    return upload


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


def save_upload(
    uploaded: UploadedFile, detected: sniffing.DetectedType, *, kind: str, owner, key: str | None = None
) -> Upload:
    """Make ``uploaded`` (admitted as ``detected`` and checked: `check_content`) permanent; returns the saved
    `Upload` row.

    The temporary file (already on disk, with ``sha256`` computed by the upload handler) is renamed into
    MEDIA_ROOT through the default storage, or on an object store sent to it in parts from the file
    (`objectstore.save_file`: bounded memory, a failed multipart upload aborted). With an idempotency ``key``
    (`idempotency_key`) the row records it; when ``owner`` already has a row with that key (a repeated POST that
    raced this one: the unique constraint decides), the bytes just stored are removed and that row is returned
    instead (`IdempotencyKeyReused` when it is of another kind). Raises (`lebrq.exceptions`)
    `InsufficientStorage` on ENOSPC, `StorageUnavailable` when the object store fails. On any failure nothing is
    left: no stored file, no row (the temporary file is removed when the request closes it).
    """
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
                idempotency_key=key,
            )
    except IntegrityError:
        _discard(stored)
        earlier = earlier_upload(owner, key, kind) if key is not None else None
        if earlier is None:
            raise
        return earlier
    except BaseException:
        _discard(stored)
        raise


def store_upload(uploaded: UploadedFile, *, kind: str, owner, key: str | None = None) -> Upload:
    """Validate ``uploaded`` for ``kind`` and make it permanent, all in the calling thread: `admit_upload`,
    `check_content`, `save_upload`; returns the saved `Upload` row and raises what they raise. (The upload view
    runs the check on its own executor instead: `uploads.checking`.) On any failure nothing is left: no stored
    file, no row (the temporary file is removed when the request closes it).
    """
    detected = admit_upload(uploaded, kind=kind)
    check_content(uploaded, detected.mime)  # verified, then private metadata removed
    return save_upload(uploaded, detected, kind=kind, owner=owner, key=key)


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
