"""The invoice cache in a shared Django storage (settings.INVOICE_STORAGE, e.g. the S3 bucket of the media), so
that a PDF rendered by one host is served by every other: where it lives and how superseded revisions go. The
cache itself is `bookings.invoicing.cache`."""

import threading
import time
from collections import OrderedDict

from django.conf import settings
from django.core.files.storage import storages

from lebrq import objectstore

#: Seconds a superseded revision is kept after its successor was stored (`cache.REVISION_GRACE_SECONDS`).
REVISION_GRACE_SECONDS = 60
#: Bookings whose last prune on a cache hit is remembered per process.
PRUNED_KEPT = 256


def invoice_storage():
    """The Django storage that keeps the cache (settings.INVOICE_STORAGE, a STORAGES alias), or None for the
    local directory INVOICE_CACHE_DIR."""
    alias = settings.INVOICE_STORAGE
    return storages[alias] if alias else None


def stored_prefix(booking_reference: str) -> str:
    """The name prefix of a booking's revisions in `invoice_storage`: INVOICE_STORAGE_PREFIX + reference + "/"."""
    return f"{settings.INVOICE_STORAGE_PREFIX}{booking_reference}/"


def prune_stored_revisions(booking_reference: str, keep: str | None = None) -> int:
    """`prune_revisions` in `invoice_storage`: the booking's revisions other than ``keep`` (a file name) go once
    ``keep`` is older than `REVISION_GRACE_SECONDS` by the store's clock, all of them without ``keep``; returns the
    count. (Renders are made on local disk, so the store holds no partial ones.)"""
    storage = invoice_storage()
    prefix = stored_prefix(booking_reference)
    listing = dict(objectstore.entries(storage, prefix))
    if keep is not None:
        kept = listing.pop(prefix + keep, None)
        if kept is None or kept > time.time() - REVISION_GRACE_SECONDS:
            return 0
    for name in listing:
        objectstore.delete(storage, name)
    return len(listing)


#: Booking reference → time.monotonic() of its last `prune_stored_after_hit`, for the PRUNED_KEPT most recent.
_pruned: OrderedDict[str, float] = OrderedDict()
_pruned_guard = threading.Lock()


def prune_stored_after_hit(booking_reference: str, revision: str) -> int:
    """`prune_stored_revisions` keeping ``revision``, at most once per `REVISION_GRACE_SECONDS` per booking and
    process (each is one listing request); returns the count removed."""
    now = time.monotonic()
    with _pruned_guard:
        last = _pruned.get(booking_reference)
        if last is not None and last > now - REVISION_GRACE_SECONDS:
            return 0
        _pruned[booking_reference] = now
        _pruned.move_to_end(booking_reference)
        while len(_pruned) > PRUNED_KEPT:
            _pruned.popitem(last=False)
    return prune_stored_revisions(booking_reference, keep=f"{revision}.pdf")
