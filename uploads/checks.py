"""System checks (``manage.py check``, and at start-up) for the tools uploads are checked with.

- ``uploads.E001``: ``EXIFTOOL_PATH`` is not an executable ExifTool: every image and video upload would fail.
- ``uploads.E002``: ``IMAGE_MAX_PIXELS`` is not a positive whole number.
"""

import shutil
import subprocess

from django.conf import settings
from django.core.checks import Error, register


@register("uploads")
def check_exiftool(app_configs=None, **kwargs) -> list[Error]:
    """``uploads.E001`` when ``settings.EXIFTOOL_PATH`` cannot be run (``exiftool -ver`` must exit 0)."""
    path = shutil.which(settings.EXIFTOOL_PATH)
    try:
        ok = path is not None and subprocess.run([path, "-ver"], capture_output=True, timeout=30).returncode == 0  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if ok:
        return []
    return [
        Error(
            f"EXIFTOOL_PATH {settings.EXIFTOOL_PATH!r} is not a working ExifTool; image and video uploads would fail.",
            hint="Install Debian's libimage-exiftool-perl (scripts/sysdeps.sh does) or set EXIFTOOL_PATH.",
            id="uploads.E001",
        )
    ]


@register("uploads")
def check_image_max_pixels(app_configs=None, **kwargs) -> list[Error]:
    """``uploads.E002`` when ``settings.IMAGE_MAX_PIXELS`` is not an int ≥ 1."""
    value = settings.IMAGE_MAX_PIXELS
    if isinstance(value, int) and value >= 1:
        return []
    return [
        Error(
            f"IMAGE_MAX_PIXELS must be a whole number of pixels >= 1, got {value!r}.",
            hint="Set IMAGE_MAX_PIXELS to e.g. 50000000 (50 megapixels).",
            id="uploads.E002",
        )
    ]
