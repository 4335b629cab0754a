"""Files in a Django storage, local (FileSystemStorage) or an S3-compatible object store (django-storages'
S3Storage): the few operations the app needs that the Storage API lacks, or does with whole objects in memory.

- `save_file` stores a local file: a rename on local storage; on S3 a multipart upload whose parts are read from
  the file as they are sent (at most `PART_SIZE` × `PARTS_IN_FLIGHT` bytes of it in memory), aborted on failure.
- `open_range` is one ranged GET (RFC 9110 §14.2) whose body is read in chunks by the caller.
- `stat`, `entries` and `delete` give a file's size and time, list the files under a prefix with their times, and
  remove one. `abort_incomplete_uploads` removes the multipart uploads a killed process left behind.

No HTTP here: failures of the object store raise `lebrq.exceptions.StorageUnavailable`. Sizes are in bytes, times
in epoch seconds.
"""

import os
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass

from django.core.files import File
from django.core.files.storage import Storage
from django.utils.functional import LazyObject, empty

from lebrq.exceptions import StorageUnavailable

MiB = 1024 * 1024
#: Bytes per part of a multipart upload (S3's smallest part is 5 MiB), and parts sent at once.
PART_SIZE = 8 * MiB
PARTS_IN_FLIGHT = 2


@dataclass(frozen=True)
class StoredFile:
    """A stored file's ``size`` in bytes and ``modified`` time in epoch seconds (the object's Last-Modified, whole
    seconds, on S3)."""

    size: int
    modified: float


def is_object_store(storage: Storage) -> bool:
    """True for django-storages' S3Storage (or a subclass): a bucket, no local files. (Judged by class: touching
    S3Storage.connection would make a boto3 session in the calling thread, some 12 MiB each.)"""
    try:
        from storages.backends.s3 import S3Storage
    except ImportError:  # django-storages[s3] not installed: no object store
        return False
    return isinstance(storage, S3Storage)  # a LazyObject (default_storage) answers for what it wraps


def local_path(storage: Storage, name: str) -> str | None:
    """The local path of ``name`` in ``storage``, or None for a storage without local files (S3)."""
    if is_object_store(storage):
        return None
    try:
        return storage.path(name)
    except NotImplementedError:
        return None


_clients: "weakref.WeakKeyDictionary[Storage, object]" = weakref.WeakKeyDictionary()
_clients_lock = threading.Lock()


def client(storage: Storage):
    """One botocore S3 client per storage object, made once and shared by every thread (botocore clients are
    thread-safe; S3Storage.connection makes a boto3 session and resource per thread, megabytes each)."""
    storage = _unwrap(storage)
    with _clients_lock:
        found = _clients.get(storage)
        if found is None:
            found = _clients[storage] = storage.connection.meta.client
        return found


def _unwrap(storage: Storage) -> Storage:
    """The storage itself behind a LazyObject such as default_storage (which a settings change re-points)."""
    if isinstance(storage, LazyObject):
        if storage._wrapped is empty:
            storage._setup()
        return storage._wrapped
    return storage


def object_key(storage: Storage, name: str) -> str:
    """The S3 key of ``name``: below the storage's ``location``, as S3Storage names it (SuspiciousOperation for a
    name that would leave it)."""
    from storages.utils import clean_name

    return storage._normalize_name(clean_name(name))


def _unavailable(exc: Exception) -> StorageUnavailable:
    return StorageUnavailable(f"The object store failed: {type(exc).__name__}: {exc}")


def _store_errors():
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    return Boto3Error, BotoCoreError, ClientError


def _missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound")


def stat(storage: Storage, name: str) -> StoredFile | None:
    """Size and modification time of ``name``, or None when it does not exist (one HEAD request on S3)."""
    path = local_path(storage, name)
    if path is not None:
        try:
            result = os.stat(path)
        except FileNotFoundError:
            return None
        return StoredFile(result.st_size, result.st_mtime)
    try:
        head = client(storage).head_object(Bucket=storage.bucket_name, Key=object_key(storage, name))
    except _store_errors() as exc:
        if _missing(exc):
            return None
        raise _unavailable(exc) from exc
    return StoredFile(head["ContentLength"], head["LastModified"].timestamp())


def transfer_config():
    """boto3's TransferConfig of `save_file`: parts of `PART_SIZE`, `PARTS_IN_FLIGHT` at once."""
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=PART_SIZE,
        multipart_chunksize=PART_SIZE,
        max_concurrency=PARTS_IN_FLIGHT,
        use_threads=True,
    )


def save_file(
    storage: Storage, name: str, source: str | os.PathLike, content_type: str, *, exclusive: bool = False
) -> str:
    """Store the local file at ``source`` as ``name`` (the exact name: callers generate unique ones); returns the
    stored name. The source file is left in place.

    S3: boto3's managed upload from the file by name, so each part is read from disk while it is sent (s3transfer's
    ReadFileChunk), never the file whole; above `PART_SIZE` a multipart upload, which s3transfer aborts when a
    part or the completion fails (no incomplete upload is left, unless the process is killed: see
    `abort_incomplete_uploads`). ``content_type`` is the object's Content-Type, beside the storage's
    ``object_parameters``. Raises `StorageUnavailable`. Local storage: Storage.save (a copy in chunks).

    ``exclusive`` (for content-addressed names such as an invoice revision, at most `PART_SIZE` bytes): one PUT with
    ``If-None-Match: *``, so an object another host stored first is kept, never replaced under a reader (RFC 9110
    §13.1.2; S3 conditional writes); the name is returned either way.
    """
    if not is_object_store(storage):
        with open(source, "rb") as handle:
            return storage.save(name, File(handle, name=name))
    extra = {**storage.get_object_parameters(name), "ContentType": content_type}
    if getattr(storage, "default_acl", None) and "ACL" not in extra:
        extra["ACL"] = storage.default_acl
    try:
        if exclusive:
            return _put_once(storage, name, source, extra)
        client(storage).upload_file(
            os.fspath(source), storage.bucket_name, object_key(storage, name), ExtraArgs=extra, Config=transfer_config()
        )
    except (*_store_errors(), OSError) as exc:
        raise _unavailable(exc) from exc
    return name


