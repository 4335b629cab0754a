"""One JSON error shape for the whole API, and the one place that maps failures to HTTP.

Every error body is ``{"detail": str | dict, "success": false, "message": str, "code": str}``: ``detail`` as DRF
gives it, ``message`` a single human-readable sentence (the original app's clients read it), ``code`` a stable
machine-readable name. `error_body` builds it for every path: DRF views (`exception_handler`), plain Django views
and middleware (`error_response`), Django's own handlers (`handler400`, `handler403`, `handler404`, `handler500`,
`csrf_failure`), downloads (`lebrq.http.streaming`: 412, 416), and the ASGI layer and HTTP protocol
(`lebrq.http.guards`, `lebrq.http.early`, `lebrq.http.asgi_handler`, `lebrq.http.protocols`). `ERROR_CODES` lists
every code by status (the schema shows it, and the README's table is `error_codes_markdown`). Messages are
sentences for people: sizes in words (`lebrq.sizes`), no setting names (`suspicious_operation` rewords Django's).

The project's own exceptions (`lebrq.exceptions`) are mapped to a status and a code by `DOMAIN_ERRORS` alone.
Running out of memory is a 503 ``memory_pressure`` wherever it is caught (`memory_pressure_body`).

A database that cannot serve the request (the pool has no free connection within ``DB_POOL_TIMEOUT``, or the
server cannot be reached or dropped the connection) is a 503 with code ``database_unavailable`` and a
``Retry-After`` of ``DB_RETRY_AFTER`` seconds, both here (DRF views) and in
`lebrq.middleware.DatabaseUnavailableMiddleware` (plain Django views): see `is_database_unavailable`.
"""

import logging

import sqlalchemy.exc
from django.conf import settings
from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.db import OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status

from lebrq import exceptions as domain
from lebrq.sizes import human_size

logger = logging.getLogger("lebrq.db")

#: MySQL/MariaDB error numbers that mean the server cannot be reached or has dropped the connection (client
#: errors CR_CONNECTION_ERROR 2002, CR_CONN_HOST_ERROR 2003, CR_UNKNOWN_HOST 2005, CR_SERVER_GONE_ERROR 2006,
#: CR_SERVER_LOST 2013, CR_SERVER_LOST_EXTENDED 2055; server errors ER_CON_COUNT_ERROR 1040 "Too many
#: connections", ER_SERVER_SHUTDOWN 1053, ER_CONNECTION_KILLED 1927, ER_CLIENT_INTERACTION_TIMEOUT 4031).
UNREACHABLE_ERROR_NUMBERS = frozenset({2002, 2003, 2005, 2006, 2013, 2055, 1040, 1053, 1927, 4031})

DATABASE_UNAVAILABLE_DETAIL = "The database is unavailable; retry shortly."
INVOICE_BUSY_DETAIL = "Invoices are being rendered at capacity; retry shortly."
UPLOAD_CHECKS_BUSY_DETAIL = "Uploads are being checked at capacity; retry shortly."
MEMORY_PRESSURE = "memory_pressure"

#: The project's own exceptions as HTTP: class → (status, code, detail). A ``None`` detail is the exception's
#: message; a fixed one hides it. Each code is listed under its status in `ERROR_CODES`.
DOMAIN_ERRORS: dict[type[domain.DomainError], tuple[int, str, str | None]] = {
    domain.SlotConflict: (409, "slot_conflict", None),
    domain.DuplicateBooking: (409, "duplicate_booking", None),
    domain.NotCancellable: (409, "not_cancellable", None),
    domain.CancellationWindowClosed: (409, "cancellation_window_closed", None),
    domain.InvoiceIssued: (409, "invoice_issued", None),
    domain.InvoiceNotAvailable: (409, "invoice_not_available", None),
    domain.InvoiceBusy: (503, "invoice_busy", INVOICE_BUSY_DETAIL),
    domain.UploadTooLarge: (413, "payload_too_large", None),
    domain.UnsupportedType: (415, "unsupported_media_type", None),
    domain.Unverifiable: (415, "unsupported_media_type", None),
    domain.TooManyPixels: (413, "too_many_pixels", None),
    domain.CorruptContent: (400, "corrupt_content", None),
    domain.MetadataNotRemovable: (400, "metadata_not_removable", None),
    domain.UploadChecksBusy: (503, "upload_checks_busy", UPLOAD_CHECKS_BUSY_DETAIL),
    domain.IdempotencyKeyReused: (422, "idempotency_key_reused", None),
    domain.InsufficientStorage: (507, "insufficient_storage", None),
    domain.StorageUnavailable: (503, "storage_unavailable", "The file store cannot be reached; retry later."),
}

