"""DRF authentication by ``Authorization: Bearer <access token>``.

Decoding and verifying a token (base64, JSON, HMAC signature, claims: PyJWT and simplejwt in Python) was about a
twentieth of the CPU of a booking list request; a client sends the same token with every request, so a token
verified once is remembered (at most `VERIFIED_TOKENS` of them per process) and only its expiry is checked again.
The user, and with it every revocation check (`accounts.tokens.user_for_token`), is still loaded per request.
"""

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.utils import aware_utcnow

from .exceptions import TokenExpired, TokenInvalid
from .tokens import AccessToken, decode, user_for_token

#: Verified tokens remembered per process; when full, the memory is emptied and refilled by later requests.
VERIFIED_TOKENS = 1024

_verified: dict[bytes, AccessToken] = {}


class BearerTokenAuthentication(JWTAuthentication):
    """simplejwt's `JWTAuthentication` with: the scheme name matched case-insensitively (RFC 9110 §11.1:
    ``bearer``, ``BEARER`` work), distinct 401 codes (``token_expired``, ``token_invalid``, ``token_revoked``),
    verified tokens remembered (module docstring) and the revocation checks of `accounts.tokens.user_for_token`
    on every request."""

    def get_raw_token(self, header: bytes) -> bytes | None:
        parts = header.split()
        if not parts or parts[0].lower() != b"bearer":
            return None  # another scheme (or none): not ours to judge
        if len(parts) != 2:
            raise TokenInvalid("Authorization header must be 'Bearer <token>'.")
        return parts[1]

    def get_validated_token(self, raw_token: bytes) -> AccessToken:
        """The verified access token of ``raw_token`` (bytes): `TokenExpired` once its ``exp`` has passed,
        `TokenInvalid` if it is not a valid access token (never remembered)."""
        token = _verified.get(raw_token)
        if token is not None:
            try:
                token.check_exp(current_time=aware_utcnow())
                return token
            except TokenError:
                _verified.pop(raw_token, None)
                raise TokenExpired() from None
        token = decode(AccessToken, raw_token)
        if len(_verified) >= VERIFIED_TOKENS:
            _verified.clear()
        _verified[raw_token] = token
        return token

    def get_user(self, validated_token):
        return user_for_token(validated_token)
