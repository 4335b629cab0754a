"""The upload endpoints' multipart parser: hostile filenames, too many parts or files — 201 or 400, never 500,
and nothing outside MEDIA_ROOT."""

from pathlib import Path

import pytest

from uploads.models import Upload

from .test_handlers import BOUNDARY, multipart, post_raw

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="module")
def photo(scrubbed_photo) -> bytes:
    """A photo without private metadata: the upload stores it unchanged."""
    return scrubbed_photo.read_bytes()


def media_files(settings) -> list[Path]:
    return [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    ("filename", "stored_name"),
    [
        # Every stored download name ends in the detected type's extension (a JPEG: ".jpg").
        (b"..", "file.jpg"),  # Django's parser would skip the part and read its bytes as headers (400)
        (b"../..", "file.jpg"),
        (b"a/..", "file.jpg"),
        (b"/", "file.jpg"),
        (b".", "file.jpg"),
        (b"../../etc/passwd", "passwd.jpg"),
        (b"..\\..\\windows\\x.jpg", "x.jpg"),
        (b"/etc/cron.d/x.jpg", "x.jpg"),
        (b"a\x00b.jpg", "ab.jpg"),
        (b"\x01\x02\x1f\x7fname.jpg", "name.jpg"),
        (b"tab\there.jpg", "tabhere.jpg"),
        ("x\u202egpj.exe".encode(), "xgpj.jpg"),  # right-to-left override; .exe is not a JPEG's extension
        ("..\u2215..\u2215x.jpg".encode(), "∕.∕x.jpg"),  # DIVISION SLASH is no separator; dot runs collapse
        ("．．／．．／passwd".encode(), "passwd.jpg"),  # fullwidth: NFKC makes them "../../" first
        ("a．．b.jpg".encode(), "a.b.jpg"),
        (b"." * 300, "file.jpg"),
    ],
)
def test_hostile_names_are_stored_sanitised_inside_media_root(customer_api, photo, settings, filename, stored_name):
    response = post_raw(customer_api, multipart(filename, photo))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == stored_name
    assert body["path"].startswith("images/")
    media_root = Path(settings.MEDIA_ROOT).resolve()
    assert [p.resolve().parent for p in media_files(settings)] == [media_root / "images"]
    assert Upload.objects.get().original_name == stored_name


def test_empty_filename_is_no_file(customer_api, photo, settings):
    """A form sent with no file chosen has filename="" : Django skips the part, the API says no file."""
    response = post_raw(customer_api, multipart(b"", photo))
    assert response.status_code == 400
    assert response.json()["message"] == "file: No file was submitted in the multipart field 'file'."
    assert media_files(settings) == []
    assert list(Path(settings.FILE_UPLOAD_TEMP_DIR).iterdir()) == []


def part(name: bytes, value: bytes, filename: bytes | None = None) -> bytes:
    disposition = b'form-data; name="' + name + b'"' + (b'; filename="' + filename + b'"' if filename else b"")
    return b"--" + BOUNDARY + b"\r\nContent-Disposition: " + disposition + b"\r\n\r\n" + value + b"\r\n"


def test_too_many_files_is_400_and_leaves_nothing(customer_api, photo, settings):
    assert settings.DATA_UPLOAD_MAX_NUMBER_FILES == 1
    body = part(b"file", photo, b"a.jpg") + part(b"file", photo, b"b.jpg") + b"--" + BOUNDARY + b"--\r\n"
    response = post_raw(customer_api, body)
    assert response.status_code == 400
    detail = "An upload carries one file only."
    assert response.json() == {"detail": detail, "success": False, "message": detail, "code": "too_many_files"}
    assert Upload.objects.count() == 0
    assert media_files(settings) == []
    assert list(Path(settings.FILE_UPLOAD_TEMP_DIR).iterdir()) == []


def test_too_many_fields_is_400_and_leaves_nothing(customer_api, photo, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    fields = b"".join(part(f"f{i}".encode(), b"x") for i in range(10))
    body = part(b"file", photo, b"a.jpg") + fields + b"--" + BOUNDARY + b"--\r\n"
    response = post_raw(customer_api, body)
    assert response.status_code == 400
    detail = "A request may carry at most 5 fields."
    assert response.json() == {"detail": detail, "success": False, "message": detail, "code": "too_many_fields"}
    assert Upload.objects.count() == 0
    assert media_files(settings) == []
    assert list(Path(settings.FILE_UPLOAD_TEMP_DIR).iterdir()) == []


def test_garbage_body_is_400(customer_api, settings):
    response = post_raw(customer_api, b"\x00" * 5000)
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert media_files(settings) == []
