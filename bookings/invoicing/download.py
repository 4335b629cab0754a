"""The HTTP responses that serve invoices: one PDF (API and admin) and the admin's ZIP, both through
`lebrq.http.streaming.file_response` (validators, byte ranges, 64 KiB chunks)."""

from django.conf import settings
from django.utils import timezone

from lebrq.http.conditional import Representation
from lebrq.http.deferred import DeferredResponse, can_defer
from lebrq.http.objects import stored_file_response
from lebrq.http.streaming import file_response, settled_mtime

from ..models import Booking
from .cache import InvoicePdf, invoice_pdf, prepare_invoice, release_db_connection, render_in_executor
from .export import InvoiceZip
from .shared import invoice_storage


def invoice_response(request, booking: Booking):
    """Answer GET/HEAD for ``booking``'s invoice PDF (cached per revision, rendered on a miss) through
    `file_response`: strong ETag = the revision, If-None-Match → 304 without rendering when cached, byte ranges,
    streamed in 64 KiB chunks. The cached file is not removed after the response.

    The database is read here, in the request thread (`cache.prepare_invoice`). A revision not yet cached is
    rendered on the render executor (`cache.render_in_executor`) by the `DeferredResponse` returned, so the
    request thread and its connection are free during the render; where the request cannot be deferred
    (`lebrq.http.deferred.can_defer`: the test client, WSGI) it is rendered here (`cache.invoice_pdf`).
    With settings.INVOICE_RENDERER "celery" the view gives its connection back and queues a render job
    (`jobs.submit`), and the `DeferredResponse` waits on the event loop for the PDF a render worker puts in the
    cache (`jobs.await_render`), within the same INVOICE_RENDER_WAIT seconds.

    Raises `lebrq.exceptions.InvoiceNotAvailable` for a cancelled or rejected booking and
    `lebrq.exceptions.InvoiceBusy` when no render slot came free within settings.INVOICE_RENDER_WAIT seconds
    (the API answers them 409 ``invoice_not_available`` and 503 ``invoice_busy`` + Retry-After: `lebrq.errors`).
    """
    if not can_defer(request):
        return pdf_response(request, invoice_pdf(booking))
    prepared = prepare_invoice(booking)
    if isinstance(prepared, InvoicePdf):
        return pdf_response(request, prepared)
    if settings.INVOICE_RENDERER == "celery":
        from . import jobs  # Celery is loaded in celery mode only

        release_db_connection()
        deadline = jobs.submit(prepared)

        async def wait_then_respond():
            return pdf_response(request, await jobs.await_render(prepared, deadline))

        return DeferredResponse(wait_then_respond)

    async def render_then_respond():
        return pdf_response(request, await render_in_executor(prepared))

    return DeferredResponse(render_then_respond)


def pdf_response(request, pdf: InvoicePdf):
    """`file_response` for a cached invoice PDF: an attachment, ``Cache-Control: private, no-cache``; from the
    shared storage (ranged GETs: `stored_file_response`) when it is kept there."""
    options = {
        "representation": Representation(size=pdf.size, etag=pdf.etag, last_modified=settled_mtime(pdf.modified)),
        "content_type": "application/pdf",
        "filename": pdf.filename,
        "as_attachment": True,
        "cache_control": "private, no-cache",
    }
    if pdf.key is not None:
        return stored_file_response(request, storage=invoice_storage(), name=pdf.key, **options)
    return file_response(request, path=pdf.path, **options)


def zip_response(request, archive: InvoiceZip):
    """Stream ``archive`` (from `export.write_invoices_zip`) as an attachment named
    ``invoices-<local date-time>.zip``, removing its file when the response closes."""
    zip_path = archive.path
    stat = zip_path.stat()
    return file_response(
        request,
        path=zip_path,
        representation=Representation(
            size=stat.st_size, etag=f'"zip-{stat.st_ino}-{stat.st_mtime_ns}"', last_modified=stat.st_mtime
        ),
        content_type="application/zip",
        filename=f"invoices-{timezone.localtime():%Y%m%d-%H%M%S}.zip",
        as_attachment=True,
        cache_control="private, no-store",
        on_close=lambda: zip_path.unlink(missing_ok=True),
    )
