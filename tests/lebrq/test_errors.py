"""An unavailable database is a 503 `database_unavailable` with Retry-After, in DRF views and plain Django views.

(The real thing — an exhausted pool, a stopped MariaDB — is in tests/live/test_faults_live.py.)
"""

import json
from unittest import mock

import pytest
import sqlalchemy.exc
from django.db import OperationalError, ProgrammingError

from lebrq import exceptions as domain
from lebrq.errors import (
    DOMAIN_ERRORS,
    ERROR_CODES,
    exception_handler,
    is_database_unavailable,
    memory_pressure_body,
)

POOL_TIMEOUT = sqlalchemy.exc.TimeoutError(
    "QueuePool limit of size 1 overflow 0 reached, connection timed out, timeout 1.00"
)
EXPECTED_BODY = {
    "detail": "The database is unavailable; retry shortly.",
    "success": False,
    "message": "The database is unavailable; retry shortly.",
    "code": "database_unavailable",
}


@pytest.mark.parametrize(
    ("exc", "unavailable"),
    [
        (POOL_TIMEOUT, True),
        (OperationalError(2002, "Can't connect to local server through socket"), True),
        (OperationalError(2003, "Can't connect to server on '127.0.0.1' (111)"), True),
        (OperationalError(2006, "Server has gone away"), True),
        (OperationalError(2013, "Lost connection to server during query"), True),
        (OperationalError(1040, "Too many connections"), True),
        (OperationalError(1053, "Server shutdown in progress"), True),
        (OperationalError(1927, "Connection was killed"), True),
        (OperationalError(1205, "Lock wait timeout exceeded"), False),
        (OperationalError(1213, "Deadlock found"), False),
        (OperationalError("database is locked"), False),  # SQLite
        (OperationalError(), False),
        (ProgrammingError(1146, "Table doesn't exist"), False),
        (ValueError(2003), False),
    ],
)
def test_is_database_unavailable(exc, unavailable):
    assert is_database_unavailable(exc) is unavailable


@pytest.mark.parametrize("exc", [POOL_TIMEOUT, OperationalError(2003, "Can't connect")])
def test_drf_view_answers_503_with_retry_after(client, settings, exc, caplog):
    settings.DB_RETRY_AFTER = 3
    with mock.patch("bookings.views.VenueViewSet.get_queryset", side_effect=exc):
        response = client.get("/api/venues")
    assert response.status_code == 503
    assert response["Retry-After"] == "3"
    assert response.json() == EXPECTED_BODY
    assert f"[Database] 503 for /api/venues: {type(exc).__name__}" in caplog.text


def test_plain_django_view_answers_503_with_retry_after(client, settings):
    settings.DB_RETRY_AFTER = 2
    # A plain Django view (not DRF) that fails the way a view querying an exhausted pool would.
    with mock.patch("health.views.read_memory", side_effect=POOL_TIMEOUT):
        response = client.get("/api/health/memory")
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert response.json() == EXPECTED_BODY


def test_other_database_errors_stay_server_errors(client):
    client.raise_request_exception = False
    with mock.patch("bookings.views.VenueViewSet.get_queryset", side_effect=OperationalError(1213, "Deadlock")):
        response = client.get("/api/venues")
    assert response.status_code == 500
    assert response.json()["code"] == "server_error"


# --- The project's own exceptions, mapped in one place ------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "status", "body", "retry_after"),
    [
        (domain.SlotConflict("Taken."), 409, {"detail": "Taken.", "message": "Taken.", "code": "slot_conflict"}, None),
        (domain.NotCancellable("No."), 409, {"detail": "No.", "message": "No.", "code": "not_cancellable"}, None),
        (
            domain.InvoiceIssued("Fixed."),
            409,
            {"detail": "Fixed.", "message": "Fixed.", "code": "invoice_issued"},
            None,
        ),
        (
            domain.InvoiceNotAvailable("Gone."),
            409,
            {"detail": "Gone.", "message": "Gone.", "code": "invoice_not_available"},
            None,
        ),
        (
            domain.InvoiceBusy(3),
            503,
            {
                "detail": "Invoices are being rendered at capacity; retry shortly.",
                "message": "Invoices are being rendered at capacity; retry shortly.",
                "code": "invoice_busy",
            },
            "3",
        ),
        (domain.UploadTooLarge("Big."), 413, {"detail": "Big.", "message": "Big.", "code": "payload_too_large"}, None),
        (
            domain.UnsupportedType("Odd."),
            415,
            {"detail": "Odd.", "message": "Odd.", "code": "unsupported_media_type"},
            None,
        ),
        (
            domain.InsufficientStorage(),
            507,
            {
                "detail": "The server has no room to store this upload.",
                "message": "The server has no room to store this upload.",
                "code": "insufficient_storage",
            },
            None,
        ),
        (
            domain.InvalidBooking("attendees", "Too many."),
            400,
            {"detail": {"attendees": ["Too many."]}, "message": "attendees: Too many.", "code": "invalid"},
            None,
        ),
    ],
)
def test_domain_exceptions_become_their_status_and_code(exc, status, body, retry_after):
    response = exception_handler(exc, {})
    assert response.status_code == status
    assert response.data == {"success": False, **body}
    assert response.headers.get("Retry-After") == retry_after


