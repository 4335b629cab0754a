"""Bearer-token authentication of API requests: simplejwt's `JWTAuthentication`, with verified tokens remembered.

`BearerAuthentication` is what ``REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]`` names. Decoding and verifying
a token (base64, JSON, HMAC signature, claims: PyJWT and simplejwt in Python) was about a twentieth of the CPU of a
booking list request; a client sends the same token with every request, so a token verified once is remembered
(at most `VERIFIED_TOKENS` of them per process) and only its expiry is checked again. The user is still loaded
and checked (active) for every request, by one SQL statement compiled once per process (`user_by_id`): the ORM's
``get()`` built and compiled the same query again for every request (about 0.3 ms of CPU on SQLite, half of it
saved).
"""

from django.contrib.auth import get_user_model
from django.db import router
from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import aware_utcnow, get_md5_hash_password

#: Verified tokens remembered per process; when full, the memory is emptied and refilled by later requests.
VERIFIED_TOKENS = 1024

_verified: dict[bytes, Token] = {}
_user_sql: dict[tuple[str, str], str] = {}


def user_by_id(user_id):
    """The user (``AUTH_USER_MODEL``) whose ``SIMPLE_JWT["USER_ID_FIELD"]`` is ``user_id``, or None: the ORM's
    SELECT for that lookup, compiled once per model and database alias and then run with `Manager.raw`
    (model instances, the backend's converters)."""
    model = get_user_model()
    alias = router.db_for_read(model)
    key = (model._meta.label, alias)
    if key not in _user_sql:
        query = model._default_manager.filter(**{api_settings.USER_ID_FIELD: 0}).order_by().query
        sql, params = query.get_compiler(using=alias).as_sql()
        if len(params) != 1:  # the id is the only parameter
            raise ValueError(f"unexpected parameters of the user lookup: {params!r}")
        _user_sql[key] = sql
    return next(iter(model._default_manager.raw(_user_sql[key], [user_id], using=alias)), None)


class BearerAuthentication(JWTAuthentication):
    """``Authorization: Bearer <JWT access token>`` (simplejwt), each token's signature and claims verified once
    per process (module docstring); an expired token is refused as before, with simplejwt's 401."""

    def get_validated_token(self, raw_token: bytes) -> Token:
        """The verified token of ``raw_token`` (bytes); `InvalidToken` (401) if it is not valid or has expired."""
        token = _verified.get(raw_token)
        if token is not None:
            try:
                token.check_exp(current_time=aware_utcnow())
                return token
            except TokenError:
                _verified.pop(raw_token, None)  # expired: simplejwt's own check below answers it
        token = super().get_validated_token(raw_token)
        if len(_verified) >= VERIFIED_TOKENS:
            _verified.clear()
        _verified[raw_token] = token
        return token

    def get_user(self, validated_token: Token):
        """simplejwt's `JWTAuthentication.get_user` (the same checks, messages and codes), the user read by
        `user_by_id`: `InvalidToken` without a user id claim, `AuthenticationFailed` ``user_not_found``,
        ``user_inactive`` (``CHECK_USER_IS_ACTIVE``) or ``password_changed`` (``CHECK_REVOKE_TOKEN``)."""
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError as exc:
            raise InvalidToken(_("Token contained no recognizable user identification")) from exc
        user = user_by_id(user_id)
        if user is None:
            raise AuthenticationFailed(_("User not found"), code="user_not_found")
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
        if api_settings.CHECK_REVOKE_TOKEN and validated_token.get(
            api_settings.REVOKE_TOKEN_CLAIM
        ) != get_md5_hash_password(user.password):
            raise AuthenticationFailed(_("The user's password has been changed."), code="password_changed")
        return user
