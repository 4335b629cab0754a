"""Access and refresh tokens (djangorestframework-simplejwt), and the one check that decides whether a token's
account still honours it.

A token is honoured while (1) its signature, type and ``exp`` are valid (simplejwt), (2) a refresh token is not
on simplejwt's blacklist (rotation makes each single-use), (3) its ``hash_password`` claim matches the account's
current password hash (simplejwt's ``CHECK_REVOKE_TOKEN``: a password change by any route — the API, a reset,
the admin, ``manage.py changepassword`` — ends every earlier token) and (4) its ``gen`` claim equals the
account's `Profile.token_generation` (a logout advances it). (3) and (4) are checked on every authentication and
every refresh, from the user row the request loads anyway, on every worker and host alike.
"""

import functools

from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework_simplejwt import tokens
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.utils import get_md5_hash_password

from lebrq.db.prepared import PreparedValues

from .exceptions import TokenExpired, TokenInvalid, TokenRevoked

GENERATION_CLAIM = "gen"


def token_generation(user) -> int:
    """The account's current token generation (0 without a profile)."""
    profile = getattr(user, "profile", None)
    return profile.token_generation if profile is not None else 0


class AccessToken(tokens.AccessToken):
    """simplejwt's access token with the account's ``gen`` claim."""

    @classmethod
    def for_user(cls, user):
        token = super().for_user(user)
        token[GENERATION_CLAIM] = token_generation(user)
        return token


class RefreshToken(tokens.RefreshToken):
    """simplejwt's refresh token (recorded as outstanding, blacklistable) with the ``gen`` claim, which its
    access tokens copy."""

    access_token_class = AccessToken

    @classmethod
    def for_user(cls, user):
        token = super().for_user(user)
        token[GENERATION_CLAIM] = token_generation(user)
        return token


def issue_tokens(user) -> dict:
    """A new refresh token and an access token made from it: ``{access_token, token_type: "bearer",
    expires_in (seconds), refresh_token}``."""
    refresh = RefreshToken.for_user(user)
    return {
        "access_token": str(refresh.access_token),
        "token_type": "bearer",
        "expires_in": int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()),
        "refresh_token": str(refresh),
    }


def decode(token_class, raw):
    """``token_class(raw)`` with simplejwt's errors as ours: `TokenExpired` (valid signature, ``exp`` passed) or
    `TokenInvalid` (anything else: garbage, wrong signature or type, blacklisted)."""
    try:
        return token_class(raw)
    except ExpiredTokenError as exc:
        raise TokenExpired() from exc
    except TokenError as exc:
        raise TokenInvalid() from exc


@functools.cache
def _user_lookup() -> tuple[PreparedValues, tuple[str, ...], tuple[str, ...]]:
    """The user lookup by id, compiled once (`lebrq.db.prepared`): the user's columns and its profile's
    (``profile__<column>``, None without a profile) in one row, as ``select_related("profile")`` reads them."""
    from .models import Profile

    user_model = get_user_model()
    user_columns = tuple(field.attname for field in user_model._meta.concrete_fields)
    profile_columns = tuple(field.attname for field in Profile._meta.concrete_fields)
    columns = (*user_columns, *(f"profile__{column}" for column in profile_columns))

    def build(values):
        return user_model._default_manager.filter(**{api_settings.USER_ID_FIELD: values[0]}).order_by().values(*columns)

    return PreparedValues(build), user_columns, profile_columns


def user_by_id(user_id):
    """The user whose ``USER_ID_FIELD`` is ``user_id`` with its profile loaded (None when it has none), or None when
    there is no such user. Raises `ValueError` or `TypeError` for an id of the wrong type."""
    from .models import Profile

    user_model = get_user_model()
    user_id = user_model._meta.get_field(api_settings.USER_ID_FIELD).get_prep_value(user_id)
    lookup, user_columns, profile_columns = _user_lookup()
    rows = lookup.rows([user_id])
    if not rows:
        return None
    row, alias = rows[0], lookup.using
    user = user_model.from_db(alias, user_columns, [row[column] for column in user_columns])
    profile = None
    if row["profile__id"] is not None:
        profile = Profile.from_db(alias, profile_columns, [row[f"profile__{column}"] for column in profile_columns])
        Profile.user.field.set_cached_value(profile, user)
    user_model.profile.related.set_cached_value(user, profile)  # as select_related: no profile, no query
    return user


def user_for_token(token):
    """The active user a validated ``token`` belongs to, loaded with its profile in one query (`user_by_id`).

    Raises `TokenInvalid` when the account is gone or inactive, `TokenRevoked` when the password changed or the
    account logged out after the token was issued (checks (3) and (4) of the module docstring)."""
    try:
        user = user_by_id(token.get(api_settings.USER_ID_CLAIM))
    except (ValueError, TypeError) as exc:
        raise TokenInvalid() from exc
    if user is None or not user.is_active:
        raise TokenInvalid()
    if token.get(api_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password):
        raise TokenRevoked()
    if token.get(GENERATION_CLAIM, 0) != token_generation(user):
        raise TokenRevoked()
    return user
