"""DRF authentication by ``Authorization: Bearer <access token>``."""

from rest_framework_simplejwt.authentication import JWTAuthentication

from .exceptions import TokenInvalid
from .tokens import AccessToken, decode, user_for_token


class BearerTokenAuthentication(JWTAuthentication):
    """simplejwt's `JWTAuthentication` with: the scheme name matched case-insensitively (RFC 9110 §11.1:
    ``bearer``, ``BEARER`` work), distinct 401 codes (``token_expired``, ``token_invalid``, ``token_revoked``)
    and the revocation checks of `accounts.tokens.user_for_token` on every request."""

    def get_raw_token(self, header: bytes) -> bytes | None:
        parts = header.split()
        if not parts or parts[0].lower() != b"bearer":
            return None  # another scheme (or none): not ours to judge
        if len(parts) != 2:
            raise TokenInvalid("Authorization header must be 'Bearer <token>'.")
        return parts[1]

    def get_validated_token(self, raw_token: bytes):
        return decode(AccessToken, raw_token)

    def get_user(self, validated_token):
        return user_for_token(validated_token)
