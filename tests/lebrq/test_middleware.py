"""Project middleware: 304 responses leave the stack without Content-Length."""

import json

from django.http import HttpResponse, HttpResponseNotModified
from django.test import RequestFactory

from lebrq.errors import memory_pressure_body
from lebrq.middleware import NotModifiedMiddleware


def test_304_loses_the_content_length_that_common_middleware_adds():
    def view(request):
        response = HttpResponseNotModified()
        response["Content-Length"] = "0"
        return response

    response = NotModifiedMiddleware(view)(RequestFactory().get("/"))
    assert response.status_code == 304
    assert not response.has_header("Content-Length")


def test_other_responses_keep_it():
    def view(request):
        return HttpResponse(b"abc", headers={"Content-Length": "3"})

    response = NotModifiedMiddleware(view)(RequestFactory().get("/"))
    assert response["Content-Length"] == "3"


def test_memory_error_in_a_view_becomes_503_after_a_collection(settings, caplog):
    from lebrq.middleware import MemoryErrorMiddleware

    settings.MEMORY_RETRY_AFTER = 4
    middleware = MemoryErrorMiddleware(lambda request: HttpResponse())
    with caplog.at_level("ERROR", logger="lebrq.memory"):
        response = middleware.process_exception(RequestFactory().get("/api/bookings"), MemoryError())
    assert response.status_code == 503
    assert response["Retry-After"] == "4"
    assert json.loads(response.content) == memory_pressure_body("The server ran out of memory; retry shortly.", 4)
    assert "[Memory Protection] Collected" in caplog.text
    assert middleware.process_exception(RequestFactory().get("/"), ValueError()) is None


def test_memory_error_handling_follows_the_rollback_switch(settings):
    from lebrq.middleware import MemoryErrorMiddleware

    settings.MEMORY_PROTECTION_ENABLED = False
    middleware = MemoryErrorMiddleware(lambda request: HttpResponse())
    assert middleware.process_exception(RequestFactory().get("/"), MemoryError()) is None
