"""The accounts API under /api/: ``users/register``, ``auth/login``, ``auth/refresh``, ``auth/logout``,
``auth/me``, ``auth/change-password``, ``auth/password-reset`` and ``auth/password-reset/confirm``.

Thin views: `accounts.services` does the work; login, register and password reset are throttled
(`accounts.throttles`).
"""

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from lebrq.schema import error_codes

from . import services
from .serializers import (
    ChangePasswordSerializer,
    LoginSerializer,
    LogoutSerializer,
    MessageSerializer,
    PasswordResetConfirmSerializer,
    PasswordResetSerializer,
    RefreshSerializer,
    RegisterSerializer,
    TokenPairSerializer,
    UserSerializer,
)
from .throttles import AUTH_THROTTLES
from .tokens import issue_tokens


def valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class AnonymousView(APIView):
    """A view for callers without a token (a bearer token sent along is ignored)."""

    authentication_classes = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request):
        # Keeps bad credentials a 401 (DRF turns a 401 without a challenge into 403).
        return 'Bearer realm="api"'


class LoginView(AnonymousView):
    """Exchange a username and password for tokens: 200 ``{access_token, token_type: "bearer", expires_in,
    refresh_token}``; 401 for wrong credentials or an inactive account; 429 when throttled."""

    throttle_classes = AUTH_THROTTLES
    throttle_scope = "login"
    throttle_account_fields = ("username",)

    @extend_schema(
        request=LoginSerializer, responses={200: TokenPairSerializer}, extensions=error_codes("authentication_failed")
    )
    def post(self, request):
        user = authenticate(request, **valid(LoginSerializer, request))
        if user is None:
            raise AuthenticationFailed("Incorrect username or password.")
        return Response(issue_tokens(user))


class RefreshView(AnonymousView):
    """A new access token and a new refresh token for a refresh token, which is then used up."""

    @extend_schema(
        request=RefreshSerializer,
        responses={200: TokenPairSerializer},
        extensions=error_codes("token_expired", "token_invalid", "token_revoked"),
    )
    def post(self, request):
        return Response(services.refresh(valid(RefreshSerializer, request)["refresh_token"]))


class LogoutView(APIView):
    """End every session of the caller's account: its refresh tokens and the access token of the call (and any
    other issued before) stop working. ``refresh_token`` may be sent; it is revoked with the others."""

    @extend_schema(request=LogoutSerializer, responses={204: None})
    def post(self, request):
        valid(LogoutSerializer, request)
        services.logout(request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    """The caller's own account."""

    @extend_schema(responses={200: UserSerializer})
    def get(self, request):
        return Response(UserSerializer(request.user).data)


class RegisterView(AnonymousView):
    """Sign up as a customer: 201 with the new account. A taken username is a 400 on ``username``; an e-mail
    address already in use is not refused (its owner gets a mail instead)."""

    throttle_classes = AUTH_THROTTLES
    throttle_scope = "register"
    throttle_account_fields = ("username",)

    @extend_schema(request=RegisterSerializer, responses={201: UserSerializer})
    def post(self, request):
        user = services.register(**valid(RegisterSerializer, request))
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class ChangePasswordView(APIView):
    """Change the caller's password: 200 with new tokens; every token issued before stops working. A wrong
    ``old_password`` is a 400 on that field."""

    @extend_schema(request=ChangePasswordSerializer, responses={200: TokenPairSerializer})
    def post(self, request):
        data = valid(ChangePasswordSerializer, request)
        return Response(services.change_password(request.user, data["old_password"], data["new_password"]))


class PasswordResetView(AnonymousView):
    """Mail a password reset link to the accounts with this address: 202 whether or not there are any."""

    # The link is ``PASSWORD_RESET_URL`` with the account's ``uid`` and ``token``.

    throttle_classes = AUTH_THROTTLES
    throttle_scope = "password_reset"
    throttle_account_fields = ("email",)

    @extend_schema(request=PasswordResetSerializer, responses={202: MessageSerializer})
    def post(self, request):
        services.request_password_reset(valid(PasswordResetSerializer, request)["email"])
        message = "If an account uses this address, a reset link is on its way."
        return Response({"success": True, "message": message}, status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmView(AnonymousView):
    """Set a new password with the ``uid`` and ``token`` of a reset link: 200; the link is then used up and the
    account's earlier tokens revoked."""

    throttle_classes = AUTH_THROTTLES[:1]
    throttle_scope = "password_reset_confirm"

    @extend_schema(request=PasswordResetConfirmSerializer, responses={200: MessageSerializer})
    def post(self, request):
        data = valid(PasswordResetConfirmSerializer, request)
        services.confirm_password_reset(data["uid"], data["token"], data["new_password"])
        return Response({"success": True, "message": "Your password has been changed; log in with it."})
