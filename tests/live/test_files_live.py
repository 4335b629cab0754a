"""Uploads and downloads through a real uvicorn worker, on the real sample media."""

import hashlib
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from .conftest import PeakRSS, raw_request

pytestmark = pytest.mark.live

MiB = 1024 * 1024


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


def upload(client: httpx.Client, kind: str, path: Path, filename: str | None = None) -> httpx.Response:
    with path.open("rb") as source:
        return client.post(f"/api/uploads/{kind}", files={"file": (filename or path.name, source)})


def test_photo_upload_then_download_is_the_stored_bytes_without_gps(live_server_uvicorn, shared_media):
    photo = shared_media / "phone-photo.jpg"
    with live_server_uvicorn.client() as client:
        response = upload(client, "image", photo)
        assert response.status_code == 201, response.text
        body = response.json()
        stored = live_server_uvicorn.media_root / body["path"]
        assert body["size"] == stored.stat().st_size < photo.stat().st_size  # GPS and maker notes removed
        assert body["content_type"] == "image/jpeg"
        assert body["name"] == "phone-photo.jpg"
        assert body["etag"] == f'"{sha256_of(stored)}"'
        assert body["url"] == f"/static/{body['path']}"

        download = httpx.get(live_server_uvicorn.url + body["url"], headers={"Accept": "image/png"})
        assert download.status_code == 200  # Accept is ignored: the file, never 406
        assert hashlib.sha256(download.content).hexdigest() == sha256_of(stored)
        assert download.headers["accept-ranges"] == "bytes"
        assert download.headers["etag"] == body["etag"]
        assert download.headers["content-type"] == "image/jpeg"
        assert download.headers["content-disposition"] == 'inline; filename="phone-photo.jpg"'
        assert download.headers["content-security-policy"] == "default-src 'none'; sandbox"
        assert download.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_corrupted_photo_is_400_and_leaves_nothing(live_server_uvicorn, shared_media):
    before = set(live_server_uvicorn.media_root.rglob("*"))
    with live_server_uvicorn.client() as client:
        response = upload(client, "image", shared_media / "corrupted.jpg")
    assert response.status_code == 400
    assert response.json()["code"] == "corrupt_content"
    assert set(live_server_uvicorn.media_root.rglob("*")) == before
    assert list(live_server_uvicorn.temp_dir.iterdir()) == []


def test_video_range_requests_and_validators(live_server_uvicorn, shared_media):
    video = shared_media / "venue-tour.mp4"
    size = video.stat().st_size
    with live_server_uvicorn.client() as client:
        body = upload(client, "video", video).json()
    url = live_server_uvicorn.url + f"/api/uploads/{body['path']}"

    head = httpx.head(url, headers={"Range": "bytes=0-1048575"})
    assert head.status_code == 200  # Range applies to GET only (RFC 9110 §14.2)
    ranged = httpx.get(url, headers={"Range": "bytes=0-1048575"})
    assert ranged.status_code == 206
    assert ranged.headers["content-range"] == f"bytes 0-1048575/{size}"
    assert ranged.headers["content-length"] == str(MiB)
    with video.open("rb") as source:
        assert ranged.content == source.read(MiB)
    tail = httpx.get(url, headers={"Range": "bytes=-100"})
    assert tail.status_code == 206
    with video.open("rb") as source:
        source.seek(size - 100)
        assert tail.content == source.read(100)

    unsatisfiable = httpx.get(url, headers={"Range": f"bytes={size}-"})
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["content-range"] == f"bytes */{size}"

    not_modified = httpx.get(url, headers={"If-None-Match": body["etag"]})
    assert not_modified.status_code == 304
    assert not_modified.headers["etag"] == body["etag"]
    assert not_modified.content == b""


def test_document_is_private_to_its_owner(live_server_uvicorn, shared_media):
    with live_server_uvicorn.client() as client:
        body = upload(client, "document", shared_media / "document.pdf").json()
        assert body["is_public"] is False
        assert client.get(body["url"]).status_code == 200
    assert httpx.get(live_server_uvicorn.url + body["url"]).status_code == 404
    with live_server_uvicorn.client("admin", "lebrq-admin") as staff:
        assert staff.get(body["url"]).status_code == 200


def test_wrong_type_is_415_and_leaves_nothing(live_server_uvicorn, shared_media):
    before = set(live_server_uvicorn.media_root.rglob("*"))
    with live_server_uvicorn.client() as client:
        response = upload(client, "image", shared_media / "document.pdf", filename="looks-like.jpg")
    assert response.status_code == 415
    assert response.json()["message"].startswith("The file's content is application/pdf")
    assert set(live_server_uvicorn.media_root.rglob("*")) == before
    assert list(live_server_uvicorn.temp_dir.iterdir()) == []


