"""Test-only URLconf: the project's URLs plus ``GET /_test/balloon?mb=N&hold=S``, which allocates ``N`` MiB in
the worker (pages written, so they count in its RSS), answers at once, and frees them ``S`` seconds later; and
``/_test/by-method``, a DRF view whose permissions differ by method (``get_permissions``): ``POST`` is open to
anyone, ``PUT`` needs a login (the class-level ``permission_classes``)."""

import threading

from django.http import JsonResponse
from django.urls import path
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

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


class ByMethod(APIView):
    permission_classes = [IsAuthenticated]

    def get_permissions(self):
        if self.request.method == "POST":
            return [AllowAny()]
        return super().get_permissions()

    def post(self, request):
        return Response({"received": sorted(request.data)})

    def put(self, request):
        return Response({"received": sorted(request.data)})


urlpatterns = [path("_test/balloon", balloon), path("_test/by-method", ByMethod.as_view()), *project_urlpatterns]
__all__ = ["handler400", "handler404", "handler500", "urlpatterns"]
