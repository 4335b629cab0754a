"""Filename sanitising and storage names."""

import re

import pytest

from uploads.names import sanitize_filename, storage_name


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("photo.jpg", "photo.jpg"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\asha\\tour.mp4", "tour.mp4"),
        ("a\x00b\nc\r.pdf", "abc.pdf"),
        ("\u202eevil\u202cgpj.exe", "evilgpj.exe"),
        ("..", "file"),
        ("", "file"),
        ("  .hidden. ", "hidden"),
        ("cafe\u0301.png", "café.png"),
        ("मंदिर हॉल.jpg", "मंदिर हॉल.jpg"),
    ],
)
def test_sanitize_filename(raw, expected):
    assert sanitize_filename(raw) == expected


def test_long_name_is_truncated_by_bytes_keeping_the_extension():
    name = "ഹാൾ" * 100 + ".jpeg"  # Malayalam: 3 bytes per code point
    result = sanitize_filename(name)
    assert len(result.encode()) <= 255
    assert result.endswith(".jpeg")
    assert result.startswith("ഹാൾ")
    assert len(result.encode()) > 240  # truncated, not emptied


def test_long_name_without_extension():
    result = sanitize_filename("x" * 300)
    assert result == "x" * 255


def test_storage_name_shape():
    assert re.fullmatch(r"videos/[0-9a-f]{32}\.mp4", storage_name("video", "mp4"))
    assert storage_name("image", "jpg") != storage_name("image", "jpg")
