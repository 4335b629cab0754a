"""Content verification: sample media accepted, crafted bad files refused with the reason."""

import struct
import zlib
from pathlib import Path

import pytest

from lebrq import errors
from uploads import verify


def png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR chunk declaring ``width`` × ``height`` 8-bit RGB pixels (no image data)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def png_bomb(path: Path, width: int = 50_000, height: int = 50_000) -> Path:
    """A small PNG whose header declares ``width`` × ``height`` and whose IDAT is a run of zeros (deflated)."""
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(b"\0" * (1 << 20)) for _ in range(300)) + compressor.flush()
    chunk = b"IDAT" + idat
    body = struct.pack(">I", len(idat)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    iend = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    path.write_bytes(png_header(width, height) + body + iend)
    return path


@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("camera-with-gps.jpg", "image/jpeg"),
        ("phone-photo.jpg", "image/jpeg"),
        ("iphone-photo.heic", "image/heic"),
        ("venue-tour.mp4", "video/mp4"),
        ("venue-tour-moov-at-end.mp4", "video/mp4"),
        ("venue-tour.webm", "video/webm"),
        ("document.pdf", "application/pdf"),
    ],
)
def test_sample_media_is_accepted(shared_media, name, mime):
    assert verify.verify_file(shared_media / name, mime) is None


def test_corrupted_jpeg_is_refused_naming_the_decoder_warning(shared_media):
    with pytest.raises(verify.CorruptContent) as refused:
        verify.verify_file(shared_media / "corrupted.jpg", "image/jpeg")
    assert str(refused.value) == (
        "The image does not decode completely: VipsJpeg: Corrupt JPEG data: premature end of data segment."
    )
    assert errors.domain_error(refused.value)[:2] == (400, "corrupt_content")


def test_jpeg_head_followed_by_html_is_refused(shared_media, tmp_path):
    polyglot = tmp_path / "polyglot.jpg"
    head = (shared_media / "camera-with-gps.jpg").read_bytes()[:64]
    polyglot.write_bytes(head + b"<html><script>alert(document.cookie)</script></html>" * 20)
    with pytest.raises(verify.CorruptContent) as refused:
        verify.verify_file(polyglot, "image/jpeg")
    assert str(refused.value).startswith("The image ")


def test_truncated_jpeg_is_refused(shared_media, tmp_path):
    truncated = tmp_path / "truncated.jpg"
    data = (shared_media / "phone-photo.jpg").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(verify.CorruptContent):
        verify.verify_file(truncated, "image/jpeg")


def test_png_bomb_is_refused_by_its_header_before_decoding(tmp_path):
    bomb = png_bomb(tmp_path / "bomb.png")
    assert 250_000 < bomb.stat().st_size < 400_000  # ~297 KiB declaring 2.5 gigapixels
    with pytest.raises(verify.TooManyPixels) as refused:
        verify.verify_file(bomb, "image/png")
    assert str(refused.value) == ("The image has 50000 × 50000 = 2500000000 pixels; at most 50000000 are accepted.")


def test_pixel_ceiling_is_the_setting(shared_media, settings):
    settings.IMAGE_MAX_PIXELS = 640 * 480 - 1
    with pytest.raises(verify.TooManyPixels):
        verify.verify_file(shared_media / "camera-with-gps.jpg", "image/jpeg")
    settings.IMAGE_MAX_PIXELS = 640 * 480
    verify.verify_file(shared_media / "camera-with-gps.jpg", "image/jpeg")


@pytest.mark.parametrize("name", ["venue-tour.mp4", "venue-tour-moov-at-end.mp4", "venue-tour.webm"])
def test_truncated_video_is_refused(shared_media, tmp_path, name):
    truncated = tmp_path / name
    data = (shared_media / name).read_bytes()
    truncated.write_bytes(data[: len(data) - 1000])
    mime = "video/webm" if name.endswith(".webm") else "video/mp4"
    with pytest.raises(verify.CorruptContent) as refused:
        verify.verify_file(truncated, mime)
    assert "truncated or corrupt" in str(refused.value)


