"""The peer, for `bench/files.py` to measure against: a minimal Starlette app. Downloads are Starlette's
`FileResponse` (64 KiB reads in a thread, single and multiple Range support); uploads are Starlette's multipart
parser (python-multipart), whose `UploadFile` spools to a temporary file past 1 MiB, copied into MEDIA_ROOT.

Run: ``MEDIA_ROOT=/some/dir uvicorn starlette_app:app --app-dir bench``. Routes: ``POST /upload`` (multipart
field ``file``) → 201 ``{"name", "size"}``; ``GET /files/{name}``; ``GET /health``. Not for real use (no auth).
"""

import os
import shutil
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Route

MEDIA_ROOT = Path(os.environ["MEDIA_ROOT"])
COPY_CHUNK = 1024 * 1024  # bytes


def _store(source, name: str) -> int:
    with (MEDIA_ROOT / name).open("wb") as target:
        shutil.copyfileobj(source, target, COPY_CHUNK)
        return target.tell()


async def upload(request):
    async with request.form(max_files=1) as form:
        uploaded = form["file"]
        name = os.path.basename(uploaded.filename or "upload")
        size = await run_in_threadpool(_store, uploaded.file, name)
    return JSONResponse({"name": name, "size": size}, status_code=201)


async def download(request):
    target = MEDIA_ROOT / os.path.basename(request.path_params["name"])
    if not target.is_file():
        raise HTTPException(404)
    return FileResponse(target)


async def health(request):
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/upload", upload, methods=["POST"]),
        Route("/files/{name}", download),
        Route("/health", health),
    ]
)
