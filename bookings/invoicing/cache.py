"""The invoice PDF cache: `prepare_invoice` and `render_in_executor` are what the views use, `invoice_pdf` the
rest.

It renders the HTML (cheap), hashes it with the template's fonts and logo and the renderer's versions into a
*revision*, and serves the PDF of that revision from settings.INVOICE_CACHE_DIR — or, with INVOICE_STORAGE, from
that Django storage (an object store shared by every host: `shared`) — rendering it first if it is not there.
Whatever is printed — booking, lines, payments, buyer, seller settings, date, number, template, fonts — is in the
hash, so any change makes a new revision; the revision is the PDF's strong ETag. Renders are limited per
process (`RenderLimiter`); the views run them on a small executor of their own (`render_threads`), so that
they hold no request thread or database connection while rendering.
"""

import contextlib
import dataclasses
import hashlib
import itertools
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import reportlab
import xhtml2pdf
from django.conf import settings
from django.db import connection

from lebrq import objectstore
from lebrq.exceptions import InvoiceBusy, InvoiceNotAvailable
from lebrq.http.executor import RequestThreadTimeout
from lebrq.tempfiles import INVOICE_RENDER

from ..models import Booking
from .limits import owner_turns, render_limiter, render_threads
from .pdf import ASSETS_DIR, invoice_html, render_html_to_file
from .shared import (
    REVISION_GRACE_SECONDS,
    invoice_storage,
    prune_stored_after_hit,
    prune_stored_revisions,
    stored_prefix,
)

logger = logging.getLogger("bookings.invoicing")

#: Bump when the PDF changes for a reason the revision hash cannot see (the rendering code in `pdf`).
LAYOUT_VERSION = "2"
#: Seconds partial renders a crash left behind are kept (see `prune_revisions`; REVISION_GRACE_SECONDS, from
#: `shared`, is how long a superseded revision is kept after its successor was rendered).
STALE_FILE_SECONDS = 3600

_assets_digest_cache: dict[tuple, str] = {}


def assets_digest() -> str:
    """SHA-256 (hex) of every file in `ASSETS_DIR` (fonts, logo: names and bytes), read in 64 KiB chunks and
    remembered per (name, size, mtime) listing, so it is computed once per process unless the files change."""
    files = sorted(path for path in ASSETS_DIR.rglob("*") if path.is_file())
    key = tuple((str(path), path.stat().st_size, path.stat().st_mtime_ns) for path in files)
    if key not in _assets_digest_cache:
        digest = hashlib.sha256()
        for path in files:
            digest.update(str(path.relative_to(ASSETS_DIR)).encode() + b"\0")
            with path.open("rb") as handle:
                while chunk := handle.read(64 * 1024):
                    digest.update(chunk)
        _assets_digest_cache.clear()
        _assets_digest_cache[key] = digest.hexdigest()
    return _assets_digest_cache[key]


def invoice_revision(html: str) -> str:
    """The revision of an invoice PDF: 32 hex digits (128 bits) of SHA-256 over `LAYOUT_VERSION`, the xhtml2pdf
    and ReportLab versions, `assets_digest()` and ``html`` — the template filled with everything printed."""
    digest = hashlib.sha256()
    for part in (LAYOUT_VERSION, xhtml2pdf.__version__, reportlab.Version, assets_digest()):
        digest.update(part.encode() + b"\0")
    digest.update(html.encode("utf-8"))
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class InvoicePdf:
    """A cached invoice PDF: ``path`` is INVOICE_CACHE_DIR/<booking reference>/<revision>.pdf, which callers read
    (or hand to `file_response`) and never delete — or, in a shared storage (`invoice_storage`), None and ``key``
    its name there, INVOICE_STORAGE_PREFIX<booking reference>/<revision>.pdf; ``revision`` is its 32-hex-digit
    hash (`invoice_revision`); ``size`` in bytes; ``modified`` the render time in epoch seconds; ``filename`` the
    download name, e.g. "invoice-BK-0123456789.pdf".
    """

    path: Path | None
    revision: str
    size: int
    modified: float
    filename: str
    key: str | None = None

    @property
    def etag(self) -> str:
        """The strong entity-tag (RFC 9110 §8.8.3) of this revision: the revision in double quotes."""
        return f'"{self.revision}"'


