"""Django middleware: a `MemoryError` raised by a view becomes a 503 JSON response after `gc.collect()`.

(Django turns view exceptions into a 500 before they could reach the ASGI layer, so this has to live here.)
"""

import gc
import logging

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings

from lebrq.errors import error_response

logger = logging.getLogger("lebrq.memory")


class MemoryErrorMiddleware:
    """Catches `MemoryError` in views: collects garbage, logs the seed's line, answers 503 + Retry-After."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        return self.get_response(request)

    async def __acall__(self, request):
        return await self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, MemoryError) or not settings.MEMORY_PROTECTION_ENABLED:
            return None
        logger.error("[Memory Protection] Collected %d objects after MemoryError", gc.collect())
        retry_after = settings.MEMORY_RETRY_AFTER
        response = error_response(503, "The server ran out of memory; retry shortly.", "memory_error")
        response["Retry-After"] = str(retry_after)
        return response