def test_an_unmapped_domain_exception_is_left_to_django():
    assert exception_handler(domain.InvoiceRenderError("xhtml2pdf failed"), {}) is None


def test_every_mapped_code_is_listed_under_its_status():
    for status, code, _ in DOMAIN_ERRORS.values():
        assert code in ERROR_CODES[status], code
    assert {"memory_pressure", "database_unavailable", "invoice_busy"} <= ERROR_CODES[503].keys()


def test_the_memory_body_is_one_shape():
    assert memory_pressure_body("Short of memory.", 4) == {
        "detail": "Short of memory.",
        "success": False,
        "message": "Short of memory.",
        "code": "memory_pressure",
        "error_type": "memory_error",
        "retry_after": 4,
    }


@pytest.mark.parametrize(
    ("size", "words"),
    [(0, "0 bytes"), (1, "1 byte"), (1023, "1023 bytes"), (1024, "1 KiB"), (16384, "16 KiB"), (2_621_440, "2.5 MiB"),
     (15 * 2**20, "15 MiB"), (25 * 2**20 + 1, "25 MiB"), (2**31, "2 GiB"), (3 * 2**29, "1.5 GiB")],
)  # fmt: skip
def test_human_size(size, words):
    from lebrq.sizes import human_size

    assert human_size(size) == words


@pytest.mark.parametrize(
    ("kind", "limit", "sentence"),
    [
        ("image", 15 * 2**20, "An image upload may be at most 15 MiB."),
        ("video", 2**31, "A video upload may be at most 2 GiB."),
        ("document", 25 * 2**20, "A document upload may be at most 25 MiB."),
    ],
)
def test_upload_too_large_detail(kind, limit, sentence):
    from lebrq.sizes import upload_too_large_detail

    assert upload_too_large_detail(kind, limit) == sentence


def _shape(response, status_code, code, detail):
    assert (response.status_code, response["Content-Type"]) == (status_code, "application/json")
    assert json.loads(response.content) == {"detail": detail, "success": False, "message": detail, "code": code}


def test_django_handlers_answer_the_error_body(rf, settings):
    from django.core.exceptions import RequestDataTooBig, SuspiciousFileOperation, TooManyFilesSent

    from lebrq import errors

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
    request = rf.get("/")
    _shape(
        errors.handler400(request, TooManyFilesSent("settings.X")),
        400,
        "too_many_files",
        "An upload carries one file only.",
    )
    _shape(errors.handler400(request, RequestDataTooBig("settings.X")), 413, "payload_too_large",
           "The request body may be at most 2.5 MiB.")  # fmt: skip
    _shape(errors.handler400(request, SuspiciousFileOperation("/etc")), 400, "bad_request", "Malformed request.")
    _shape(errors.handler403(request), 403, "permission_denied", "You do not have permission to do this.")
    _shape(errors.handler404(request), 404, "not_found", "Not found.")
    _shape(errors.handler500(request), 500, "server_error", "Internal server error.")
    detail = "The form was refused: reload the page and send it again (its CSRF cookie or token is missing)."
    _shape(errors.csrf_failure(request, "CSRF cookie not set."), 403, "csrf_failed", detail)


def test_the_url_configuration_names_every_handler():
    from lebrq import urls

    assert (urls.handler400, urls.handler403, urls.handler404, urls.handler500) == (
        "lebrq.errors.handler400",
        "lebrq.errors.handler403",
        "lebrq.errors.handler404",
        "lebrq.errors.handler500",
    )


def test_the_readme_table_of_error_codes_is_error_codes():
    from pathlib import Path

    from lebrq.errors import ERROR_CODES, README_TABLE_MARKERS, error_codes_markdown

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    begin, end = README_TABLE_MARKERS
    table = readme[readme.index(begin) + len(begin) : readme.index(end)].strip()
    assert table == error_codes_markdown(), "README.md: paste lebrq.errors.error_codes_markdown() between the markers"
    assert len(table.splitlines()) == 2 + sum(len(codes) for codes in ERROR_CODES.values())
    assert "| 416 | `range_not_satisfiable` |" in table
