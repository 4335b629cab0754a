"""The uploads system checks: each id fails with a bad value and passes with the default."""

from uploads.checks import check_exiftool, check_image_max_pixels


def test_exiftool_check_passes_when_installed():
    assert check_exiftool() == []


def test_exiftool_check_names_the_setting(settings):
    settings.EXIFTOOL_PATH = "/nonexistent/exiftool"
    [error] = check_exiftool()
    assert error.id == "uploads.E001"
    assert error.msg == (
        "EXIFTOOL_PATH '/nonexistent/exiftool' is not a working ExifTool; image and video uploads would fail."
    )


def test_image_max_pixels_check(settings):
    assert check_image_max_pixels() == []
    settings.IMAGE_MAX_PIXELS = 0
    [error] = check_image_max_pixels()
    assert error.id == "uploads.E002"
