"""The upload handler, through the upload API with hand-made multipart bodies: streaming checksum, bounded
temporary names, truncated bodies refused, a full disk while streaming — and nothing left behind."""

import errno
import hashlib
from pathlib import Path
from unittest import mock

import pytest
from django.core.files.uploadedfile import TemporaryUploadedFile

from uploads.models import Upload

pytestmark = pytest.mark.django_db

BOUNDARY = b"b0undary-XyZ"
CLOSING = b"\r\n--" + BOUNDARY + b"--\r\n"


def multipart(filename: bytes, data: bytes, field: bytes = b"file") -> bytes:
    """One file part, byte for byte: a name is sent exactly as given (NUL, separators, any length)."""
    return (
        b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="' + field + b'"; filename="' + filename
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\n' + data + CLOSING
    )  # fmt: skip


def post_raw(client, body: bytes, kind: str = "image"):
    content_type = "multipart/form-data; boundary=" + BOUNDARY.decode()
    return client.generic("POST", f"/api/uploads/{kind}", body, content_type=content_type)


def leftovers(settings) -> list[Path]:
    return [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()] + list(
        Path(settings.FILE_UPLOAD_TEMP_DIR).iterdir()
    )


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """The `customer` fixture hashes a password: PBKDF2 takes a second, MD5 nothing (test users only)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="module")
def photo(scrubbed_photo) -> bytes:
    """A photo without private metadata: the upload stores it unchanged."""
    return scrubbed_photo.read_bytes()


@pytest.mark.parametrize(
    ("filename", "stored_name"),
    [
        # The download name ends in the detected type's extension (".jpg") and holds at most 255 UTF-8 bytes.
        (b"x." + b"a" * 300, "a" * 251 + ".jpg"),  # a 301-byte extension (500, ENAMETOOLONG, before)
        (b"x." + "é".encode() * 150, "x.jpg"),  # 300 bytes of extension, 2 bytes a character: not a JPEG's
        ("é".encode() * 150 + b".jpg", "é" * 123 + ".jpg"),  # 300-byte stem: cut by bytes, extension kept
        (b"a" * 300 + b".jpg", "a" * 247 + ".jpg"),
        (b"photo.jpg", "photo.jpg"),
    ],
)
def test_long_names_are_stored_truncated_by_bytes(customer_api, photo, settings, filename, stored_name):
    response = post_raw(customer_api, multipart(filename, photo))
    assert response.status_code == 201, response.content
    assert response.json()["name"] == stored_name
    assert len(stored_name.encode()) <= 255
    upload = Upload.objects.get()
    assert upload.original_name == stored_name
    assert upload.sha256 == hashlib.sha256(photo).hexdigest()
    assert (Path(settings.MEDIA_ROOT) / upload.name).read_bytes() == photo
    assert list(Path(settings.FILE_UPLOAD_TEMP_DIR).iterdir()) == []


@pytest.mark.parametrize(
    ("filename", "temp_suffix"),
    [(b"tour.jpg", ".upload.jpg"), (b"tour.JPEG", ".upload.JPEG"), (b"tour", ".upload"), (b"x.j p g", ".upload")],
)
def test_temporary_file_keeps_only_a_short_plain_extension(customer_api, photo, filename, temp_suffix):
    seen = []
    original_init = TemporaryUploadedFile.__init__

    def spy(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        seen.append(self.temporary_file_path())

    with mock.patch.object(TemporaryUploadedFile, "__init__", spy):
        assert post_raw(customer_api, multipart(filename, photo)).status_code == 201
    assert len(seen) == 1
    assert Path(seen[0]).name.endswith(temp_suffix)
    assert len(Path(seen[0]).name) == len("tmp12345678") + len(temp_suffix)


@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(len(CLOSING), id="no closing boundary"),
        pytest.param(len(CLOSING) - 3, id="closing boundary cut inside the boundary"),
        pytest.param(len(b"--\r\n"), id="closing delimiter without its final dashes"),
        pytest.param(len(CLOSING) + 70_000, id="body cut in the middle of the file"),
    ],
)
def test_body_ending_before_the_closing_boundary_is_400_and_leaves_nothing(customer_api, photo, settings, cut):
    body = multipart(b"photo.jpg", photo)[:-cut]
    response = post_raw(customer_api, body)
    assert response.status_code == 400
    assert response.json() == {
        "detail": "The request body ended before the multipart boundary that closes the file; nothing was stored.",
        "success": False,
        "message": "The request body ended before the multipart boundary that closes the file; nothing was stored.",
        "code": "incomplete_upload",
    }
    assert Upload.objects.count() == 0
    assert leftovers(settings) == []


def test_close_delimiter_without_the_final_crlf_is_a_complete_body(customer_api, photo):
    """The close-delimiter is "--boundary--" (RFC 2046 §5.1.1); the CRLF after it is optional."""
    body = multipart(b"photo.jpg", photo).removesuffix(b"\r\n")
    response = post_raw(customer_api, body)
    assert response.status_code == 201
    assert response.json()["size"] == len(photo)


def test_body_ending_inside_the_part_headers_is_400(customer_api, photo, settings):
    body = multipart(b"photo.jpg", photo)[:60]
    response = post_raw(customer_api, body)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert response.json()["message"] == "file: No file was submitted in the multipart field 'file'."
    assert leftovers(settings) == []


def test_full_disk_while_streaming_is_507_and_leaves_nothing(customer_api, photo, settings):
    def no_space(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    with mock.patch.object(TemporaryUploadedFile, "write", no_space):
        response = post_raw(customer_api, multipart(b"photo.jpg", photo))
    assert response.status_code == 507
    assert response.json()["code"] == "insufficient_storage"
    assert Upload.objects.count() == 0
    assert leftovers(settings) == []


def test_other_write_errors_propagate_and_leave_nothing(customer_api, photo, settings):
    def broken(self, data):
        raise OSError(errno.EIO, "Input/output error")

    with mock.patch.object(TemporaryUploadedFile, "write", broken), pytest.raises(OSError, match="Input/output"):
        post_raw(customer_api, multipart(b"photo.jpg", photo))
    assert leftovers(settings) == []