def booking_cache_dir(booking_reference: str) -> Path:
    """The directory of a booking's cached revisions: settings.INVOICE_CACHE_DIR / booking reference."""
    return Path(settings.INVOICE_CACHE_DIR) / booking_reference


def prune_revisions(directory: Path, keep: str | None = None) -> int:
    """Remove the superseded revisions in ``directory`` and partial renders left by a crash; returns the count.

    With ``keep`` (the current revision's file name), the other revisions are removed once ``keep`` is older than
    `REVISION_GRACE_SECONDS`: a request that read the booking before it changed may still be about to open an old
    revision, and gets that long to do so. Without ``keep`` (a booking that no longer has an invoice) every
    revision goes at once. Partial renders (`lebrq.tempfiles.INVOICE_RENDER`: ".render-*.pdf") go when older than
    `STALE_FILE_SECONDS`.
    """
    now = time.time()
    keep_others = False
    if keep is not None:
        try:
            keep_others = os.stat(directory / keep).st_mtime > now - REVISION_GRACE_SECONDS
        except FileNotFoundError:
            keep_others = True
    removed = 0
    with contextlib.suppress(FileNotFoundError), os.scandir(directory) as entries:
        for entry in entries:
            if entry.name == keep or not entry.name.endswith(".pdf"):
                continue
            try:
                if entry.name.startswith(INVOICE_RENDER.prefix):
                    if entry.stat().st_mtime > now - STALE_FILE_SECONDS:
                        continue
                elif keep_others:
                    continue
                os.unlink(entry.path)
                removed += 1
            except FileNotFoundError:
                continue
    return removed


def _prune_after_hit(pending: "PendingRender") -> None:
    if pending.key is None:
        prune_revisions(pending.path.parent, keep=pending.path.name)
    else:
        prune_stored_after_hit(pending.reference, pending.revision)


def discard_cached_invoices(booking_reference: str) -> int:
    """Remove every cached revision of a booking (one that no longer has an invoice); returns the count."""
    forget_latest(booking_reference)
    if invoice_storage() is not None:
        return prune_stored_revisions(booking_reference)
    return prune_revisions(booking_cache_dir(booking_reference))


def release_db_connection() -> None:
    """Give the request's database connection back (to the pool) before a render of up to seconds: the response
    needs no more queries. Not inside a transaction, which would be broken by it."""
    if not connection.in_atomic_block:
        connection.close()