def _put_once(storage: Storage, name: str, source: str | os.PathLike, extra: dict) -> str:
    from botocore.exceptions import ClientError

    with open(source, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > PART_SIZE:
            raise ValueError(f"an exclusive save is one PUT of at most {PART_SIZE} bytes, not {size}")
        key = object_key(storage, name)
        try:
            client(storage).put_object(Bucket=storage.bucket_name, Key=key, Body=handle, IfNoneMatch="*", **extra)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "412"):
                return name  # stored by another process first: kept
            if code != "NotImplemented":
                raise
            # A store without conditional writes: the name is content-addressed, so a replacement has the same bytes
            # when renders are reproducible (invoices are: tests/bookings/test_invoice_cache.py).
            handle.seek(0)
            client(storage).put_object(Bucket=storage.bucket_name, Key=key, Body=handle, **extra)
    return name


def open_range(storage: Storage, name: str, first: int, last: int):
    """The bytes ``first``..``last`` (inclusive) of the object ``name`` as a readable body (``read(size)``,
    ``close()``): on S3 one GET with ``Range: bytes=first-last`` (RFC 9110 §14.1.2), nothing read yet; for another
    storage its file opened and positioned at ``first`` (the caller reads no more than the range). (Local files are
    read by `lebrq.http.streaming.FileRangeIterator`.) Raises `FileNotFoundError` for a missing object,
    `StorageUnavailable` for any other failure of the object store."""
    if not is_object_store(storage):
        handle = storage.open(name, "rb")
        handle.seek(first)
        return handle
    try:
        answer = client(storage).get_object(
            Bucket=storage.bucket_name, Key=object_key(storage, name), Range=f"bytes={first}-{last}"
        )
    except _store_errors() as exc:
        if _missing(exc):
            raise FileNotFoundError(name) from exc
        raise _unavailable(exc) from exc
    return answer["Body"]


def iter_chunks(storage: Storage, name: str, size: int, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
    """The ``size`` bytes of ``name`` in chunks of at most ``chunk_size`` bytes (one ranged GET on S3, a file read
    locally). Raises OSError if the file is shorter."""
    path = local_path(storage, name)
    body = open(path, "rb") if path is not None else open_range(storage, name, 0, max(size - 1, 0))  # noqa: SIM115
    try:
        left = size
        while left > 0:
            chunk = body.read(min(chunk_size, left))
            if not chunk:
                raise OSError(f"{name} ended {left} bytes early")
            left -= len(chunk)
            yield chunk
    finally:
        body.close()


def entries(storage: Storage, prefix: str) -> list[tuple[str, float]]:
    """(name, modified) of every file directly below the directory ``prefix`` ("invoices/BK-1/"), names relative
    to the storage like the ones `save_file` takes. Raises `StorageUnavailable`."""
    prefix = prefix.rstrip("/") + "/"
    path = local_path(storage, prefix)
    if path is not None:
        found = []
        try:
            with os.scandir(path) as listing:
                for entry in listing:
                    if entry.is_file():
                        try:
                            found.append((prefix + entry.name, entry.stat().st_mtime))
                        except FileNotFoundError:
                            continue
        except FileNotFoundError:
            pass
        return found
    key_prefix = object_key(storage, prefix).rstrip("/") + "/"
    strip = len(key_prefix) - len(prefix)
    found = []
    try:
        for page in (
            client(storage)
            .get_paginator("list_objects_v2")
            .paginate(Bucket=storage.bucket_name, Prefix=key_prefix, Delimiter="/")
        ):
            found += [(item["Key"][strip:], item["LastModified"].timestamp()) for item in page.get("Contents", ())]
    except _store_errors() as exc:
        raise _unavailable(exc) from exc
    return found


def delete(storage: Storage, name: str) -> None:
    """Remove ``name`` (nothing if it is gone already). Raises `StorageUnavailable`."""
    try:
        storage.delete(name)
    except _store_errors() as exc:
        raise _unavailable(exc) from exc


def incomplete_uploads(storage: Storage) -> list[tuple[str, str, float]]:
    """(key, upload id, initiated) of every multipart upload begun in the storage's bucket and neither completed
    nor aborted; [] for local storage."""
    if not is_object_store(storage):
        return []
    found = []
    try:
        for page in client(storage).get_paginator("list_multipart_uploads").paginate(Bucket=storage.bucket_name):
            found += [(up["Key"], up["UploadId"], up["Initiated"].timestamp()) for up in page.get("Uploads", ())]
    except _store_errors() as exc:
        raise _unavailable(exc) from exc
    return found


def abort_incomplete_uploads(storage: Storage, older_than: float) -> list[str]:
    """Abort the `incomplete_uploads` begun more than ``older_than`` seconds ago (left by a killed process: a
    running upload is younger); returns their keys. An S3 lifecycle rule (AbortIncompleteMultipartUpload) does the
    same on the store's side."""
    cutoff = time.time() - older_than
    aborted = []
    for key, upload_id, initiated in incomplete_uploads(storage):
        if initiated < cutoff:
            try:
                client(storage).abort_multipart_upload(Bucket=storage.bucket_name, Key=key, UploadId=upload_id)
            except _store_errors() as exc:
                if not _missing(exc):
                    raise _unavailable(exc) from exc
            aborted.append(key)
    return aborted
