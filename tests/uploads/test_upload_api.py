"""Uploads through Django's test client: success, every refusal, and nothing left behind."""

import hashlib
from pathlib import Path
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError

from uploads.models import Upload

pytestmark = pytest.mark.django_db


def leftovers(settings) -> list[Path]:
    return [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()] + list(
        Path(settings.FILE_UPLOAD_TEMP_DIR).iterdir()
    )


def post(client, kind, path: Path, name=None):
    """POST ``path`` as the multipart field ``file``; ``name`` overrides the filename the client sends."""
    with path.open("rb") as source:
        payload = SimpleUploadedFile(name, source.read()) if name else source
        return client.post(f"/api/uploads/{kind}", {"file": payload}, format="multipart")


def test_image_upload_records_size_type_and_checksum_of_stored_bytes(customer_api, customer, shared_media, settings):
    """camera-with-gps.jpg loses its GPS block and maker notes: size, SHA-256 and ETag describe the stored bytes."""
    photo = shared_media / "camera-with-gps.jpg"
    response = post(customer_api, "image", photo)
    assert response.status_code == 201
    upload = Upload.objects.get()
    stored = (Path(settings.MEDIA_ROOT) / upload.name).read_bytes()
    assert len(stored) == 154128 < photo.stat().st_size  # 7585 bytes of GPS and maker notes removed
    assert upload.sha256 == hashlib.sha256(stored).hexdigest()
    assert upload.size == len(stored)
    assert upload.owner == customer
    assert upload.is_public is True
    assert response.json() == {
        "id": upload.id,
        "url": f"/static/{upload.name}",
        "path": upload.name,
        "name": "camera-with-gps.jpg",
        "size": len(stored),
        "content_type": "image/jpeg",
        "etag": f'"{upload.sha256}"',
        "kind": "image",
        "is_public": True,
    }
    assert list(Path(settings.FILE_UPLOAD_TEMP_DIR).iterdir()) == []


def test_an_unknown_kind_is_404_whatever_the_method_and_nothing_is_stored(customer_api, shared_media, settings):
    """Only the three kinds have an upload route; ``/api/uploads/<one segment>`` is no stored file either."""
    answers = {
        "POST audio": post(customer_api, "audio", shared_media / "camera-with-gps.jpg"),
        "POST xvideox": post(customer_api, "xvideox", shared_media / "camera-with-gps.jpg"),
        "GET audio": customer_api.get("/api/uploads/audio"),
        "DELETE abc": customer_api.delete("/api/uploads/abc"),
        "DELETE -1": customer_api.delete("/api/uploads/-1"),
    }
    assert {name: (r.status_code, r.json()["code"]) for name, r in answers.items()} == dict.fromkeys(
        answers, (404, "not_found")
    )
    assert (Upload.objects.count(), leftovers(settings)) == (0, [])
    assert customer_api.get("/api/uploads/image").status_code == 405  # the upload route itself: POST only


def test_missing_file_field_is_400(customer_api, settings):
    response = customer_api.post("/api/uploads/image", {"other": "x"}, format="multipart")
    assert response.status_code == 400
    assert response.json()["detail"] == {"file": ["No file was submitted in the multipart field 'file'."]}


def test_upload_requires_a_token(api, shared_media, settings):
    assert post(api, "image", shared_media / "camera-with-gps.jpg").status_code == 401
    assert leftovers(settings) == []


def test_two_files_is_400_not_500(customer_api, shared_media, settings):
    photo = shared_media / "camera-with-gps.jpg"
    with photo.open("rb") as a, photo.open("rb") as b:
        response = customer_api.post("/api/uploads/image", {"file": a, "extra": b}, format="multipart")
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert Upload.objects.count() == 0
    assert leftovers(settings) == []


def test_over_the_kind_limit_is_413(customer_api, shared_media, settings):
    settings.UPLOAD_MAX_BYTES = {**settings.UPLOAD_MAX_BYTES, "image": 1000}
    response = post(customer_api, "image", shared_media / "camera-with-gps.jpg")
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert leftovers(settings) == []


def test_wrong_type_is_415(customer_api, shared_media, settings):
    response = post(customer_api, "video", shared_media / "phone-photo.jpg")
    assert response.status_code == 415
    assert "a video upload accepts" in response.json()["message"]
    assert Upload.objects.count() == 0
    assert leftovers(settings) == []


def test_database_error_leaves_no_file(customer_api, shared_media, settings):
    with (
        mock.patch.object(Upload.objects, "create", side_effect=DatabaseError("disk I/O error")),
        pytest.raises(DatabaseError),
    ):
        post(customer_api, "image", shared_media / "camera-with-gps.jpg")
    assert leftovers(settings) == []


def test_full_disk_is_507_and_leaves_nothing(customer_api, shared_media, settings):
    import errno

    from django.core.files.storage import FileSystemStorage

    with mock.patch.object(FileSystemStorage, "_save", side_effect=OSError(errno.ENOSPC, "No space left")):
        response = post(customer_api, "image", shared_media / "camera-with-gps.jpg")
    assert response.status_code == 507
    assert response.json()["code"] == "insufficient_storage"
    assert Upload.objects.count() == 0
    assert leftovers(settings) == []


def test_hostile_filename_is_sanitised(customer_api, shared_media):
    response = post(customer_api, "image", shared_media / "camera-with-gps.jpg", name="../../x\u202e.jpg")
    assert response.status_code == 201
    assert response.json()["name"] == "x.jpg"
    assert response.json()["path"].startswith("images/")
