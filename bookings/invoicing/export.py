"""Many invoices in one ZIP file (the admin's "Download invoices of selected bookings" action)."""

import zipfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from lebrq import objectstore
from lebrq.exceptions import InvoiceNotAvailable
from lebrq.tempfiles import INVOICES_ZIP

from ..models import Booking
from .cache import invoice_pdf
from .shared import invoice_storage


@dataclass(frozen=True)
class InvoiceZip:
    """A ZIP of invoices on disk: ``path`` is a temporary file the caller removes; ``included`` and ``skipped``
    are booking references (skipped: no invoice, listed with the reason in the archive's SKIPPED.txt)."""

    path: Path
    included: tuple[str, ...]
    skipped: tuple[str, ...]


def write_invoices_zip(booking_ids: list[int], directory: str | Path | None = None) -> InvoiceZip:
    """Write the invoices of the bookings ``booking_ids`` (in that order) into a new ZIP file in ``directory``
    (default settings.FILE_UPLOAD_TEMP_DIR; an `lebrq.tempfiles.INVOICES_ZIP` name) as
    "invoice-<reference>.pdf" entries, stored uncompressed (a PDF is already compressed).

    Each PDF comes from `invoice_pdf` (the cache, or a render under the render limit) and is copied into the ZIP by
    `zipfile` in 8 KiB pieces, and each booking is loaded on its own, so memory stays flat whatever the count.
    A cancelled or rejected booking is skipped and named in SKIPPED.txt. Raises `InvoiceBusy` or
    `InvoiceRenderError` (after removing the ZIP) when an invoice cannot be had.
    """
    handle = INVOICES_ZIP.create(directory or settings.FILE_UPLOAD_TEMP_DIR)
    path = Path(handle.name)
    included: list[str] = []
    skipped: list[tuple[str, str]] = []
    try:
        with handle, zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED) as archive:
            for booking_id in booking_ids:
                booking = (
                    Booking.objects.select_related("customer", "space__venue")
                    .prefetch_related("items")
                    .filter(pk=booking_id)
                    .first()
                )
                if booking is None:
                    continue
                try:
                    pdf = invoice_pdf(booking)
                except InvoiceNotAvailable as exc:
                    skipped.append((booking.booking_reference, str(exc)))
                    continue
                if pdf.key is None:
                    archive.write(pdf.path, arcname=pdf.filename)
                else:  # from the shared storage, one chunk at a time
                    with archive.open(pdf.filename, "w", force_zip64=pdf.size > 2**31) as entry:
                        for chunk in objectstore.iter_chunks(invoice_storage(), pdf.key, pdf.size):
                            entry.write(chunk)
                included.append(booking.booking_reference)
            if skipped:
                archive.writestr("SKIPPED.txt", "".join(f"{reference}: {reason}\n" for reference, reason in skipped))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return InvoiceZip(path, tuple(included), tuple(reference for reference, _ in skipped))