def test_mp4_without_moov_is_refused(tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(struct.pack(">I4s", 16, b"ftyp") + b"isom\0\0\0\0" + struct.pack(">I4s", 12, b"mdat") + b"abcd")
    with pytest.raises(verify.CorruptContent) as refused:
        verify.verify_file(fake, "video/mp4")
    assert str(refused.value) == "The video has no 'moov' box (its index of tracks)."


def test_mp4_with_a_box_size_past_the_end_is_refused(tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(struct.pack(">I4s", 16, b"ftyp") + b"isom\0\0\0\0" + struct.pack(">I4s", 1 << 30, b"mdat"))
    with pytest.raises(verify.CorruptContent) as refused:
        verify.verify_file(fake, "video/mp4")
    assert str(refused.value) == (
        "The video's file has a box 'mdat' at byte 16 of 1073741824 bytes, past its end at byte 24 "
        "(truncated or corrupt)."
    )


def test_mp4_with_html_after_the_header_is_refused(shared_media, tmp_path):
    polyglot = tmp_path / "polyglot.mp4"
    polyglot.write_bytes((shared_media / "venue-tour.mp4").read_bytes()[:32] + b"<html><script>x()</script></html>")
    with pytest.raises(verify.CorruptContent):
        verify.verify_file(polyglot, "video/mp4")


def test_webm_with_another_doctype_is_refused(shared_media, tmp_path):
    data = bytearray((shared_media / "venue-tour.webm").read_bytes())
    at = data.index(b"webm")
    data[at : at + 4] = b"xxxx"
    fake = tmp_path / "fake.webm"
    fake.write_bytes(bytes(data))
    with pytest.raises(verify.CorruptContent) as refused:
        verify.verify_file(fake, "video/webm")
    assert str(refused.value) == "The video's EBML DocType is b'xxxx', not webm or matroska."


@pytest.mark.parametrize("cut", [0.5, 0.98])
def test_truncated_or_damaged_pdf_is_refused(shared_media, tmp_path, cut):
    data = (shared_media / "document.pdf").read_bytes()
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(verify.CorruptContent) as refused:
        verify.verify_file(broken, "application/pdf")
    assert str(refused.value).startswith("The document does not parse as a PDF")


def test_pdf_header_followed_by_html_is_refused(tmp_path):
    fake = tmp_path / "fake.pdf"
    fake.write_bytes(b"%PDF-1.7\n<html><script>alert(1)</script></html>\n")
    with pytest.raises(verify.CorruptContent):
        verify.verify_file(fake, "application/pdf")


@pytest.mark.parametrize("mime", ["video/x-msvideo", "video/mpeg", "application/zip"])
def test_types_without_a_verifier_are_not_accepted(tmp_path, mime):
    path = tmp_path / "x"
    path.write_bytes(b"RIFF")
    with pytest.raises(verify.Unverifiable) as refused:
        verify.verify_file(path, mime)
    assert str(refused.value) == f"{mime} files are not accepted: their content cannot be verified."


def test_heic_is_decoded_in_a_child_process_and_its_refusals_come_back(shared_media, tmp_path, monkeypatch):
    calls = []
    real_run = verify.subprocess.run
    monkeypatch.setattr(
        verify.subprocess, "run", lambda command, **kw: calls.append(command) or real_run(command, **kw)
    )
    verify.verify_file(shared_media / "iphone-photo.heic", "image/heic")
    assert calls[0][1:] == ["-m", "uploads.verify", str(shared_media / "iphone-photo.heic"), "image/heic", "50000000"]

    with pytest.raises(verify.TooManyPixels) as refused:
        verify.verify_image_in_child(str(shared_media / "iphone-photo.heic"), "image/heic", max_pixels=1000)
    assert str(refused.value) == "The image has 3024 × 4032 = 12192768 pixels; at most 1000 are accepted."

    truncated = tmp_path / "truncated.heic"
    truncated.write_bytes((shared_media / "iphone-photo.heic").read_bytes()[:1_000_000])
    with pytest.raises(verify.CorruptContent) as refused:
        verify.verify_file(truncated, "image/heic")
    assert str(refused.value).startswith("The image ")