def test_oversized_upload_is_413_before_the_body_is_sent(live_server_uvicorn):
    token = live_server_uvicorn.token()
    answer = raw_request(
        live_server_uvicorn.url,
        "POST /api/uploads/image HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {16 * MiB}\r\nExpect: 100-continue\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in answer
    assert b'"code": "payload_too_large"' in answer


def test_chunked_upload_is_411(live_server_uvicorn):
    token = live_server_uvicorn.token()  # without one it is a 401 first (lebrq.http.early)
    answer = raw_request(
        live_server_uvicorn.url,
        f"POST /api/uploads/image HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 411 ")


def test_invoice_pdf_streams_and_its_temp_file_is_removed(live_server_uvicorn):
    from io import BytesIO

    from pypdf import PdfReader

    with live_server_uvicorn.client() as client:
        bookings = client.get("/api/bookings", params={"page_size": 100}).json()["items"]
        demo = next(b for b in bookings if b["booking_reference"] == "BK-00000DE001")
        response = client.get(f"/api/bookings/{demo['id']}/invoice")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == 'attachment; filename="invoice-BK-00000DE001.pdf"'
    assert response.content.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(BytesIO(response.content)).pages)
    assert "BK-00000DE001" in text
    assert "PROFORMA INVOICE" in text
    assert list(live_server_uvicorn.temp_dir.glob("*.pdf")) == []


@pytest.fixture(scope="module")
def big_video(tmp_path_factory, shared_media) -> Path:
    """``venue-tour.mp4`` concatenated 100 times (about 210 MB): still an MP4 by its first bytes."""
    path = tmp_path_factory.mktemp("big") / "venue-tour-x100.mp4"
    chunk = (shared_media / "venue-tour.mp4").read_bytes()
    with path.open("wb") as target:
        for _ in range(100):
            target.write(chunk)
    return path


def test_large_upload_and_download_keep_worker_memory_flat(live_server_uvicorn, big_video):
    size = big_video.stat().st_size
    with live_server_uvicorn.client() as client:
        client.get("/api/bookings")  # warm up imports and the DB connection before measuring
        with PeakRSS(live_server_uvicorn.process) as upload_rss:
            response = upload(client, "video", big_video)
        assert response.status_code == 201, response.text
        url = response.json()["url"]
        digest = hashlib.sha256()
        with PeakRSS(live_server_uvicorn.process) as download_rss, client.stream("GET", url) as stream:
            for chunk in stream.iter_bytes():
                digest.update(chunk)
    assert digest.hexdigest() == sha256_of(big_video)
    print(
        f"\nupload {size / MiB:.0f} MiB: worker RSS +{upload_rss.growth / MiB:.1f} MiB; "
        f"download: +{download_rss.growth / MiB:.1f} MiB"
    )
    # A body or file held in memory would add ~200 MiB; chunked streaming adds a few MiB at most.
    assert upload_rss.growth < 24 * MiB
    assert download_rss.growth < 24 * MiB


def test_two_uploads_at_once_with_one_idempotency_key_store_one(live_server_uvicorn, shared_media):
    """Sent together, both may miss the other's row when they look the key up: the unique (owner, key) constraint
    keeps one row, the other request removes the bytes it stored and answers that row; a third, later, is answered
    from the row. No temporary file is left."""
    photo = (shared_media / "camera-with-gps.jpg").read_bytes()
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    before = {path for path in live_server_uvicorn.media_root.rglob("*") if path.is_file()}
    start = threading.Barrier(2)

    def send(_) -> httpx.Response:
        with live_server_uvicorn.client() as client:
            start.wait(10)
            return client.post("/api/uploads/image", files={"file": ("photo.jpg", photo)}, headers=headers)

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(send, range(2))
    with live_server_uvicorn.client() as client:  # later: answered from the row, the body never parsed
        third = client.post("/api/uploads/image", files={"file": ("photo.jpg", photo)}, headers=headers)
    assert [answer.status_code for answer in (first, second, third)] == [201, 201, 201], (first.text, second.text)
    assert first.json() == second.json() == third.json()
    added = {path for path in live_server_uvicorn.media_root.rglob("*") if path.is_file()} - before
    assert added == {live_server_uvicorn.media_root / first.json()["path"]}
    assert list(live_server_uvicorn.temp_dir.iterdir()) == []
