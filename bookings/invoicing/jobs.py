"""Invoice renders as Celery jobs (settings.INVOICE_RENDERER = "celery"): the web workers never render.

A web worker that finds an invoice revision missing from the cache (`cache.prepare_invoice` → `PendingRender`)
sends a job (`submit`) to the broker's queue (settings.CELERY_BROKER_URL, settings.INVOICE_RENDER_QUEUE) and waits
for the PDF to appear in the invoice cache (`await_render` on the event loop, `wait_render` in a thread), polling
it every `POLL_INTERVAL` seconds until the deadline, settings.INVOICE_RENDER_WAIT seconds after `submit`; then it
raises `InvoiceBusy` (503 + Retry-After), whether the render workers are busy, stopped or the render failed. A
render worker (``celery -A lebrq worker``) runs `render_job` through the task `bookings.tasks.render_invoice`:
the same `PendingRender.render_unowned` as the inline path, so the PDF lands where every web worker reads it.

One render per revision: `submit` claims the revision in Django's cache (settings.CACHES, shared by every web
worker of a host, and by every host when CACHE_URL is Redis) for the job's lifetime, and sends no second job
while the claim stands; the worker skips a revision already cached. A job carries everything printed (the
filled template), so the worker reads nothing from the database; it expires with its deadline, so a backlog
left while the workers were down is discarded instead of rendered for nobody.
"""

import asyncio
import logging
import math
import threading
import time
import uuid

from django.conf import settings
from django.core.cache import cache

from lebrq.exceptions import InvoiceBusy, InvoiceRenderError

from .cache import InvoicePdf, PendingRender, cached_invoice, invoice_revision, pending_render
from .limits import render_limiter

logger = logging.getLogger("bookings.invoicing")

#: The Celery task's name (`bookings.tasks.render_invoice`), sent by name so web workers need not import it.
TASK_NAME = "bookings.render_invoice"
#: Seconds between two looks at the invoice cache while a request waits for its job.
POLL_INTERVAL = 0.05
#: Django cache key prefix of a revision's claim (`submit`).
CLAIM_PREFIX = "lebrq:invoice-job:"


def claim_key(revision: str) -> str:
    """The Django cache key that marks a job sent for ``revision`` (32 hex digits)."""
    return CLAIM_PREFIX + revision


_claims: dict[str, float] = {}  # revision -> its claim's expiry (monotonic), in this process
_claims_guard = threading.Lock()


def _claim(pending: PendingRender, until: float) -> bool:
    """Claim ``pending``'s revision until ``until`` (a `time.monotonic()` value): in this process under a lock,
    then in Django's cache with ``add`` (atomic in Redis; the file cache only nearly so, the render worker then
    finds the second job's revision cached; an unavailable cache leaves the claim in this process only, as
    rendering is worth more than a duplicate job). Returns whether this call made the claim."""
    now = time.monotonic()
    with _claims_guard:
        for revision in [revision for revision, expiry in _claims.items() if expiry <= now]:
            del _claims[revision]
        if pending.revision in _claims:
            return False
        try:
            if not cache.add(claim_key(pending.revision), pending.reference, timeout=math.ceil(until - now)):
                return False
        except Exception as exc:  # the cache backend's own errors (redis.ConnectionError, OSError, ...)
            logger.warning("Invoice job claims: the cache is unavailable (%s); claiming in this process only", exc)
        _claims[pending.revision] = until
        return True


def _release(revision: str) -> None:
    """Drop ``revision``'s claim (its job could not be sent)."""
    with _claims_guard:
        _claims.pop(revision, None)
    try:
        cache.delete(claim_key(revision))
    except Exception:  # unavailable: the claim expires by itself
        logger.warning("Invoice job claims: could not release the claim of revision %s", revision)


def submit(pending: PendingRender) -> float:
    """Make sure a render job for ``pending``'s revision is queued; returns the deadline of the wait for it (a
    `time.monotonic()` value, settings.INVOICE_RENDER_WAIT seconds from now).

    Sends the job only if no other one holds the revision's claim (`_claim`); the claim and the job both expire
    after INVOICE_RENDER_WAIT seconds (rounded up for the claim). Each job has an id of its own: a worker
    remembers the ids of expired jobs as revoked, and would skip a later job that reused one. Call it from a
    thread, not the event loop: the publish is a blocking broker round trip of at most
    CELERY_BROKER_CONNECTION_TIMEOUT seconds per attempt. Raises `InvoiceBusy` (claim released) when the broker
    cannot be reached.
    """
    from kombu.exceptions import OperationalError

    from lebrq.celery import app

    wait = settings.INVOICE_RENDER_WAIT
    deadline = time.monotonic() + wait
    if not _claim(pending, deadline):
        return deadline
    payload = {
        "html": pending.html,
        "revision": pending.revision,
        "reference": pending.reference,
        "filename": pending.filename,
    }
    try:
        app.send_task(TASK_NAME, kwargs=payload, task_id=f"invoice-{uuid.uuid4().hex}", expires=wait)
    except (OperationalError, OSError) as exc:
        _release(pending.revision)
        logger.error("Could not queue the render of invoice %s: %s", pending.reference, exc)
        raise InvoiceBusy(render_limiter().retry_after) from None
    return deadline


def _look(pending: PendingRender, deadline: float) -> InvoicePdf | float:
    """The cached PDF, else the seconds to sleep before the next look; `InvoiceBusy` once ``deadline`` passed."""
    pdf = cached_invoice(pending)
    if pdf is not None:
        return pdf
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise InvoiceBusy(render_limiter().retry_after)
    return min(POLL_INTERVAL, remaining)


async def await_render(pending: PendingRender, deadline: float) -> InvoicePdf:
    """``pending``'s PDF once a render worker has put it in the cache, awaited on the event loop (which keeps
    serving other requests); `InvoiceBusy` if it is not there by ``deadline`` (from `submit`). A look in a local
    directory is a ``stat`` made on the loop; one in a shared storage is a request to the store (up to
    settings.STORAGE_TIMEOUT seconds), made in a thread of the loop's default executor so the loop never waits."""
    while True:
        if pending.key is None:
            found = _look(pending, deadline)
        else:
            found = await asyncio.to_thread(_look, pending, deadline)
        if isinstance(found, InvoicePdf):
            return found
        await asyncio.sleep(found)


def wait_render(pending: PendingRender, deadline: float) -> InvoicePdf:
    """`await_render` for a thread (the admin's ZIP, requests that cannot be deferred): sleeps between looks."""
    while not isinstance(found := _look(pending, deadline), InvoicePdf):
        time.sleep(found)
    return found


def render_job(html: str, revision: str, reference: str, filename: str) -> str:
    """Render one invoice revision into the cache, in a render worker; returns "rendered" or "cached" (it was
    there already: another job or an inline render made it).

    ``html`` is the filled template, ``revision`` its `invoice_revision`, ``reference`` the booking reference,
    ``filename`` the download name. Raises `InvoiceRenderError` when ``revision`` is not the revision of ``html``
    on this worker (its code, fonts or xhtml2pdf differ from the web worker's: the PDF would be stored under a
    name that does not describe it), or when xhtml2pdf fails; `InvoiceBusy` if the render slot of this process is
    not free within settings.INVOICE_RENDER_WAIT seconds.
    """
    if invoice_revision(html) != revision:
        raise InvoiceRenderError(f"Invoice {reference}: revision {revision} is not this worker's revision")
    pending = pending_render(html, revision, reference, filename)
    if cached_invoice(pending) is not None:
        return "cached"
    pending.render_unowned(time.monotonic() + settings.INVOICE_RENDER_WAIT)
    return "rendered"
