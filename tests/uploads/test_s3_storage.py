"""Uploads and downloads with the media in a real S3-compatible server (moto_server: tests/storage_server.py):
stored in parts from the temp file, read back by ranged GETs with our validators and headers, nothing left behind
by a refused or failed upload."""

import asyncio
import contextlib
import email
import hashlib
from pathlib import Path
from unittest import mock

import pytest
from django.core.files.storage import default_storage
from django.db import DatabaseError

from bench.files import generate
from lebrq import objectstore
from lebrq.http.objects import ObjectRangeIterator
from uploads.models import Upload

pytestmark = pytest.mark.django_db


def post(client, kind, path: Path):
    with path.open("rb") as source:
        return client.post(f"/api/uploads/{kind}", {"file": source}, format="multipart")


def body_of(response) -> bytes:
    async def consume():
        async with contextlib.aclosing(aiter(response)) as content:
            return b"".join([chunk async for chunk in content])

    return asyncio.run(consume())


def temp_files(settings) -> list[Path]:
    return list(Path(settings.FILE_UPLOAD_TEMP_DIR).iterdir())


def test_upload_is_stored_in_the_bucket_and_nowhere_else(customer_api, s3_storage, shared_media, settings):
    video = shared_media / "venue-tour.mp4"
    response = post(customer_api, "video", video)
    assert response.status_code == 201, response.content
    upload = Upload.objects.get()
    assert s3_storage.keys() == [upload.name]
    stored = s3_storage.client.get_object(Bucket=s3_storage.bucket, Key=f"{s3_storage.location}/{upload.name}")
    data = stored["Body"].read()
    assert stored["ContentType"] == "video/mp4"
    assert hashlib.sha256(data).hexdigest() == upload.sha256
    assert len(data) == upload.size == response.json()["size"]
    assert temp_files(settings) == []
    assert not any(Path(settings.MEDIA_ROOT).rglob("*"))


