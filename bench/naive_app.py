"""The naive way, for `bench/files.py` to measure against: a one-file Django app served under ASGI with Django's
defaults for files — `FileResponse` for downloads, FILE_UPLOAD_MAX_MEMORY_SIZE = 0 for uploads.

What that costs: under ASGI, Django drains FileResponse's synchronous iterator whole (``sync_to_async(list)``)
before sending a byte, so a download holds the whole file in memory; FileResponse ignores Range, so every range
request gets the whole file too. With FILE_UPLOAD_MAX_MEMORY_SIZE = 0 the ASGI handler's SpooledTemporaryFile
never rolls over to disk, so an upload's whole body sits in memory before the view runs.

Run: ``MEDIA_ROOT=/some/dir uvicorn naive_app:application --app-dir bench``. Routes: ``POST /upload``
(multipart field ``file``) → 201 ``{"name", "size"}``; ``GET /files/<name>``; ``GET /health``. Not for real use
(no auth).
"""

import os
from pathlib import Path

import django
from django.conf import settings

MEDIA_ROOT = Path(os.environ["MEDIA_ROOT"])

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-only",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=[],
    MIDDLEWARE=[],
    MEDIA_ROOT=str(MEDIA_ROOT),
    FILE_UPLOAD_TEMP_DIR=os.environ.get("FILE_UPLOAD_TEMP_DIR"),
    FILE_UPLOAD_MAX_MEMORY_SIZE=0,
    DATA_UPLOAD_MAX_MEMORY_SIZE=None,
)
django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402
from django.core.files.storage import default_storage  # noqa: E402
from django.http import FileResponse, Http404, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402


def upload(request):
    uploaded = request.FILES["file"]
    name = default_storage.save(os.path.basename(uploaded.name), uploaded)
    return JsonResponse({"name": name, "size": uploaded.size}, status=201)


def download(request, name: str):
    target = MEDIA_ROOT / os.path.basename(name)
    if not target.is_file():
        raise Http404()
    return FileResponse(target.open("rb"))


def health(request):
    return JsonResponse({"status": "ok"})


urlpatterns = [path("upload", upload), path("files/<str:name>", download), path("health", health)]
application = get_asgi_application()
