"""What LeBRQ keeps about an account beyond Django's `User`: the mobile number, the case-folded username that
keeps sign-ups unique however they are spelt, and the token generation that a logout advances."""

import unicodedata

from django.conf import settings
from django.db import models


def username_key(username: str) -> str:
    """``username`` as compared for uniqueness: NFKD, combining marks dropped, case-folded ("José" and "JOSE"
    → "jose", "Straße" → "strasse"). At least as coarse as MariaDB's ``utf8mb4_unicode_ci`` on ``auth_user``,
    so that SQLite and MariaDB refuse the same sign-ups."""
    decomposed = unicodedata.normalize("NFKD", username)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


class Profile(models.Model):
    """One per account made by sign-up (accounts made in the admin or by ``seed_demo`` may have none: every
    field then has its default meaning)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    mobile = models.CharField(max_length=20, blank=True, default="")
    #: `username_key` of the username at sign-up; unique, so two racing sign-ups cannot both win.
    username_key = models.CharField(max_length=150, unique=True, null=True, blank=True, editable=False)
    #: Every access and refresh token carries the generation it was issued in (claim ``gen``, 0 when absent);
    #: a logout advances it, which ends every token issued before.
    token_generation = models.PositiveIntegerField(default=0, editable=False)

    def __str__(self):
        return f"Profile of {self.user}"
