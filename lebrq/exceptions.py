"""The project's own exceptions: what domain code (services, invoicing, uploads) raises when a request cannot be
done. They know nothing of HTTP; `lebrq.errors.DOMAIN_ERRORS` alone maps each to a status, a code and the error
body. Every one carries a human-readable message (``str(exc)``).
"""


class DomainError(Exception):
    """Base of the project's own exceptions (see the module docstring)."""


# --- Bookings ----------------------------------------------------------------------------------------------------


class InvalidInput(DomainError):
    """A request field's value cannot be accepted: ``field`` names it, ``messages`` (a list of sentences) say why,
    ``reason`` is a stable machine-readable name (``invalid``, ``unique``); the API answers 400 naming the field."""

    def __init__(self, field: str, messages: str | list[str], reason: str = "invalid"):
        messages = [messages] if isinstance(messages, str) else list(messages)
        super().__init__(messages[0])
        self.field = field
        self.messages = messages
        self.reason = reason


class InvalidBooking(InvalidInput):
    """The booking request names something that cannot be booked (an unknown or inactive space or item, more
    attendees than the space holds, a total beyond the money columns, a time the booking rules refuse); ``field`` is
    the request field at fault, ``code`` a stable name of the rule (listed under 400 in `lebrq.errors.ERROR_CODES`)."""

    def __init__(self, field: str, message: str, code: str = "invalid"):
        super().__init__(field, message, reason=code)


class BookingConflict(DomainError):
    """The request contradicts the booking's current state (the API answers 409)."""


class SlotConflict(BookingConflict):
    """The slot overlaps an approved, confirmed or paid booking of the same space."""


class DuplicateBooking(BookingConflict):
    """The customer already has a pending, approved, confirmed or paid booking of the same space overlapping this
    one (one customer cannot hold a slot twice)."""


class NotCancellable(BookingConflict):
    """The booking's status does not allow cancelling it (only pending, approved, confirmed or paid ones can be)."""


class CancellationWindowClosed(BookingConflict):
    """Too late for the customer to cancel: a pending booking after its start, an approved, confirmed or paid one
    after settings.CANCEL_CUTOFF hours before its start (`bookings.rules.cancellation_deadline`)."""


class InvoiceIssued(BookingConflict):
    """The booking has a numbered tax invoice: its buyer details are fixed and it cannot be cancelled."""


class InvoiceNotAvailable(BookingConflict):
    """The booking has no invoice: it was cancelled or rejected."""


class InvoiceBusy(DomainError):
    """Too many invoices are being rendered: no render slot came free within settings.INVOICE_RENDER_WAIT seconds.

    ``retry_after`` is the whole number of seconds a client should wait before retrying.
    """

    def __init__(self, retry_after: int):
        super().__init__(f"Invoices are being rendered at capacity; retry in {retry_after} seconds.")
        self.retry_after = retry_after


class InvoiceRenderError(DomainError):
    """xhtml2pdf failed or reported errors; no PDF file was left behind (a server error: not mapped)."""


# --- Uploads -----------------------------------------------------------------------------------------------------


class UploadTooLarge(DomainError):
    """The upload is larger than its kind allows (settings.UPLOAD_MAX_BYTES[kind] bytes)."""


class UnsupportedType(DomainError, ValueError):
    """The upload's bytes are not of a type its kind accepts (`uploads.sniffing.detect`)."""


class ContentRejected(DomainError, ValueError):
    """An upload's bytes are not acceptable as the type they were detected as (`uploads.verify`, `uploads.scrub`);
    ``field`` is the request field at fault."""

    field = "file"


class CorruptContent(ContentRejected):
    """The bytes do not decode or parse as the detected type: truncated, damaged, or a polyglot."""


class TooManyPixels(ContentRejected):
    """The image header declares more than settings.IMAGE_MAX_PIXELS pixels (refused before decoding)."""


class Unverifiable(ContentRejected):
    """No verifier exists for the detected type, so it is not accepted."""


class MetadataNotRemovable(ContentRejected):
    """ExifTool failed on the file, or the file carries private metadata that cannot be removed."""


class UploadChecksBusy(DomainError):
    """Every upload-check thread stayed busy (verifying and scrubbing other uploads) for settings.DB_POOL_TIMEOUT
    seconds (`uploads.checking`). ``retry_after`` is the whole number of seconds a client should wait before
    retrying (settings.UPLOAD_RETRY_AFTER)."""

    def __init__(self, retry_after: int):
        super().__init__(f"Uploads are being checked at capacity; retry in {retry_after} seconds.")
        self.retry_after = retry_after


class IdempotencyKeyReused(DomainError):
    """The caller already used this ``Idempotency-Key`` for an upload of another kind: a key names one request
    (draft-ietf-httpapi-idempotency-key-header §2.7: the same key with another payload is refused)."""


class InsufficientStorage(DomainError):
    """No space left on the device (ENOSPC) to receive or store an upload or a request body."""

    def __init__(self, message: str = "The server has no room to store this upload."):
        super().__init__(message)


class StorageUnavailable(DomainError):
    """The object store (S3, `lebrq.objectstore`) failed or could not be reached; nothing was stored. A client may
    retry after ``retry_after`` seconds."""

    retry_after = 5
