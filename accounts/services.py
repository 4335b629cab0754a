"""Account operations behind the views: sign-up, password change and reset, token refresh and logout.

Each takes plain values, raises the project's `lebrq.exceptions.InvalidInput` naming the field (the API: 400) or
the token errors of `accounts.exceptions`, and returns plain values; the views only parse and answer.
"""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from lebrq.exceptions import InvalidInput

from .exceptions import TokenInvalid
from .models import Profile, username_key
from .tokens import RefreshToken, decode, issue_tokens, user_for_token

logger = logging.getLogger("lebrq.accounts")

USERNAME_TAKEN = "A user with that username already exists."


def validate_new_password(password: str, user) -> None:
    """Django's ``AUTH_PASSWORD_VALIDATORS`` for ``user``; raises Django's `ValidationError`, which the callers
    turn into DRF's on their own field name (`_password_error`)."""
    password_validation.validate_password(password, user=user)


def _password_error(field: str, exc: DjangoValidationError) -> InvalidInput:
    return InvalidInput(field, list(exc.messages))


def username_taken(username: str) -> bool:
    """Whether ``username`` is taken, compared case- and accent-insensitively (`username_key`) against sign-ups,
    and case-insensitively (``iexact``) against every account."""
    user_model = get_user_model()
    return (
        Profile.objects.filter(username_key=username_key(username)).exists()
        or user_model.objects.filter(username__iexact=username).exists()
    )


def register(*, username: str, email: str, password: str, first_name="", last_name="", mobile=""):
    """Create a customer account (never staff) with its `Profile`; returns the user.

    Raises `InvalidInput` on ``username`` when taken (see `username_taken`), on ``password`` when Django's
    validators refuse it. An e-mail address already in use does not refuse the sign-up — the answer must not
    tell whether an address is registered (or a password reset's 202 would be pointless) — but its owner is told
    by mail (`accounts/address_in_use.txt`); a new address gets the welcome mail (`accounts/welcome.txt`)."""
    user_model = get_user_model()
    if username_taken(username):
        raise InvalidInput("username", USERNAME_TAKEN, reason="unique")
    candidate = user_model(username=username, email=email, first_name=first_name, last_name=last_name)
    try:
        validate_new_password(password, candidate)
    except DjangoValidationError as exc:
        raise _password_error("password", exc) from exc
    address_in_use = user_model.objects.filter(email__iexact=email).exists()
    try:
        with transaction.atomic():
            user = user_model.objects.create_user(username, email, password, first_name=first_name, last_name=last_name)
            Profile.objects.create(user=user, mobile=mobile, username_key=username_key(username))
    except IntegrityError as exc:  # a sign-up with the same username won the race
        raise InvalidInput("username", USERNAME_TAKEN, reason="unique") from exc
    template = "accounts/address_in_use.txt" if address_in_use else "accounts/welcome.txt"
    context = {"user": user, "reset_url": settings.PASSWORD_RESET_URL.split("?")[0]}
    _mail(email, "Your LeBRQ account", template, context)
    return user


def _set_new_password(user, new_password: str) -> None:
    """Validate ``new_password`` for ``user`` (`InvalidInput` on ``new_password`` when refused), set and save it,
    and revoke the refresh tokens issued before (access tokens die with the ``hash_password`` claim)."""
    try:
        validate_new_password(new_password, user)
    except DjangoValidationError as exc:
        raise _password_error("new_password", exc) from exc
    user.set_password(new_password)
    user.save(update_fields=["password"])
    revoke_refresh_tokens(user)


def change_password(user, old_password: str, new_password: str) -> dict:
    """Set ``user``'s password after checking the old one; returns new tokens (`issue_tokens`). Every token
    issued before stops working (its ``hash_password`` claim no longer matches).

    Raises `InvalidInput` on ``old_password`` when it is wrong, on ``new_password`` when refused."""
    if not user.check_password(old_password):
        raise InvalidInput("old_password", "The current password is incorrect.")
    _set_new_password(user, new_password)
    return issue_tokens(user)