def test_large_upload_goes_in_parts_and_leaves_no_multipart_upload(s3_storage, tmp_path, monkeypatch):
    """Above PART_SIZE the file is sent as a multipart upload (parts of PART_SIZE), completed."""
    monkeypatch.setattr(objectstore, "PART_SIZE", 5 * 1024 * 1024)  # S3's smallest part
    source = tmp_path / "big.bin"
    source.write_bytes(bytes(range(256)) * (11 * 1024 * 1024 // 256))  # 11 MiB: three parts
    name = objectstore.save_file(default_storage, "videos/big.bin", source, "video/mp4")
    key = f"{s3_storage.location}/videos/big.bin"
    head = s3_storage.client.head_object(Bucket=s3_storage.bucket, Key=key)
    assert head["ContentLength"] == 11 * 1024 * 1024
    assert head["ETag"].endswith('-3"')  # S3's multipart ETag: MD5 of the part MD5s, dash, part count
    assert name == "videos/big.bin"
    assert s3_storage.client.list_multipart_uploads(Bucket=s3_storage.bucket).get("Uploads", []) == []


def test_failed_part_aborts_the_multipart_upload_and_the_upload_is_503(
    customer_api, s3_storage, shared_media, settings, monkeypatch
):
    """A part the store refuses: s3transfer aborts the multipart upload, the client gets 503 storage_unavailable,
    and there is no object, no row, no temp file."""
    monkeypatch.setattr(objectstore, "PART_SIZE", 5 * 1024 * 1024)
    client = objectstore.client(default_storage)
    real_upload_part = client.upload_part
    calls = []

    def failing_upload_part(**kwargs):
        calls.append(kwargs["PartNumber"])
        if kwargs["PartNumber"] == 2:
            raise client.exceptions.ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, "UploadPart")
        return real_upload_part(**kwargs)

    big = generate(Path(settings.FILE_UPLOAD_TEMP_DIR).parent / "big.mp4", 12 * 1024 * 1024)  # three parts
    monkeypatch.setattr(client, "upload_part", failing_upload_part)
    response = post(customer_api, "video", big)
    assert response.status_code == 503
    assert response.json()["code"] == "storage_unavailable"
    assert response["Retry-After"] == "5"
    assert 2 in calls
    assert s3_storage.keys() == []
    assert s3_storage.client.list_multipart_uploads(Bucket=s3_storage.bucket).get("Uploads", []) == []
    assert Upload.objects.count() == 0
    assert temp_files(settings) == []


def test_refused_upload_never_reaches_the_store(customer_api, s3_storage, shared_media, settings):
    response = post(customer_api, "image", shared_media / "document.pdf")
    assert response.status_code == 415
    assert s3_storage.keys() == []
    assert Upload.objects.count() == 0
    assert temp_files(settings) == []


def test_row_failure_removes_the_stored_object(customer_api, s3_storage, shared_media, settings):
    with (
        mock.patch.object(Upload.objects, "create", side_effect=DatabaseError("disk I/O error")),
        pytest.raises(DatabaseError),
    ):
        post(customer_api, "image", shared_media / "camera-with-gps.jpg")
    assert s3_storage.keys() == []
    assert temp_files(settings) == []


def test_a_racing_duplicate_upload_leaves_one_object(customer_api, s3_storage, shared_media, settings):
    """The second POST with the key misses the first's row when it looks it up, stores its object, hits the unique
    (owner, key) constraint: its object is deleted from the bucket and the first upload answered."""
    photo, key = shared_media / "camera-with-gps.jpg", "3b0f6f1e-5d1a-4c43-9a0e-2f7d1c9b8a11"
    with photo.open("rb") as source:
        first = customer_api.post("/api/uploads/image", {"file": source}, format="multipart", HTTP_IDEMPOTENCY_KEY=key)
    with photo.open("rb") as source, mock.patch("uploads.views.earlier_upload", return_value=None):
        again = customer_api.post("/api/uploads/image", {"file": source}, format="multipart", HTTP_IDEMPOTENCY_KEY=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert s3_storage.keys() == [Upload.objects.get().name]
    assert temp_files(settings) == []


def test_store_down_is_503_and_leaves_nothing(customer_api, s3_storage, shared_media, settings, monkeypatch):
    from botocore.exceptions import EndpointConnectionError

    client = objectstore.client(default_storage)
    monkeypatch.setattr(
        client, "put_object", mock.Mock(side_effect=EndpointConnectionError(endpoint_url="http://127.0.0.1:9"))
    )
    response = post(customer_api, "image", shared_media / "camera-with-gps.jpg")
    assert response.status_code == 503
    assert response.json() == {
        "detail": "The file store cannot be reached; retry later.",
        "success": False,
        "message": "The file store cannot be reached; retry later.",
        "code": "storage_unavailable",
    }
    assert Upload.objects.count() == 0
    assert temp_files(settings) == []


@pytest.fixture
def stored_video(customer, s3_storage, shared_media):
    """venue-tour.mp4 stored as the customer's public video (straight into the bucket: the upload path has its
    own tests above); returns the row and the bytes."""
    data = (shared_media / "venue-tour.mp4").read_bytes()
    name = "videos/0123456789abcdef0123456789abcdef.mp4"
    objectstore.save_file(default_storage, name, shared_media / "venue-tour.mp4", "video/mp4")
    upload = Upload.objects.create(
        kind="video",
        name=name,
        original_name="venue-tour.mp4",
        size=len(data),
        content_type="video/mp4",
        sha256=hashlib.sha256(data).hexdigest(),
        owner=customer,
    )
    return upload, data


def ranged_gets(monkeypatch) -> list[tuple[int, int]]:
    """Record the (first, last) of each ranged GET the app makes."""
    seen = []
    real = objectstore.open_range

    def spy(storage, name, first, last):
        seen.append((first, last))
        return real(storage, name, first, last)

    monkeypatch.setattr(objectstore, "open_range", spy)
    return seen


def test_download_streams_from_the_store_with_our_headers(api, stored_video, monkeypatch):
    upload, data = stored_video
    gets = ranged_gets(monkeypatch)
    response = api.get(f"/static/{upload.name}")
    assert response.status_code == 200
    assert response["ETag"] == f'"{upload.sha256}"'
    assert response["Content-Length"] == str(len(data))
    assert response["Content-Type"] == "video/mp4"
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Location" not in response
    assert body_of(response) == data
    assert gets == [(0, len(data) - 1)]


def test_single_range_asks_the_store_for_that_range_only(api, stored_video, monkeypatch):
    upload, data = stored_video
    gets = ranged_gets(monkeypatch)
    response = api.get(f"/static/{upload.name}", headers={"Range": "bytes=1000-1999"})
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    assert response["Content-Length"] == "1000"
    assert body_of(response) == data[1000:2000]
    assert gets == [(1000, 1999)]


def test_suffix_range_and_conditional_requests(api, stored_video, monkeypatch):
    upload, data = stored_video
    gets = ranged_gets(monkeypatch)
    response = api.get(f"/static/{upload.name}", headers={"Range": "bytes=-100"})
    assert response.status_code == 206
    assert body_of(response) == data[-100:]
    assert api.get(f"/static/{upload.name}", headers={"If-None-Match": upload.etag}).status_code == 304
    assert api.get(f"/static/{upload.name}", headers={"Range": f"bytes={len(data)}-"}).status_code == 416
    head = api.head(f"/static/{upload.name}")
    assert head.status_code == 200
    assert head["Content-Length"] == str(len(data))
    stale = api.get(f"/static/{upload.name}", headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert stale.status_code == 200
    assert body_of(stale) == data
    assert gets == [(len(data) - 100, len(data) - 1), (0, len(data) - 1)]  # 304, 416 and HEAD asked nothing


def test_multipart_byteranges_from_several_ranged_gets(api, stored_video, monkeypatch):
    upload, data = stored_video
    gets = ranged_gets(monkeypatch)
    response = api.get(f"/static/{upload.name}", headers={"Range": "bytes=0-9,5000-5099,-7"})
    assert response.status_code == 206
    body = body_of(response)
    assert len(body) == int(response["Content-Length"])
    message = email.message_from_bytes(f"Content-Type: {response['Content-Type']}\r\n\r\n".encode() + body)
    parts = [(part["Content-Range"], part.get_payload(decode=True)) for part in message.get_payload()]
    size = len(data)
    assert parts == [
        (f"bytes 0-9/{size}", data[:10]),
        (f"bytes 5000-5099/{size}", data[5000:5100]),
        (f"bytes {size - 7}-{size - 1}/{size}", data[-7:]),
    ]
    assert gets == [(0, 9), (5000, 5099), (size - 7, size - 1)]


def test_presigned_redirect_is_opt_in(api, stored_video, settings):
    upload, data = stored_video
    settings.STORAGE_DOWNLOAD = "presigned"
    response = api.get(f"/static/{upload.name}")
    assert response.status_code == 302
    assert response["Cache-Control"] == "private, no-store"
    import httpx

    fetched = httpx.get(response["Location"], headers={"Range": "bytes=0-9"})
    assert fetched.status_code == 206
    assert fetched.content == data[:10]


def test_delete_removes_row_and_object(customer_api, stored_video, s3_storage):
    upload, _ = stored_video
    assert customer_api.delete(f"/api/uploads/{upload.pk}").status_code == 204
    assert s3_storage.keys() == []
    assert customer_api.get(f"/static/{upload.name}").status_code == 404


def test_object_range_iterator_reads_in_chunks_and_closes(s3_storage, tmp_path):
    source = tmp_path / "data.bin"
    payload = bytes(range(256)) * 40
    source.write_bytes(payload)
    objectstore.save_file(default_storage, "documents/data.bin", source, "application/octet-stream")
    opened = []

    def opener(first, last):
        body = objectstore.open_range(default_storage, "documents/data.bin", first, last)
        opened.append(body)
        return body

    iterator = ObjectRangeIterator(opener, [b"<", (0, 2499), b">", (10000, 10239)], chunk_size=1000)

    async def consume():
        return [chunk async for chunk in iterator]

    chunks = asyncio.run(consume())
    assert [len(chunk) for chunk in chunks] == [1, 1000, 1000, 500, 1, 240]
    assert b"".join(chunks) == b"<" + payload[:2500] + b">" + payload[10000:10240]
    assert len(opened) == 2 and all(body._raw_stream.closed for body in opened)


def test_object_range_iterator_refuses_a_short_object(s3_storage, tmp_path):
    source = tmp_path / "short.bin"
    source.write_bytes(b"0123456789")
    objectstore.save_file(default_storage, "documents/short.bin", source, "application/octet-stream")
    iterator = ObjectRangeIterator(
        lambda first, last: objectstore.open_range(default_storage, "documents/short.bin", first, 9), [(0, 19)], 64
    )

    async def consume():
        return [chunk async for chunk in iterator]

    with pytest.raises(OSError, match="ended 10 bytes before byte 19"):
        asyncio.run(consume())


def test_abort_incomplete_uploads(s3_storage):
    client = s3_storage.client
    key = f"{s3_storage.location}/videos/killed.mp4"
    client.create_multipart_upload(Bucket=s3_storage.bucket, Key=key)
    assert (key in [k for k, _, _ in objectstore.incomplete_uploads(default_storage)]) is True
    # (moto dates every multipart upload 2010-11-10, so the age cut-off itself is not tested here.)
    assert key in objectstore.abort_incomplete_uploads(default_storage, older_than=0)
    assert key not in [k for k, _, _ in objectstore.incomplete_uploads(default_storage)]


def test_cleanup_storage_removes_what_a_killed_process_left(customer_api, stored_video, s3_storage, tmp_path):
    """An object without its row and an open multipart upload (a process killed mid-upload) go; the stored upload
    with its row stays."""
    from io import StringIO

    from django.core.management import call_command

    upload, _ = stored_video
    source = tmp_path / "orphan.mp4"
    source.write_bytes(b"\0" * 100)
    objectstore.save_file(default_storage, "videos/orphan.mp4", source, "video/mp4")
    key = f"{s3_storage.location}/videos/killed.mp4"
    s3_storage.client.create_multipart_upload(Bucket=s3_storage.bucket, Key=key)
    out = StringIO()
    call_command("cleanup_storage", "--older-than", "0", "--dry-run", stdout=out)
    assert s3_storage.keys() == sorted([upload.name, "videos/orphan.mp4"])
    call_command("cleanup_storage", "--older-than", "0", stdout=(out := StringIO()))
    assert s3_storage.keys() == [upload.name]
    assert "removed videos/orphan.mp4 (no row)" in out.getvalue()
    assert f"aborted multipart upload {key}" in out.getvalue()
    assert key not in [k for k, _, _ in objectstore.incomplete_uploads(default_storage)]
    call_command("cleanup_storage", "--older-than", "3600", stdout=(out := StringIO()))
    assert s3_storage.keys() == [upload.name]


def test_object_range_iterator_close_does_not_wait_for_a_read_in_progress():
    """close() while a read waits on the store returns at once; that read closes the body when it returns."""
    import threading
    import time

    started, release = threading.Event(), threading.Event()

    class SlowBody:
        closed = False

        def read(self, size):
            started.set()
            release.wait(5)
            return b"x" * size

        def close(self):
            self.closed = True

    body = SlowBody()
    iterator = ObjectRangeIterator(lambda first, last: body, [(0, 99)], chunk_size=10)
    reader = threading.Thread(target=iterator._read, args=(0, 99))
    reader.start()
    assert started.wait(5)
    began = time.monotonic()
    iterator.close()
    assert time.monotonic() - began < 0.5
    assert body.closed is False
    release.set()
    reader.join(5)
    assert body.closed is True
