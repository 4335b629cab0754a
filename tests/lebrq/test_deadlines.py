"""Per-phase limits (lebrq.http.deadlines): head size tracking across pieces and the body rate decision."""

from types import SimpleNamespace

import pytest

from lebrq.http.deadlines import Deadlines, body_too_slow, head_progress


def test_head_in_one_piece():
    assert head_progress(0, b"", b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody") == (27, True, b"")


def test_head_split_inside_its_terminator():
    size, complete, tail = head_progress(0, b"", b"GET / HTTP/1.1\r\nHost: x\r\n\r")
    assert (size, complete, tail) == (26, False, b"\n\r\n\r"[-3:])
    assert head_progress(size, tail, b"\nbody") == (27, True, b"")


def test_head_without_terminator_grows():
    size, complete, tail = head_progress(100, b"abc", b"x" * 50)
    assert (size, complete, tail) == (150, False, b"xxx")


@pytest.mark.parametrize(("received", "expected"), [(10239, True), (10240, False), (0, True)])
def test_body_too_slow(received, expected):
    assert body_too_slow(received, 10.0, 1024) is expected


def test_rate_zero_is_off():
    assert body_too_slow(0, 10.0, 0) is False


def test_from_settings():
    settings = SimpleNamespace(
        REQUEST_HEADER_TIMEOUT=1.0,
        REQUEST_HEADER_MAX_BYTES=2,
        REQUEST_BODY_MIN_RATE=3,
        REQUEST_BODY_RATE_WINDOW=4.0,
        REQUEST_BODY_GRACE=5.0,
        SEND_TIMEOUT=6.0,
    )
    assert Deadlines.from_settings(settings) == Deadlines(1.0, 2, 3, 4.0, 5.0, 6.0)
    assert Deadlines() == Deadlines(10.0, 16384, 1024, 10.0, 10.0, 30.0)