class _ResetForm(PasswordResetForm):
    """Django's reset form (active users with that address and a usable password, one mail each), with the
    link built from ``PASSWORD_RESET_URL``."""

    def send_mail(self, subject_template_name, email_template_name, context, from_email, to_email, **kwargs):
        context["reset_url"] = settings.PASSWORD_RESET_URL.format(uid=context["uid"], token=context["token"])
        _mail(to_email, "Reset your LeBRQ password", "accounts/password_reset.txt", context)


def request_password_reset(email: str) -> None:
    """Mail a reset link to every active account with address ``email`` (case-insensitive); nothing, and no
    sign of it, when there is none."""
    form = _ResetForm(data={"email": email})
    if form.is_valid():
        form.save(domain_override="lebrq", use_https=True)


def confirm_password_reset(uid: str, token: str, new_password: str):
    """Set a new password with a reset link's ``uid`` and ``token`` (Django's `default_token_generator`: valid for
    ``PASSWORD_RESET_TIMEOUT`` seconds, once — its hash covers the password, so it dies with any password change,
    by any route — and the tokens issued before are revoked like on a password change); returns the user.

    Raises `InvalidInput` on ``token`` when the pair is unknown, used or expired, on ``new_password`` when
    refused."""
    user_model = get_user_model()
    try:
        user = user_model.objects.get(pk=force_str(urlsafe_base64_decode(uid)), is_active=True)
    except (ValueError, TypeError, OverflowError, DjangoValidationError, user_model.DoesNotExist):
        user = None
    if user is None or not default_token_generator.check_token(user, token):
        raise InvalidInput("token", "The reset link is invalid or has expired.")
    _set_new_password(user, new_password)
    return user


def reset_link_parts(user) -> tuple[str, str]:
    """``(uid, token)`` of a reset link for ``user`` (as the mail carries them)."""
    return urlsafe_base64_encode(force_bytes(user.pk)), default_token_generator.make_token(user)


def refresh(raw_refresh: str) -> dict:
    """Exchange a refresh token for new tokens (`issue_tokens`); the one given is used up (blacklisted), so a
    replay, even a concurrent one, is 401 ``token_invalid``.

    Raises `TokenExpired`, `TokenInvalid`, `TokenRevoked` (see `accounts.tokens`)."""
    token = decode(RefreshToken, raw_refresh)
    user = user_for_token(token)
    outstanding = OutstandingToken.objects.filter(jti=token["jti"]).first()
    if outstanding is None:
        raise TokenInvalid()
    _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
    if not created:
        raise TokenInvalid()
    return issue_tokens(user)


def revoke_refresh_tokens(user) -> int:
    """Blacklist every unexpired refresh token of ``user`` not yet blacklisted; returns how many."""
    pending = OutstandingToken.objects.filter(user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True)
    created = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in pending], ignore_conflicts=True
    )
    return len(created)


def logout(user) -> None:
    """End every session of ``user``: its refresh tokens are blacklisted and its token generation advances, so
    the access token of the call and any other issued before stop working (401 ``token_revoked``)."""
    with transaction.atomic():
        profile, _ = Profile.objects.get_or_create(user=user)
        Profile.objects.filter(pk=profile.pk).update(token_generation=F("token_generation") + 1)
    revoke_refresh_tokens(user)


def _mail(to: str, subject: str, template: str, context: dict) -> None:
    """One plain-text mail through Django's e-mail framework (``EMAIL_URL``); a mail server that cannot take
    it is logged, not raised: the answer must not depend on it."""
    try:
        send_mail(subject, render_to_string(template, context), None, [to])
    except Exception as exc:  # smtplib and socket errors alike
        logger.warning("[Mail] could not send %r: %s: %s", subject, type(exc).__name__, exc)
