"""Django middleware that turns two kinds of view failure into a 503 JSON response instead of a 500:

- `MemoryErrorMiddleware`: a `MemoryError`, after `gc.collect()`;
- `DatabaseUnavailableMiddleware`: an unavailable database (`lebrq.errors.is_database_unavailable`: pool
  exhausted, server unreachable) in views outside DRF (DRF views get the same from `lebrq.errors`).

(Django turns view exceptions into a 500 before they could reach the ASGI layer, so this has to live here.)
"""

import gc
import logging

from django.conf import settings
from django.http import JsonResponse
from django.utils.deprecation import MiddlewareMixin

from lebrq.errors import database_unavailable_response, is_database_unavailable, memory_pressure_body

logger = logging.getLogger("lebrq.memory")


class MemoryErrorMiddleware(MiddlewareMixin):
    """Catches `MemoryError` in views: collects garbage, logs the seed's line, answers 503 ``memory_pressure`` +
    Retry-After, the same body as `lebrq.http.guards.MemoryGuard` (`lebrq.errors.memory_pressure_body`): Django
    turns a view's exception into a 500 before the guard could see it."""

    def process_exception(self, request, exception):
        if not isinstance(exception, MemoryError) or not settings.MEMORY_PROTECTION_ENABLED:
            return None
        logger.error("[Memory Protection] Collected %d objects after MemoryError", gc.collect())
        retry_after = settings.MEMORY_RETRY_AFTER
        body = memory_pressure_body("The server ran out of memory; retry shortly.", retry_after)
        return JsonResponse(body, status=503, headers={"Retry-After": str(retry_after)})


class DatabaseUnavailableMiddleware(MiddlewareMixin):
    """Answers 503 ``database_unavailable`` + ``Retry-After: DB_RETRY_AFTER`` when a view fails because the
    database cannot be reached or the pool has no free connection (see `lebrq.errors`)."""

    def process_exception(self, request, exception):
        if not is_database_unavailable(exception):
            return None
        return database_unavailable_response(request.path, exception)


class NotModifiedMiddleware(MiddlewareMixin):
    """Removes ``Content-Length`` from 304 responses (placed before CommonMiddleware, which adds ``0``).

    RFC 9110 §8.6: a 304 may carry Content-Length only if it equals the 200's length; ``0`` is wrong, and an
    ASGI server that checks the body against it (uvicorn with httptools) drops the connection.
    """

    def process_response(self, request, response):
        if response.status_code == 304 and response.has_header("Content-Length"):
            del response.headers["Content-Length"]
        return response
