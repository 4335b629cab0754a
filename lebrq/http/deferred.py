"""Responses finished on the event loop after the request thread is given back.

A view that has long CPU-only work left once its database reads are done (an invoice render) returns a
`DeferredResponse`: a placeholder carrying an async ``finish`` callable. The middleware chain runs over the
placeholder in the request thread as over any response; then `lebrq.http.executor` frees the thread (and its
database connection) and awaits `resolve`, which runs ``finish`` on the loop — it awaits the work on an executor
of its own — and copies the header fields and cookies that middleware set on the placeholder onto the real
response. The project's own exceptions raised by ``finish`` become their JSON error (`lebrq.errors`), others
Django's 500.

Only requests marked by the request-thread runner may be deferred (`can_defer`): elsewhere (the test client, WSGI)
views do the work inline.
"""

from collections.abc import Awaitable, Callable

from django.core.handlers.exception import response_for_exception
from django.http import HttpResponse, HttpResponseBase

from lebrq.exceptions import DomainError

#: The request attribute that `mark_deferrable` sets.
DEFERRABLE_ATTRIBUTE = "lebrq_deferrable"
#: Header fields of the placeholder that describe its own (empty) body, never copied onto the real response.
BODY_FIELDS = frozenset({"content-length", "content-type"})


class DeferredResponse(HttpResponse):
    """A placeholder response whose real response is ``await finish()`` (an async callable taking nothing and
    returning an `HttpResponseBase`), built by `resolve` once the request thread is free."""

    def __init__(self, finish: Callable[[], Awaitable[HttpResponseBase]]):
        super().__init__(status=200)
        self.finish = finish


def mark_deferrable(request) -> None:
    """Let the views of ``request`` (a Django `HttpRequest`) return a `DeferredResponse`."""
    setattr(request, DEFERRABLE_ATTRIBUTE, True)


def can_defer(request) -> bool:
    """Whether ``request`` (Django's or DRF's, which forwards attributes) may be answered with a
    `DeferredResponse`: only when `lebrq.http.executor` runs it and will `resolve` the placeholder."""
    return getattr(request, DEFERRABLE_ATTRIBUTE, False) is True


async def resolve(request, placeholder: DeferredResponse) -> HttpResponseBase:
    """The real response for ``placeholder``: ``await placeholder.finish()``, or the JSON error of a
    `DomainError` it raised (`lebrq.errors.domain_error`), the 503 ``database_unavailable`` when it found no free
    request thread (`lebrq.http.executor.RequestThreadTimeout`: ``finish`` may run more database work there), the
    503s of `lebrq.middleware` (which saw only the placeholder) for a `MemoryError` or an unavailable database, or
    Django's response for any other exception (500).

    Header fields the middleware set on the placeholder (security headers, Vary, ...) are added where the real
    response lacks them, except `BODY_FIELDS`; its cookies are added likewise.
    """
    from lebrq.errors import database_unavailable_response, domain_error, error_response  # imports DRF
    from lebrq.http.executor import RequestThreadTimeout  # which imports this module

    try:
        response = await placeholder.finish()
    except RequestThreadTimeout as exc:
        response = database_unavailable_response(request.path, exc)
    except DomainError as exc:
        mapped = domain_error(exc)
        if mapped is None:
            response = response_for_exception(request, exc)
        else:
            status, code, detail, headers = mapped
            response = error_response(status, detail, code, headers)
    except Exception as exc:  # what the middleware, then Django's handler, do with a view's exception
        from lebrq.middleware import DatabaseUnavailableMiddleware, MemoryErrorMiddleware

        response = None
        for middleware in (MemoryErrorMiddleware, DatabaseUnavailableMiddleware):
            response = response or middleware(lambda request: None).process_exception(request, exc)
        response = response or response_for_exception(request, exc)
    for name, value in placeholder.items():
        if name.lower() not in BODY_FIELDS and not response.has_header(name):
            response[name] = value
    for name, morsel in placeholder.cookies.items():
        if name not in response.cookies:
            response.cookies[name] = morsel
    return response  # the placeholder is dropped unclosed: closing it would signal request_finished twice
