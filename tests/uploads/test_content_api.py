"""The upload API with real and crafted files: metadata removed, bad content refused with nothing left, download
names and headers, Accept ignored, the caller's own uploads listed and deleted."""

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils.http import http_date

from tests.uploads.test_verify import png_bomb
from uploads.models import Upload

pytestmark = pytest.mark.django_db

CSP = "default-src 'none'; sandbox"


def leftovers(settings) -> list[Path]:
    return [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()] + list(
        Path(settings.FILE_UPLOAD_TEMP_DIR).iterdir()
    )


def post_bytes(client, kind: str, name: str, data: bytes):
    return client.post(f"/api/uploads/{kind}", {"file": SimpleUploadedFile(name, data)}, format="multipart")


def post_file(client, kind: str, path: Path, name: str | None = None):
    return post_bytes(client, kind, name or path.name, path.read_bytes())


def gps_tags(path: Path) -> dict:
    output = subprocess.run(
        ["exiftool", "-json", "-G1", "-gps:all", "-GPSCoordinates", "-makernotes:all", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    record = json.loads(output)[0]
    record.pop("SourceFile")
    return record


def stored_path(settings, body: dict) -> Path:
    return Path(settings.MEDIA_ROOT) / body["path"]


def test_anonymous_download_of_a_camera_photo_has_no_gps(customer_api, api, shared_media, settings):
    body = post_file(customer_api, "image", shared_media / "camera-with-gps.jpg").json()
    assert gps_tags(shared_media / "camera-with-gps.jpg")  # the original has them
    assert gps_tags(stored_path(settings, body)) == {}
    response = api.get(body["url"])
    assert response.status_code == 200
    stored = stored_path(settings, body).read_bytes()
    assert response["ETag"] == f'"{hashlib.sha256(stored).hexdigest()}"'
    assert response["Content-Length"] == str(len(stored)) == str(body["size"])


def test_heic_is_stored_without_maker_notes_with_its_checksum(customer_api, shared_media, settings):
    response = post_file(customer_api, "image", shared_media / "iphone-photo.heic")
    assert response.status_code == 201, response.content
    body = response.json()
    stored = stored_path(settings, body)
    assert body["content_type"] == "image/heic"
    assert body["size"] == stored.stat().st_size < (shared_media / "iphone-photo.heic").stat().st_size
    assert body["etag"] == f'"{hashlib.sha256(stored.read_bytes()).hexdigest()}"'
    assert gps_tags(stored) == {}


def test_corrupted_jpeg_is_400_naming_the_reason_and_leaves_nothing(customer_api, shared_media, settings):
    response = post_file(customer_api, "image", shared_media / "corrupted.jpg")
    assert response.status_code == 400
    assert response.json() == {
        "detail": {
            "file": [
                "The image does not decode completely: VipsJpeg: Corrupt JPEG data: premature end of data segment."
            ]
        },
        "success": False,
        "message": "file: The image does not decode completely: VipsJpeg: Corrupt JPEG data: premature end of data "
        "segment.",
        "code": "corrupt_content",
    }
    assert Upload.objects.count() == 0
    assert leftovers(settings) == []


def test_jpeg_head_with_html_is_400(customer_api, shared_media, settings):
    polyglot = (shared_media / "camera-with-gps.jpg").read_bytes()[:64] + b"<html><script>alert(1)</script>" * 50
    response = post_bytes(customer_api, "image", "x.jpg", polyglot)
    assert (response.status_code, response.json()["code"]) == (400, "corrupt_content")
    assert leftovers(settings) == []


def test_html_after_a_whole_jpeg_is_not_stored(customer_api, shared_media, settings):
    photo = (shared_media / "phone-photo.jpg").read_bytes()
    assert photo.endswith(b"\xff\xd9")  # the JPEG's end marker (EOI), and nothing after it
    response = post_bytes(customer_api, "image", "x.jpg", photo + b"<html><script>alert(1)</script></html>")
    assert response.status_code == 201
    stored = stored_path(settings, response.json()).read_bytes()
    assert stored.endswith(b"\xff\xd9")
    assert b"<script>" not in stored
    assert response.json()["size"] == len(stored)


def test_png_bomb_is_413_and_leaves_nothing(customer_api, settings, tmp_path):
    bomb = png_bomb(tmp_path / "bomb.png")
    response = post_file(customer_api, "image", bomb)
    assert response.status_code == 413
    assert response.json()["code"] == "too_many_pixels"
    assert response.json()["message"] == (
        "The image has 50000 × 50000 = 2500000000 pixels; at most 50000000 are accepted."
    )
    assert Upload.objects.count() == 0
    assert leftovers(settings) == []


def test_truncated_video_is_400_and_leaves_nothing(customer_api, shared_media, settings):
    data = (shared_media / "venue-tour.mp4").read_bytes()
    response = post_bytes(customer_api, "video", "tour.mp4", data[:-4096])
    assert (response.status_code, response.json()["code"]) == (400, "corrupt_content")
    assert leftovers(settings) == []


def test_damaged_pdf_is_400(customer_api, shared_media, settings):
    data = (shared_media / "document.pdf").read_bytes()
    response = post_bytes(customer_api, "document", "doc.pdf", data[: len(data) // 2])
    assert (response.status_code, response.json()["code"]) == (400, "corrupt_content")
    assert leftovers(settings) == []


def test_avi_is_no_longer_accepted(customer_api, settings):
    avi = b"RIFF" + (1000).to_bytes(4, "little") + b"AVI LIST" + b"\0" * 1000
    response = post_bytes(customer_api, "video", "clip.avi", avi)
    assert response.status_code == 415
    assert leftovers(settings) == []


@pytest.mark.parametrize(
    ("client_name", "download_name", "disposition"),
    [
        ("a.html", "a.jpg", 'inline; filename="a.jpg"'),
        ("photo.JPEG", "photo.JPEG", 'inline; filename="photo.JPEG"'),
        ("．．／passwd", "passwd.jpg", 'inline; filename="passwd.jpg"'),
        ("ｒｅｐｏｒｔ．．．html", "report.jpg", 'inline; filename="report.jpg"'),
        (
            "Mañana．．／x.jpg",
            "x.jpg",
            'inline; filename="x.jpg"',
        ),
        (
            "café．．plan.html",
            "café.plan.jpg",
            "inline; filename=\"cafe.plan.jpg\"; filename*=utf-8''caf%C3%A9.plan.jpg",
        ),
    ],
)
def test_download_name_takes_the_detected_extension(
    customer_api, api, scrubbed_photo, client_name, download_name, disposition
):
    body = post_bytes(customer_api, "image", client_name, scrubbed_photo.read_bytes()).json()
    assert body["name"] == download_name
    response = api.get(body["url"])
    assert response["Content-Disposition"] == disposition
    fallback = response["Content-Disposition"].split('filename="')[1].split('"')[0]
    assert ".." not in fallback and "/" not in fallback and "\\" not in fallback


def test_public_image_headers(customer_api, api, scrubbed_photo, settings):
    body = post_bytes(customer_api, "image", "hall.jpg", scrubbed_photo.read_bytes()).json()
    response = api.get(body["url"])
    assert response.status_code == 200
    mtime = stored_path(settings, body).stat().st_mtime
    assert response["Last-Modified"] == http_date(mtime - 2)  # never after Date (streaming.settled_mtime)
    assert api.get(body["url"], headers={"If-Modified-Since": response["Last-Modified"]}).status_code == 304
    assert response["Content-Security-Policy"] == CSP
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == 'inline; filename="hall.jpg"'
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response["Vary"] == "origin"  # CORS only: a public file does not vary by Authorization


def test_private_document_is_an_attachment_with_private_caching(customer_api, shared_media):
    body = post_file(customer_api, "document", shared_media / "document.pdf", name="plan.html").json()
    assert body["name"] == "plan.pdf"
    response = customer_api.get(body["url"])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="plan.pdf"'
    assert response["Content-Security-Policy"] == CSP
    assert response["Cache-Control"] == "private, no-cache"
    assert response["Vary"] == "Authorization, origin"


@pytest.mark.parametrize("accept", ["image/png", "application/json", "text/html;q=0.1", "application/pdf"])
def test_file_download_ignores_accept(customer_api, api, scrubbed_photo, accept):
    body = post_bytes(customer_api, "image", "hall.jpg", scrubbed_photo.read_bytes()).json()
    response = api.get(body["url"], headers={"Accept": accept})
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    missing = api.get("/static/images/nothing.jpg", headers={"Accept": accept})
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


def test_authenticated_json_is_private_no_store_and_varies_on_authorization(customer_api, api):
    mine = customer_api.get("/api/bookings")
    assert mine.status_code == 200
    assert mine["Cache-Control"] == "private, no-store"
    assert mine["Vary"] == "Authorization, origin"
    uploads = customer_api.get("/api/uploads")
    assert (uploads["Cache-Control"], uploads["Vary"]) == ("private, no-store", "Authorization, origin")
    anonymous = api.get("/api/venues")
    assert "Cache-Control" not in anonymous


def test_own_uploads_are_listed_paginated_newest_first(customer_api, other_api, scrubbed_photo):
    data = scrubbed_photo.read_bytes()
    ids = [post_bytes(customer_api, "image", f"p{n}.jpg", data).json()["id"] for n in range(3)]
    post_bytes(other_api, "image", "theirs.jpg", data)
    first = customer_api.get("/api/uploads", {"page_size": 2}).json()
    assert [item["id"] for item in first["items"]] == [ids[2], ids[1]]
    assert first["pagination"] == {
        "page": 1,
        "page_size": 2,
        "total": 3,
        "total_pages": 2,
        "has_next": True,
        "has_prev": False,
    }
    second = customer_api.get("/api/uploads", {"page": 2, "page_size": 2}).json()
    assert [item["id"] for item in second["items"]] == [ids[0]]


def test_listing_needs_a_token(api):
    assert api.get("/api/uploads").status_code == 401


def test_delete_own_upload_removes_row_bytes_and_url(customer_api, api, scrubbed_photo, settings):
    body = post_bytes(customer_api, "image", "p.jpg", scrubbed_photo.read_bytes()).json()
    stored = stored_path(settings, body)
    assert stored.exists()
    assert customer_api.get(f"/api/uploads/{body['id']}").json() == body
    response = customer_api.delete(f"/api/uploads/{body['id']}")
    assert response.status_code == 204
    assert not stored.exists()
    assert Upload.objects.count() == 0
    assert api.get(body["url"]).status_code == 404
    assert customer_api.delete(f"/api/uploads/{body['id']}").status_code == 404


def test_another_customers_upload_cannot_be_deleted_staff_can(customer_api, other_api, staff_api, scrubbed_photo):
    body = post_bytes(customer_api, "image", "p.jpg", scrubbed_photo.read_bytes()).json()
    assert other_api.delete(f"/api/uploads/{body['id']}").status_code == 404
    assert Upload.objects.count() == 1
    assert staff_api.delete(f"/api/uploads/{body['id']}").status_code == 204
    assert Upload.objects.count() == 0


def test_staff_delete_in_the_admin_removes_the_bytes(customer_api, scrubbed_photo, settings, django_user_model):
    bodies = [post_bytes(customer_api, "image", f"p{n}.jpg", scrubbed_photo.read_bytes()).json() for n in range(3)]
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(admin)
    response = client.post(f"/admin/uploads/upload/{bodies[0]['id']}/delete/", {"post": "yes"})
    assert response.status_code == 302
    response = client.post(
        "/admin/uploads/upload/",
        {"action": "delete_selected", "_selected_action": [bodies[1]["id"], bodies[2]["id"]], "post": "yes"},
    )
    assert response.status_code == 302
    assert Upload.objects.count() == 0
    assert [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()] == []
