"""Uploaded files: the bytes live under MEDIA_ROOT with a generated name; this row describes them."""

from django.conf import settings
from django.db import models

from lebrq.upload_kinds import UPLOAD_KINDS


class Upload(models.Model):
    #: ``Kind.IMAGE == "image"`` ...: one member per `lebrq.upload_kinds.UPLOAD_KINDS`.
    Kind = models.TextChoices("Kind", [(kind.upper(), kind) for kind in UPLOAD_KINDS])

    kind = models.CharField(max_length=16, choices=Kind.choices)
    #: Generated storage name, relative to MEDIA_ROOT, e.g. ``"images/3f9c…e1.jpg"``.
    name = models.CharField(max_length=255, unique=True)
    #: The client's filename, sanitised; given back in Content-Disposition.
    original_name = models.CharField(max_length=255, blank=True)
    size = models.PositiveBigIntegerField(help_text="Bytes.")
    content_type = models.CharField(max_length=100, help_text="Detected from the file's bytes.")
    sha256 = models.CharField(max_length=64, help_text="Hex digest computed while the upload streamed.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="uploads"
    )
    is_public = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    #: The client's ``Idempotency-Key`` of the POST that created the row (`uploads.services.idempotency_key`), or
    #: None; unique per owner, so a repeated POST answers this row instead of storing a second one. NULL, not "",
    #: for no key: NULLs never collide in the unique constraint (SQLite, MariaDB), empty strings would.
    idempotency_key = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # NULL keys are distinct on SQLite and MariaDB: uploads without a key never collide.
            models.UniqueConstraint(fields=["owner", "idempotency_key"], name="uploads_upload_owner_key_unique"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def etag(self) -> str:
        """Strong entity tag (RFC 9110 §8.8.3) of the stored representation: its SHA-256, quoted."""
        return f'"{self.sha256}"'
