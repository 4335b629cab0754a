"""The admin's login page, throttled like the API's login, and the password reset it offers ("Forgotten your
password or username?": Django's admin shows the link once ``admin_password_reset`` exists). Mounted before
``admin/`` in lebrq/urls.py. The mail links to Django's own confirm page here; the token is the same as the
API's (`default_token_generator`)."""

import math
from types import SimpleNamespace

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path
from rest_framework import status

from lebrq.errors import error_response

from .exceptions import ThrottleUnavailable
from .throttles import AUTH_THROTTLES


def throttle_refusal(request, scope: str, account_fields: tuple[str, ...]):
    """The 429 (or 503 ``throttle_unavailable``) error response for a plain Django POST to ``scope`` that
    `accounts.throttles` refuses, else None."""
    view = SimpleNamespace(throttle_scope=scope, throttle_account_fields=account_fields)
    try:
        for throttle_class in AUTH_THROTTLES:
            throttle = throttle_class()
            if not throttle.allow_request(request, view):
                wait = math.ceil(throttle.wait() or 1)
                detail = f"Request was throttled. Expected available in {wait} seconds."
                headers = {"Retry-After": str(wait)}
                return error_response(status.HTTP_429_TOO_MANY_REQUESTS, detail, "throttled", headers)
    except ThrottleUnavailable as exc:
        return error_response(exc.status_code, str(exc.detail), exc.default_code, {"Retry-After": str(exc.wait)})
    return None


def throttled(view, scope: str, account_fields: tuple[str, ...]):
    """``view`` with its POSTs throttled as `throttle_refusal` decides."""

    def wrapper(request, *args, **kwargs):
        if request.method == "POST":
            refusal = throttle_refusal(request, scope, account_fields)
            if refusal is not None:
                return refusal
        return view(request, *args, **kwargs)

    return wrapper


urlpatterns = [
    path("admin/login/", throttled(admin.site.login, "admin_login", ("username",)), name="admin-login"),
    path(
        "admin/password_reset/",
        throttled(auth_views.PasswordResetView.as_view(), "admin_password_reset", ("email",)),
        name="admin_password_reset",
    ),
    path("admin/password_reset/done/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
]