@dataclass(frozen=True)
class PendingRender:
    """An invoice revision that is not in the cache yet: everything `render` needs, gathered from the database
    by `prepare_invoice` — so the render itself reads nothing from it and may run in any thread.

    ``html`` the filled template; ``revision`` its `invoice_revision`; ``reference`` the booking reference;
    ``filename`` the download name; ``path`` INVOICE_CACHE_DIR/<reference>/<revision>.pdf, or None and ``key`` the
    name in `invoice_storage`; ``owner`` the booking's customer (id), who gets one render at a time.
    """

    html: str
    revision: str
    reference: str
    filename: str
    path: Path | None
    owner: int | None = None
    seq: int = 0
    key: str | None = None

    def render(self, deadline: float) -> InvoicePdf:
        """Render into the cache under `render_limiter()` and return the cached PDF.

        Fairness: one render at a time per owner (`RenderLimiter.owner`), so one customer never holds more than
        one render slot; a render that had to wait for its owner's other render makes the booking's latest
        prepared revision instead of its own (`latest_pending`: the booking may have changed meanwhile), so a
        burst of edits and downloads renders once. Waits for the owner, the revision and a render slot until
        ``deadline`` (a `time.monotonic()` value), else raises `InvoiceBusy`; a revision another thread rendered
        meanwhile is served as is. The PDF is rendered to a temporary file beside ``path`` and renamed into place
        with `os.replace` (a reader never sees a partial file, a failed render leaves none); superseded revisions
        are then pruned (`prune_revisions`). In a shared storage it is rendered in FILE_UPLOAD_TEMP_DIR and
        stored as ``key`` by one PUT that never replaces an existing object (another host's render of the same
        revision is kept: `objectstore.save_file` exclusive), then the temporary file is removed. Raises
        `InvoiceRenderError` when xhtml2pdf fails.
        """
        with render_limiter().owner(self.owner, deadline) as waited:
            return (latest_for(self) if waited else self).render_unowned(deadline)

    def render_unowned(self, deadline: float) -> InvoicePdf:
        """`render` without the owner's turn (the caller holds it, e.g. `render_in_executor`)."""
        limiter = render_limiter()
        with limiter.revision(self.revision, deadline):
            pdf = cached_invoice(self)  # rendered while this one waited
            if pdf is None:
                pdf = self._render_now(limiter, deadline)
        with _latest_guard:
            if _latest.get(self.reference) is self:  # rendered: later waiters find it cached; drop its HTML
                _latest[self.reference] = dataclasses.replace(self, html="")
        if self.key is None:
            prune_revisions(self.path.parent, keep=self.path.name)
        else:
            prune_stored_revisions(self.reference, keep=f"{self.revision}.pdf")
        return pdf

    def _render_now(self, limiter, deadline: float) -> InvoicePdf:
        with limiter.slot(deadline):
            started = time.monotonic()
            directory = self.path.parent if self.key is None else Path(settings.FILE_UPLOAD_TEMP_DIR)
            partial = render_html_to_file(self.html, directory)
        pdf = self._store(partial) if self.key is not None else self._move_into_place(partial)
        logger.info(
            "Rendered invoice %s revision %s: %d bytes in %.2f s",
            self.reference,
            self.revision,
            pdf.size,
            time.monotonic() - started,
        )
        return pdf

    def _move_into_place(self, partial: Path) -> InvoicePdf:
        try:
            stat = partial.stat()
            os.replace(partial, self.path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return InvoicePdf(self.path, self.revision, stat.st_size, stat.st_mtime, self.filename)

    def _store(self, partial: Path) -> InvoicePdf:
        try:
            objectstore.save_file(invoice_storage(), self.key, partial, "application/pdf", exclusive=True)
        finally:
            partial.unlink(missing_ok=True)
        pdf = cached_invoice(self)  # the store's size and Last-Modified: what every host announces
        if pdf is None:
            raise FileNotFoundError(f"invoice {self.key} is not in the store right after it was stored")
        return pdf


#: The latest `PendingRender` prepared for each of the `LATEST_KEPT` bookings most recently prepared (without its
#: HTML once rendered), for `PendingRender.render`.
LATEST_KEPT = 256
_latest: OrderedDict[str, PendingRender] = OrderedDict()
_latest_guard = threading.Lock()


_prepared = itertools.count(1)


def remember_latest(pending: PendingRender) -> PendingRender:
    """``pending`` numbered in preparation order and recorded as its booking's latest revision, unless a later
    one is recorded already; returns the numbered one."""
    pending = dataclasses.replace(pending, seq=next(_prepared))
    with _latest_guard:
        known = _latest.get(pending.reference)
        if known is None or known.seq < pending.seq:
            _latest[pending.reference] = pending
            _latest.move_to_end(pending.reference)
            while len(_latest) > LATEST_KEPT:
                _latest.popitem(last=False)
    return pending


def forget_latest(reference: str) -> None:
    """Forget the booking's latest revision (its cached invoices were removed)."""
    with _latest_guard:
        _latest.pop(reference, None)


def latest_for(pending: PendingRender) -> PendingRender:
    """What a request that waited for its owner's other render should serve: its booking's latest prepared
    revision when that is newer than ``pending`` and can still be had (its HTML kept, or its PDF cached), else
    ``pending`` itself."""
    with _latest_guard:
        latest = _latest.get(pending.reference)
    if latest is None or latest.seq <= pending.seq:
        return pending
    if latest.html or cached_invoice(latest) is not None:
        return latest
    return pending


def pending_render(html: str, revision: str, reference: str, filename: str, owner: int | None = None) -> PendingRender:
    """The `PendingRender` of ``revision``: its ``path`` in INVOICE_CACHE_DIR, or its ``key`` in the shared
    `invoice_storage` when there is one."""
    name = f"{revision}.pdf"
    if invoice_storage() is None:
        return PendingRender(html, revision, reference, filename, booking_cache_dir(reference) / name, owner)
    return PendingRender(html, revision, reference, filename, None, owner, key=f"{stored_prefix(reference)}{name}")


def prepare_invoice(booking: Booking, now: datetime | None = None) -> InvoicePdf | PendingRender:
    """``booking``'s invoice as of ``now`` (default: now): the cached `InvoicePdf` of its current revision, or
    the `PendingRender` that will make it.

    Builds the HTML (numbering a first TAX INVOICE, see `build_invoice`) and its `invoice_revision`; if
    INVOICE_CACHE_DIR/<reference>/<revision>.pdf exists (in a shared storage: its object, one HEAD request) the
    booking's superseded revisions are pruned (in a shared storage at most once per `REVISION_GRACE_SECONDS`
    per booking and process) and it is returned. These are the only database reads of an invoice download. The
    pending render is also remembered as the booking's latest (`latest_pending`), which a request that waited for
    its customer's other render renders instead of its own. Raises `InvoiceNotAvailable` for a cancelled or
    rejected booking (whose cached revisions are then removed).
    """
    try:
        html = invoice_html(booking, now=now)
    except InvoiceNotAvailable:
        discard_cached_invoices(booking.booking_reference)
        raise
    revision = invoice_revision(html)
    reference = booking.booking_reference
    pending = pending_render(html, revision, reference, f"invoice-{reference}.pdf", owner=booking.customer_id)
    pdf = cached_invoice(pending)
    if pdf is None:
        return remember_latest(pending)
    _prune_after_hit(pending)
    return pdf


def invoice_pdf(booking: Booking, now: datetime | None = None) -> InvoicePdf:
    """The PDF of ``booking``'s invoice as of ``now`` (default: now), from the cache or rendered into it in the
    calling thread, after giving its database connection back (`prepare_invoice`, then `PendingRender.render`
    waiting at most settings.INVOICE_RENDER_WAIT seconds). With settings.INVOICE_RENDERER "celery" a render
    worker renders it instead, waited for as long (`jobs.submit`, `jobs.wait_render`).

    Raises `InvoiceNotAvailable` for a cancelled or rejected booking, `InvoiceBusy` when no render slot came free
    in time, `InvoiceRenderError` when xhtml2pdf fails.
    """
    prepared = prepare_invoice(booking, now)
    if isinstance(prepared, InvoicePdf):
        return prepared
    release_db_connection()
    if settings.INVOICE_RENDERER == "celery":
        from . import jobs  # Celery is loaded in celery mode only

        return jobs.wait_render(prepared, jobs.submit(prepared))
    return prepared.render(time.monotonic() + settings.INVOICE_RENDER_WAIT)


async def render_in_executor(pending: PendingRender) -> InvoicePdf:
    """``pending`` rendered on `render_threads()`, awaited from the event loop: first its owner's turn (waited
    for on the loop: `OwnerTurns`; a request that waited serves its booking's latest revision, `latest_for`),
    then a render thread and the render limiter; all of it within settings.INVOICE_RENDER_WAIT seconds, else
    `InvoiceBusy` (whose Retry-After is the limiter's). Raises what `PendingRender.render_unowned` raises."""
    deadline = time.monotonic() + settings.INVOICE_RENDER_WAIT
    async with owner_turns().turn(pending.owner, deadline) as waited:

        def render_target(deadline: float) -> InvoicePdf:
            # latest_for may ask the shared storage (a HEAD request): in the render thread, not on the loop.
            return (latest_for(pending) if waited else pending).render_unowned(deadline)

        try:
            return await render_threads().run(render_target, deadline)
        except RequestThreadTimeout:
            raise InvoiceBusy(render_limiter().retry_after) from None


def cached_invoice(pending: PendingRender) -> InvoicePdf | None:
    """``pending``'s revision as it is in the cache now (local directory or shared storage; rendered by this or any
    other process, a render worker's included), or None."""
    if pending.key is None:
        return _cached_pdf(pending.path, pending.revision, pending.filename)
    found = objectstore.stat(invoice_storage(), pending.key)
    if found is None:
        return None
    return InvoicePdf(None, pending.revision, found.size, found.modified, pending.filename, key=pending.key)


def _cached_pdf(path: Path, revision: str, filename: str) -> InvoicePdf | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return InvoicePdf(path, revision, stat.st_size, stat.st_mtime, filename)
