"""One JSON error shape for the whole API.

Every error body is ``{"detail": str | dict, "success": false, "message": str, "code": str}``: ``detail`` as DRF
gives it, ``message`` a single human-readable sentence (the original app's clients read it), ``code`` a stable
machine-readable name.
"""

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler


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
    """DRF ``EXCEPTION_HANDLER``: DRF's own handling, reshaped to the error body; suspicious input is a 400."""
    if isinstance(exc, SuspiciousOperation):
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
