"""Project middleware: 304 responses leave the stack without Content-Length."""

from django.http import HttpResponse, HttpResponseNotModified
from django.test import RequestFactory

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
