"""Request and response bodies of the accounts API. Passwords are capped at ``PASSWORD_MAX_LENGTH`` characters
(a 400 before any hashing) and never trimmed."""

from django.conf import settings
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.validators import RegexValidator
from rest_framework import serializers


def password_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(
        max_length=settings.PASSWORD_MAX_LENGTH, trim_whitespace=False, write_only=True, **kwargs
    )


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = password_field()


class TokenPairSerializer(serializers.Serializer):
    """``expires_in``: seconds the access token is valid. The refresh token can be used once, within its lifetime
    (seven days unless the service is configured otherwise)."""

    # The refresh token's lifetime is the REFRESH_TOKEN_LIFETIME setting.

    access_token = serializers.CharField()
    token_type = serializers.ChoiceField(choices=["bearer"])
    expires_in = serializers.IntegerField()
    refresh_token = serializers.CharField()


class RefreshSerializer(serializers.Serializer):
    refresh_token = serializers.CharField(max_length=4096)


class LogoutSerializer(serializers.Serializer):
    refresh_token = serializers.CharField(max_length=4096, required=False)


class RegisterSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    email = serializers.EmailField(max_length=254)
    password = password_field()
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    mobile = serializers.CharField(  # no default: "" would not match its pattern in the OpenAPI document
        max_length=20,
        required=False,
        allow_blank=True,
        validators=[RegexValidator(r"^\+?[0-9][0-9 ()-]{5,18}[0-9]$", "Enter a phone number, e.g. +91 98470 12345.")],
    )


class UserSerializer(serializers.Serializer):
    """An account as its owner sees it."""

    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.EmailField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    mobile = serializers.SerializerMethodField()
    is_staff = serializers.BooleanField()

    def get_mobile(self, user) -> str:
        profile = getattr(user, "profile", None)
        return profile.mobile if profile is not None else ""


class ChangePasswordSerializer(serializers.Serializer):
    old_password = password_field()
    new_password = password_field()


class PasswordResetSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class PasswordResetConfirmSerializer(serializers.Serializer):
    uid = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=128)
    new_password = password_field()


class MessageSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