#: Every error code the API answers, by status, with what it means. A 400 for invalid input carries the DRF
#: code of the first invalid field instead (``required``, ``invalid``, ``max_length``, ``invalid_gstin``...).
ERROR_CODES: dict[int, dict[str, str]] = {
    400: {
        "invalid": "a field's value is not acceptable",
        "bad_request": "a malformed request (header, query string or multipart body)",
        "parse_error": "a body that is not acceptable JSON (malformed, not UTF-8, NaN, a member name twice, nested"
        " too deeply) or a malformed multipart body",
        "too_many_files": "a request carrying more files than it may (an upload carries one)",
        "too_many_fields": "a form or query string with more fields than the server accepts",
        "incomplete_upload": "an upload body that ends before its closing multipart boundary",
        "nonexistent_time": "a local booking time skipped by a daylight-saving change in the venue's time zone",
        "ambiguous_time": "a local booking time that happens twice in the venue's time zone (give the offset)",
        "in_the_past": "a booking that starts before now",
        "too_soon": "a booking that starts sooner than the minimum notice (minutes) allows",
        "beyond_horizon": "a booking that starts further ahead than bookings are taken (days)",
        "too_short": "a booking shorter than the shortest booking (minutes)",
        "too_long": "a booking longer than the longest booking (days)",
        "whole_minutes": "a booking time with seconds",
        "unsupported_character": "text the invoice prints with a character beyond U+FFFF (emoji)",
        "corrupt_content": "an uploaded file that does not decode or parse completely as its type",
        "metadata_not_removable": "an uploaded file whose private metadata cannot be removed",
        "invalid_idempotency_key": "an Idempotency-Key header that is not 1-64 visible ASCII characters",
    },
    401: {
        "not_authenticated": "no bearer token",
        "authentication_failed": "wrong credentials",
        "token_expired": "an authentic token whose time is up: refresh it, or log in again",
        "token_invalid": "a malformed, wrongly signed, wrong-type or used token, or one of an inactive account",
        "token_revoked": "a token issued before a password change or a logout: log in again",
    },
    403: {
        "permission_denied": "the caller may not do this",
        "csrf_failed": "a form post of the admin site without its CSRF cookie and token",
    },
    404: {"not_found": "no such resource, or one the caller may not see"},
    405: {"method_not_allowed": "the method is not allowed on this path"},
    406: {"not_acceptable": "no representation matches the request's Accept header"},
    409: {
        "slot_conflict": "the slot overlaps an approved, confirmed or paid booking",
        "duplicate_booking": "the customer already has a pending or held booking of the space overlapping it",
        "not_cancellable": "the booking's status does not allow cancelling it",
        "cancellation_window_closed": "too late to cancel: after the start (pending), or within the cancellation"
        " cut-off before it (approved, confirmed, paid)",
        "invoice_issued": "the booking has a numbered tax invoice",
        "invoice_not_available": "a cancelled or rejected booking has no invoice",
    },
    408: {"request_timeout": "a request body sent slower than the minimum rate (bytes per second)"},
    411: {"length_required": "an upload, or a request body, without a Content-Length header"},
    412: {"precondition_failed": "a download whose If-Match or If-Unmodified-Since does not hold (RFC 9110 §13.1)"},
    413: {
        "payload_too_large": "an upload larger than its kind allows, or a request body larger than the server accepts",
        "too_many_pixels": "an image whose header declares more pixels than accepted",
    },
    415: {
        "unsupported_media_type": "a file whose bytes are not of an accepted type, or a request body of a media"
        " type the endpoint does not take",
    },
    416: {"range_not_satisfiable": "a download Range that selects no byte of the file (RFC 9110 §15.5.17)"},
    422: {"idempotency_key_reused": "an Idempotency-Key the caller already used for an upload of another kind"},
    429: {
        "throttled": "too many requests from this address, or for this account from this address",
        "too_many_uploads": "more uploads of one user at once than allowed",
    },
    431: {"header_too_large": "a request head (request line and header fields) larger than accepted"},
    500: {"server_error": "an unexpected failure"},
    503: {
        MEMORY_PRESSURE: "the server is short of memory and sheds load",
        "database_unavailable": "the database cannot be reached or has no free connection",
        "invoice_busy": "invoice renders are at capacity",
        "upload_checks_busy": "every upload-check thread stayed busy past the wait allowed",
        "throttle_unavailable": "the cache holding the throttle counters cannot be reached",
        "storage_unavailable": "the object store holding media and invoices failed or cannot be reached",
        "overloaded": "more requests at once than the worker's concurrency limit",
        "unhealthy": "a readiness check fails (`GET /api/health/detailed`; `failing` names the checks)",
    },
    507: {"insufficient_storage": "no disk space to receive or store the upload"},
}


