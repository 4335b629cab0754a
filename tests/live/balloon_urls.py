"""Test-only URLconf: the project's URLs plus ``GET /_test/balloon?mb=N&hold=S``, which allocates ``N`` MiB in
the worker (pages written, so they count in its RSS), answers at once, and frees them ``S`` seconds later."""

import threading

from django.http import JsonResponse
from django.urls import path

from lebrq.urls import handler400, handler404, handler500
from lebrq.urls import urlpatterns as project_urlpatterns

MiB = 1024 * 1024
_held: list[bytearray] = []


def balloon(request):
    megabytes, hold = int(request.GET["mb"]), float(request.GET["hold"])
    # One block above glibc's mmap threshold: freeing it returns the pages to the kernel, so RSS falls again.
    _held.append(bytearray(b"\x01") * (megabytes * MiB))
    threading.Timer(hold, _held.clear).start()
    return JsonResponse({"allocated_mb": megabytes, "hold_seconds": hold})


urlpatterns = [path("_test/balloon", balloon), *project_urlpatterns]
__all__ = ["handler400", "handler404", "handler500", "urlpatterns"]
