"""One JSON error shape for the whole API.

Every error body is ``{"detail": str | dict, "success": false, "message": str, "code": str}``: ``detail`` as DRF
gives it, ``message`` a single human-readable sentence (the original app's clients read it), ``code`` a stable
machine-readable name.

A database that cannot serve the request (the pool has no free connection within ``DB_POOL_TIMEOUT``, or the
server cannot be reached or dropped the connection) is a 503 with code ``database_unavailable`` and a
``Retry-After`` of ``DB_RETRY_AFTER`` seconds, both here (DRF views) and in
`lebrq.middleware.DatabaseUnavailableMiddleware` (plain Django views): see `is_database_unavailable`.
"""

import logging

import sqlalchemy.exc
from django.conf import settings
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.db import OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger("lebrq.db")

#: MySQL/MariaDB error numbers that mean the server cannot be reached or has dropped the connection (client
#: errors CR_CONNECTION_ERROR 2002, CR_CONN_HOST_ERROR 2003, CR_UNKNOWN_HOST 2005, CR_SERVER_GONE_ERROR 2006,
#: CR_SERVER_LOST 2013, CR_SERVER_LOST_EXTENDED 2055; server errors ER_CON_COUNT_ERROR 1040 "Too many
#: connections", ER_SERVER_SHUTDOWN 1053, ER_CONNECTION_KILLED 1927, ER_CLIENT_INTERACTION_TIMEOUT 4031).
UNREACHABLE_ERROR_NUMBERS = frozenset({2002, 2003, 2005, 2006, 2013, 2055, 1040, 1053, 1927, 4031})

DATABASE_UNAVAILABLE_DETAIL = "The database is unavailable; retry shortly."


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


def error_body(detail, code: str, message: str | None = None) -> dict:
    """Build the error body described in the module docstring."""
    if message is None:
        message = _first_message(detail)
    return {"detail": detail, "success": False, "message": message, "code": code}


def error_response(status_code: int, detail, code: str, headers: dict | None = None) -> JsonResponse:
    """A plain Django `JsonResponse` carrying `error_body` (for views and middleware outside DRF)."""
    response = JsonResponse(error_body(detail, code), status=status_code)
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


def exception_handler(exc, context):
    """DRF ``EXCEPTION_HANDLER``: DRF's own handling, reshaped to the error body; suspicious input is a 400, an
    unavailable database (`is_database_unavailable`) a 503 with ``Retry-After``."""
    if is_database_unavailable(exc):
        request = context.get("request")
        log_database_unavailable(request.path if request else "?", exc)
        exc = DatabaseUnavailable(wait=settings.DB_RETRY_AFTER)
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ValidationError({"detail": str(exc) or "Malformed request."}, code="bad_request")
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


def handler404(request, exception=None):
    return error_response(status.HTTP_404_NOT_FOUND, "Not found.", "not_found")


def handler500(request):
    return error_response(status.HTTP_500_INTERNAL_SERVER_ERROR, "Internal server error.", "server_error")


def handler400(request, exception=None):
    return error_response(status.HTTP_400_BAD_REQUEST, "Bad request.", "bad_request")
