from pathlib import Path

from django.apps import AppConfig
from django.conf import settings


class UploadsConfig(AppConfig):
    name = "uploads"
    verbose_name = "Uploads"

    def ready(self):
        # The media store and the upload temp dir must exist before the first upload (and Django's checks);
        # STATIC_ROOT before ServeStatic starts (it warns about a missing one).
        for directory in (settings.MEDIA_ROOT, settings.FILE_UPLOAD_TEMP_DIR, settings.STATIC_ROOT):
            Path(directory).mkdir(parents=True, exist_ok=True)
        from . import checks  # noqa: F401 -- registers the upload system checks