def suspicious_operation(exc: SuspiciousOperation) -> tuple[int, str, str]:
    """``(status, code, detail)`` for a request Django finds suspicious, in words that name no setting (Django's
    own messages do: "The number of files exceeded settings.DATA_UPLOAD_MAX_NUMBER_FILES")."""
    if isinstance(exc, TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        detail = "An upload carries one file only." if limit == 1 else f"A request may carry at most {limit} files."
        return 400, "too_many_files", detail
    if isinstance(exc, TooManyFieldsSent):
        return 400, "too_many_fields", f"A request may carry at most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields."
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return 413, "payload_too_large", f"The request body may be at most {human_size(limit)}."
    return 400, "bad_request", "Malformed request."


#: The README's table of error codes lies between these two lines (`error_codes_markdown`; a test compares them).
README_TABLE_MARKERS = ("<!-- error codes: begin (lebrq.errors.ERROR_CODES) -->", "<!-- error codes: end -->")


def error_codes_markdown() -> str:
    """`ERROR_CODES` as the README's Markdown table: one row per code, by status, then in listed order."""
    rows = ["| status | code | meaning |", "| --- | --- | --- |"]
    for status_code in sorted(ERROR_CODES):
        rows += [f"| {status_code} | `{code}` | {meaning} |" for code, meaning in ERROR_CODES[status_code].items()]
    return "\n".join(rows)


class DatabaseUnavailable(exceptions.APIException):
    """503 ``database_unavailable``; ``wait`` (seconds) becomes DRF's ``Retry-After`` header."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = DATABASE_UNAVAILABLE_DETAIL
    default_code = "database_unavailable"

    def __init__(self, wait: int):
        super().__init__()
        self.wait = wait


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot serve requests right now (a 503, not a 500): SQLAlchemy's pool
    `TimeoutError` (no free connection within ``DB_POOL_TIMEOUT`` seconds) or an `OperationalError` whose MySQL
    error number is in `UNREACHABLE_ERROR_NUMBERS`."""
    if isinstance(exc, sqlalchemy.exc.TimeoutError):
        return True
    if isinstance(exc, OperationalError):
        number = exc.args[0] if exc.args else None
        return isinstance(number, int) and number in UNREACHABLE_ERROR_NUMBERS
    return False


def log_database_unavailable(request_path: str, exc: BaseException) -> None:
    """One warning line (no traceback: an outage would otherwise flood the log)."""
    logger.warning("[Database] 503 for %s: %s: %s", request_path, type(exc).__name__, str(exc)[:200])


def database_unavailable_response(request_path: str, exc: BaseException) -> JsonResponse:
    """The plain-Django 503 ``database_unavailable`` response with ``Retry-After: DB_RETRY_AFTER``."""
    log_database_unavailable(request_path, exc)
    return error_response(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        DATABASE_UNAVAILABLE_DETAIL,
        "database_unavailable",
        headers={"Retry-After": str(settings.DB_RETRY_AFTER)},
    )


def error_body(detail, code: str, message: str | None = None, **extra) -> dict:
    """The error body described in the module docstring: ``message`` defaults to the first message of
    ``detail``; ``extra`` keys follow the four (the memory 503's ``error_type`` and ``retry_after``)."""
    if message is None:
        message = _first_message(detail)
    return {"detail": detail, "success": False, "message": message, "code": code, **extra}


def memory_pressure_body(message: str, retry_after: int) -> dict:
    """The 503 body when memory is short, whether load is shed (`lebrq.http.guards.MemoryGuard`) or a
    `MemoryError` was caught (there or in `lebrq.middleware.MemoryErrorMiddleware`): code ``memory_pressure``,
    with the original app's ``error_type`` and ``retry_after`` (seconds, also the ``Retry-After`` header)."""
    return error_body(message, MEMORY_PRESSURE, error_type="memory_error", retry_after=retry_after)


def domain_error(exc: domain.DomainError) -> tuple[int, str, str, dict[str, str]] | None:
    """``(status, code, detail, headers)`` for one of the project's own exceptions (`DOMAIN_ERRORS`), or None
    for one that is not mapped (a server error). An exception with a ``retry_after`` (seconds: `InvoiceBusy`,
    `UploadChecksBusy`, `StorageUnavailable`) adds ``Retry-After``."""
    for cls, (status_code, code, detail) in DOMAIN_ERRORS.items():
        if isinstance(exc, cls):
            retry_after = getattr(exc, "retry_after", None)
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            return status_code, code, detail or str(exc), headers
    return None


def error_response(status_code: int, detail, code: str, headers: dict | None = None, **extra) -> JsonResponse:
    """A plain Django `JsonResponse` carrying `error_body` (for views and middleware outside DRF)."""
    response = JsonResponse(error_body(detail, code, **extra), status=status_code)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            inner = _first_message(value)
            return inner if key in ("detail", "non_field_errors") else f"{key}: {inner}"
        return "Invalid request."
    if isinstance(detail, list | tuple):
        return _first_message(detail[0]) if detail else "Invalid request."
    return str(detail)


def _code_of(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    while isinstance(codes, dict | list):
        if not codes:
            return exc.default_code
        codes = next(iter(codes.values())) if isinstance(codes, dict) else codes[0]
    return str(codes)


def _as_api_exception(exc: domain.DomainError) -> exceptions.APIException | None:
    """A DRF exception carrying `domain_error`'s status, code and detail (and ``Retry-After`` as ``wait``)."""
    if isinstance(exc, domain.InvalidInput):
        return exceptions.ValidationError({exc.field: exc.messages}, code=exc.reason)
    mapped = domain_error(exc)
    if mapped is None:
        return None
    status_code, code, detail, headers = mapped
    if status_code == status.HTTP_400_BAD_REQUEST and getattr(exc, "field", None):
        return exceptions.ValidationError({exc.field: [detail]}, code=code)
    api_exception = exceptions.APIException(detail, code)
    api_exception.status_code = status_code
    if "Retry-After" in headers:
        api_exception.wait = int(headers["Retry-After"])
    return api_exception


def exception_handler(exc, context):
    """DRF ``EXCEPTION_HANDLER``: DRF's own handling, reshaped to the error body; the project's own exceptions
    as `DOMAIN_ERRORS` says (`InvalidBooking` a 400 naming its field); suspicious input is a 400, an unavailable
    database (`is_database_unavailable`) a 503 with ``Retry-After``."""
    from rest_framework.views import exception_handler as drf_exception_handler  # needs the app registry

    if isinstance(exc, domain.DomainError):
        exc = _as_api_exception(exc) or exc
    if is_database_unavailable(exc):
        request = context.get("request")
        log_database_unavailable(request.path if request else "?", exc)
        exc = DatabaseUnavailable(wait=settings.DB_RETRY_AFTER)
    elif isinstance(exc, SuspiciousOperation):
        status_code, code, detail = suspicious_operation(exc)
        exc = exceptions.APIException(detail, code)
        exc.status_code = status_code
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data.get("detail", response.data) if isinstance(response.data, dict) else response.data
    if isinstance(exc, exceptions.ValidationError):
        detail = response.data
    response.data = error_body(detail, _code_of(exc))
    return response


def handler400(request, exception=None):
    """Django's ``handler400`` (a `SuspiciousOperation` or `BadRequest` outside DRF): `suspicious_operation`."""
    if isinstance(exception, SuspiciousOperation):
        status_code, code, detail = suspicious_operation(exception)
        return error_response(status_code, detail, code)
    return error_response(status.HTTP_400_BAD_REQUEST, "Malformed request.", "bad_request")


def handler403(request, exception=None):
    """Django's ``handler403`` (`PermissionDenied` outside DRF): 403 ``permission_denied``."""
    return error_response(status.HTTP_403_FORBIDDEN, "You do not have permission to do this.", "permission_denied")


def handler404(request, exception=None):
    """Django's ``handler404`` (no route matches, or `Http404` outside DRF): 404 ``not_found``."""
    return error_response(status.HTTP_404_NOT_FOUND, "Not found.", "not_found")


def handler500(request):
    """Django's ``handler500`` (an unexpected failure): 500 ``server_error``, naming nothing of the failure."""
    return error_response(status.HTTP_500_INTERNAL_SERVER_ERROR, "Internal server error.", "server_error")


def csrf_failure(request, reason=""):
    """``CSRF_FAILURE_VIEW``: 403 ``csrf_failed`` (only the admin's forms use CSRF; the API uses bearer tokens)."""
    detail = "The form was refused: reload the page and send it again (its CSRF cookie or token is missing)."
    return error_response(status.HTTP_403_FORBIDDEN, detail, "csrf_failed")
