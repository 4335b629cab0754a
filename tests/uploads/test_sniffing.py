"""Type detection by magic numbers on the real sample media."""

import pytest

from uploads.sniffing import SNIFF_BYTES, UnsupportedType, detect


def head(path):
    with path.open("rb") as source:
        return source.read(SNIFF_BYTES)


@pytest.mark.parametrize(
    ("name", "kind", "mime"),
    [
        ("phone-photo.jpg", "image", "image/jpeg"),
        ("iphone-photo.heic", "image", "image/heic"),
        ("corrupted.jpg", "image", "image/jpeg"),  # header intact: accepted as a JPEG, its pixels are not decoded
        ("venue-tour.mp4", "video", "video/mp4"),
        ("venue-tour-moov-at-end.mp4", "video", "video/mp4"),
        ("venue-tour.webm", "video", "video/webm"),
        ("document.pdf", "document", "application/pdf"),
        ("phone-photo.jpg", "document", "image/jpeg"),
    ],
)
def test_accepted(shared_media, name, kind, mime):
    assert detect(head(shared_media / name), kind).mime == mime


@pytest.mark.parametrize(
    ("name", "kind", "found"),
    [
        ("document.pdf", "image", "application/pdf"),
        ("venue-tour.mp4", "image", "video/mp4"),
        ("phone-photo.jpg", "video", "image/jpeg"),
        ("venue-tour.webm", "document", "video/webm"),
    ],
)
def test_rejected_with_a_clear_message(shared_media, name, kind, found):
    with pytest.raises(UnsupportedType, match=f"The file's content is {found}; an? {kind} upload accepts"):
        detect(head(shared_media / name), kind)


def test_unrecognised_bytes():
    with pytest.raises(UnsupportedType, match="an unrecognised type"):
        detect(b"hello world", "document")
