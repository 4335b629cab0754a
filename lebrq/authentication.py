"""Bearer-token authentication of API requests: simplejwt's `JWTAuthentication`, with verified tokens remembered.

`BearerAuthentication` is what ``REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]`` names. Decoding and verifying
a token (base64, JSON, HMAC signature, claims: PyJWT and simplejwt in Python) was about a twentieth of the CPU of a
booking list request; a client sends the same token with every request, so a token verified once is remembered
(at most `VERIFIED_TOKENS` of them per process) and only its expiry is checked again. The user is still loaded
and checked (active) for every request by `JWTAuthentication.get_user`.
"""

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import aware_utcnow

#: Verified tokens remembered per process; when full, the memory is emptied and refilled by later requests.
VERIFIED_TOKENS = 1024

_verified: dict[bytes, Token] = {}


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
