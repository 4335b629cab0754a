"""Token login for API clients: ``POST /api/auth/login`` and ``GET /api/auth/me``.

Tokens are JWT access tokens (djangorestframework-simplejwt), sent back as ``Authorization: Bearer <token>``.
"""

from django.contrib.auth import authenticate
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.tokens import AccessToken


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    token_type = serializers.CharField()


class UserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.EmailField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    is_staff = serializers.BooleanField()


class LoginView(APIView):
    """Exchange a username and password for a bearer token: 200 ``{access_token, token_type: "bearer"}``, 401."""

    authentication_classes = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request):
        # Keeps bad credentials a 401 (DRF turns a 401 without a challenge into 403).
        return 'Bearer realm="api"'

    @extend_schema(request=LoginSerializer, responses={200: TokenSerializer, 401: OpenApiTypes.OBJECT})
    def post(self, request):
        credentials = LoginSerializer(data=request.data)
        credentials.is_valid(raise_exception=True)
        user = authenticate(request, **credentials.validated_data)
        if user is None:
            raise AuthenticationFailed("Incorrect username or password.")
        return Response({"access_token": str(AccessToken.for_user(user)), "token_type": "bearer"})


class MeView(APIView):
    """The caller's own account."""

    @extend_schema(responses={200: UserSerializer})
    def get(self, request):
        return Response(UserSerializer(request.user).data)
