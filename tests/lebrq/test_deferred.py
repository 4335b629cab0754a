"""`lebrq.http.deferred`: a placeholder response finished on the loop, with the middleware's headers and cookies,
and the project's errors as their JSON answers."""

import asyncio
import json

from django.http import HttpResponse
from django.test import RequestFactory

from lebrq.exceptions import InvoiceBusy, UploadChecksBusy
from lebrq.http.deferred import DeferredResponse, can_defer, mark_deferrable, resolve
from lebrq.http.executor import RequestThreadTimeout


def placeholder_for(finish):
    placeholder = DeferredResponse(finish)
    placeholder["X-Frame-Options"] = "DENY"  # as middleware would set
    placeholder["Vary"] = "Cookie"
    placeholder.set_cookie("csrftoken", "abc")
    return placeholder


def test_only_marked_requests_may_be_deferred():
    request = RequestFactory().get("/api/bookings/1/invoice")
    assert can_defer(request) is False
    mark_deferrable(request)
    assert can_defer(request) is True


def test_the_real_response_keeps_its_fields_and_gains_the_placeholders():
    async def finish():
        response = HttpResponse(b"%PDF-", content_type="application/pdf", headers={"Vary": "Range"})
        return response

    placeholder = placeholder_for(finish)
    placeholder["Content-Length"] = "0"  # CommonMiddleware's, for the placeholder's empty body
    response = asyncio.run(resolve(RequestFactory().get("/"), placeholder))
    assert response.status_code == 200
    assert response.content == b"%PDF-"
    assert response["Content-Type"] == "application/pdf"
    assert not response.has_header("Content-Length")
    assert response["Vary"] == "Range"
    assert response["X-Frame-Options"] == "DENY"
    assert response.cookies["csrftoken"].value == "abc"


def test_a_domain_error_becomes_its_json_answer():
    async def finish():
        raise InvoiceBusy(3)

    response = asyncio.run(resolve(RequestFactory().get("/"), placeholder_for(finish)))
    assert response.status_code == 503
    assert response["Retry-After"] == "3"
    assert response["X-Frame-Options"] == "DENY"
    assert json.loads(response.content) == {
        "detail": "Invoices are being rendered at capacity; retry shortly.",
        "success": False,
        "message": "Invoices are being rendered at capacity; retry shortly.",
        "code": "invoice_busy",
    }


def test_upload_checks_at_capacity_become_503_with_retry_after():
    async def finish():
        raise UploadChecksBusy(5)

    response = asyncio.run(resolve(RequestFactory().get("/"), placeholder_for(finish)))
    assert (response.status_code, response["Retry-After"]) == (503, "5")
    assert json.loads(response.content) == {
        "detail": "Uploads are being checked at capacity; retry shortly.",
        "success": False,
        "message": "Uploads are being checked at capacity; retry shortly.",
        "code": "upload_checks_busy",
    }


def test_no_free_request_thread_becomes_database_unavailable(settings):
    settings.DB_RETRY_AFTER = 2

    async def finish():
        raise RequestThreadTimeout("no request thread came free within 1 s")

    response = asyncio.run(resolve(RequestFactory().post("/api/uploads/image"), placeholder_for(finish)))
    assert (response.status_code, response["Retry-After"]) == (503, "2")
    assert json.loads(response.content) == {
        "detail": "The database is unavailable; retry shortly.",
        "success": False,
        "message": "The database is unavailable; retry shortly.",
        "code": "database_unavailable",
    }


def test_another_exception_becomes_djangos_500(settings):
    settings.DEBUG = False

    async def finish():
        raise RuntimeError("boom")

    response = asyncio.run(resolve(RequestFactory().get("/"), placeholder_for(finish)))
    assert response.status_code == 500
    assert json.loads(response.content)["code"] == "server_error"
