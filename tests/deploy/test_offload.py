"""X-Accel-Redirect offload (`lebrq.http.streaming`, DOWNLOAD_OFFLOAD=x-accel) and serving from a storage without
local files, through Django's test client. What nginx then does with these headers: tests/live/test_nginx_live.py.
"""

import asyncio
import hashlib
import os
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage
from django.test import RequestFactory
from django.utils.http import http_date

from lebrq.http.conditional import Representation
from lebrq.http.streaming import file_response, offload_locations, x_accel_redirect_uri

pytestmark = pytest.mark.django_db


@pytest.fixture
def offload(settings):
    settings.DOWNLOAD_OFFLOAD = "x-accel"
    return settings


def upload(client, kind: str, path: Path) -> dict:
    with path.open("rb") as source:
        response = client.post(f"/api/uploads/{kind}", {"file": source}, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()


def read_body(response) -> bytes:
    """The body of a streamed (async iterator) response, read as the ASGI handler does."""

    async def collect():
        return b"".join([chunk async for chunk in response])

    return asyncio.run(collect())


def test_offloaded_download_is_headers_only_with_our_validators(offload, customer_api, api, shared_media):
    photo = upload(customer_api, "image", shared_media / "phone-photo.jpg")
    response = api.get(photo["url"])
    assert response.status_code == 200
    assert response.content == b""
    assert response["X-Accel-Redirect"] == f"/_protected/media/{photo['path']}"
    assert response["ETag"] == photo["etag"]
    assert response["Content-Type"] == "image/jpeg"
    assert response["Content-Disposition"] == 'inline; filename="phone-photo.jpg"'
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    # nginx sets these from the file it serves (same mtime, its own range handling).
    assert "Last-Modified" not in response
    assert "Accept-Ranges" not in response
    assert "Content-Range" not in response


def test_range_and_head_are_left_to_nginx(offload, customer_api, api, shared_media):
    video = upload(customer_api, "video", shared_media / "venue-tour.mp4")
    ranged = api.get(video["url"], headers={"Range": "bytes=0-1048575"})
    assert (ranged.status_code, ranged.content) == (200, b"")
    assert ranged["X-Accel-Redirect"] == f"/_protected/media/{video['path']}"
    head = api.head(video["url"])
    assert (head.status_code, head["X-Accel-Redirect"]) == (200, f"/_protected/media/{video['path']}")


def test_preconditions_are_answered_here_from_our_validators(offload, customer_api, api, shared_media, settings):
    video = upload(customer_api, "video", shared_media / "venue-tour.mp4")
    size = video["size"]
    mtime = (Path(settings.MEDIA_ROOT) / video["path"]).stat().st_mtime

    not_modified = api.get(video["url"], headers={"If-None-Match": video["etag"]})
    assert not_modified.status_code == 304
    assert not_modified["ETag"] == video["etag"]
    assert "X-Accel-Redirect" not in not_modified

    not_modified_since = api.get(video["url"], headers={"If-Modified-Since": http_date(mtime + 60)})
    assert not_modified_since.status_code == 304

    failed = api.get(video["url"], headers={"If-Unmodified-Since": http_date(mtime - 3600)})
    assert failed.status_code == 412
    assert "X-Accel-Redirect" not in failed

    unsatisfiable = api.get(video["url"], headers={"Range": f"bytes={size}-"})
    assert unsatisfiable.status_code == 416
    assert unsatisfiable["Content-Range"] == f"bytes */{size}"
    assert "X-Accel-Redirect" not in unsatisfiable


def test_if_match_is_streamed_here(offload, customer_api, api, shared_media, settings):
    """nginx would compare If-Match with an ETag it does not have and answer 412, so such a request is streamed."""
    path = shared_media / "phone-photo.jpg"
    photo = upload(customer_api, "image", path)
    response = api.get(photo["url"], headers={"If-Match": photo["etag"], "Range": "bytes=0-99"})
    assert response.status_code == 206
    assert "X-Accel-Redirect" not in response
    assert read_body(response) == (Path(settings.MEDIA_ROOT) / photo["path"]).read_bytes()[:100]  # as stored


def test_private_document_is_404_to_others_before_any_offload(offload, customer_api, other_api, shared_media):
    document = upload(customer_api, "document", shared_media / "document.pdf")
    refused = other_api.get(document["url"])
    assert refused.status_code == 404
    assert "X-Accel-Redirect" not in refused
    mine = customer_api.get(document["url"])
    assert mine["X-Accel-Redirect"] == f"/_protected/media/{document['path']}"
    assert mine["Cache-Control"] == "private, no-cache"


def test_offload_is_off_by_default(customer_api, api, shared_media):
    path = shared_media / "phone-photo.jpg"
    photo = upload(customer_api, "image", path)
    response = api.get(photo["url"])
    assert "X-Accel-Redirect" not in response
    assert hashlib.sha256(read_body(response)).hexdigest() == photo["etag"].strip('"')


def test_a_file_with_on_close_is_streamed_and_cleaned_up(offload, settings):
    """on_close means the file may go away with the response: nginx could not open it after that."""
    path = Path(settings.MEDIA_ROOT) / "invoice.pdf"
    path.write_bytes(b"%PDF-1.4 test")
    closed = []
    response = file_response(
        RequestFactory().get("/invoice"),
        path=path,
        representation=Representation(size=13, etag='"v1"', last_modified=path.stat().st_mtime),
        content_type="application/pdf",
        on_close=lambda: closed.append(path.unlink()),
    )
    assert "X-Accel-Redirect" not in response
    assert response.streaming
    response.close()
    assert closed == [None]
    assert not path.exists()


def test_locations_default_to_media_root_and_the_invoice_cache(settings, tmp_path):
    settings.INVOICE_CACHE_DIR = str(tmp_path / "invoices")
    settings.DOWNLOAD_OFFLOAD_LOCATIONS = {}
    assert offload_locations() == {
        str(settings.MEDIA_ROOT): "/_protected/media/",
        str(tmp_path / "invoices"): "/_protected/invoices/",
    }
    assert x_accel_redirect_uri(tmp_path / "invoices" / "ab" / "BK-1-c0ffee.pdf") == (
        "/_protected/invoices/ab/BK-1-c0ffee.pdf"
    )


def test_uri_is_percent_encoded_and_confined_to_its_directory(settings, tmp_path):
    media = Path(settings.MEDIA_ROOT)
    assert x_accel_redirect_uri(media / "a b" / "é?#.pdf") == "/_protected/media/a%20b/%C3%A9%3F%23.pdf"
    assert x_accel_redirect_uri(media) is None
    assert x_accel_redirect_uri(media / ".." / "tmp" / "upload.part") is None
    assert x_accel_redirect_uri(tmp_path / "elsewhere.pdf") is None
    outside = tmp_path / "secret.txt"
    outside.write_text("x")
    os.symlink(outside, media / "link.txt")
    assert x_accel_redirect_uri(media / "link.txt") is None


def test_configured_locations_replace_the_defaults(settings, tmp_path):
    settings.DOWNLOAD_OFFLOAD_LOCATIONS = {str(tmp_path / "store"): "/internal/store"}
    assert x_accel_redirect_uri(tmp_path / "store" / "x.bin") == "/internal/store/x.bin"
    assert x_accel_redirect_uri(Path(settings.MEDIA_ROOT) / "x.bin") is None


class ObjectStorage(Storage):
    """A storage without local files, as S3Storage is: objects in a dict, and Storage's path(), which raises
    NotImplementedError."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.objects: dict[str, bytes] = {}

    def _save(self, name, content):
        self.objects[name] = b"".join(content.chunks())
        return name

    def _open(self, name, mode="rb"):
        return ContentFile(self.objects[name], name)

    def exists(self, name):
        return name in self.objects

    def delete(self, name):
        self.objects.pop(name, None)

    def size(self, name):
        return len(self.objects[name])

    def url(self, name):
        return self.base_url + name


def test_storage_without_local_files_redirects_after_authorisation(
    monkeypatch, settings, customer_api, other_api, shared_media
):
    settings.STORAGE_DOWNLOAD = "presigned"  # opt-in (the default streams: tests/uploads/test_s3_storage.py)
    monkeypatch.setattr(default_storage, "_wrapped", ObjectStorage("https://objects.example/media/"))
    document = upload(customer_api, "document", shared_media / "document.pdf")
    assert default_storage.size(document["path"]) == document["size"]
    assert other_api.get(document["url"]).status_code == 404
    response = customer_api.get(document["url"])
    assert response.status_code == 302
    assert response["Location"] == f"https://objects.example/media/{document['path']}"
    assert response["Cache-Control"] == "private, no-store"
    assert not any(Path(settings.MEDIA_ROOT).rglob("*.pdf"))


def test_storage_without_local_files_streams_by_default(monkeypatch, customer_api, shared_media):
    """Neither local nor S3: its file opened through the storage and read from the range's first byte."""
    import asyncio
    import contextlib

    monkeypatch.setattr(default_storage, "_wrapped", ObjectStorage("https://objects.example/media/"))
    document = upload(customer_api, "document", shared_media / "document.pdf")
    response = customer_api.get(document["url"], headers={"Range": "bytes=10-19"})
    assert response.status_code == 206

    async def consume():
        async with contextlib.aclosing(aiter(response)) as content:
            return b"".join([chunk async for chunk in content])

    assert asyncio.run(consume()) == default_storage.objects[document["path"]][10:20]
