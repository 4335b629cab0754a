"""What the accounts services raise; `lebrq.errors.exception_handler` turns each into the JSON error body with
its status and ``code``."""

from rest_framework import exceptions, status


class TokenExpired(exceptions.AuthenticationFailed):
    """401 ``token_expired``: authentic, but its ``exp`` has passed (refresh it, or log in again)."""

    default_detail = "Token has expired."
    default_code = "token_expired"


class TokenInvalid(exceptions.AuthenticationFailed):
    """401 ``token_invalid``: malformed, wrongly signed, of the wrong type, already used or for an unknown or
    inactive account."""

    default_detail = "Token is invalid."
    default_code = "token_invalid"


class TokenRevoked(exceptions.AuthenticationFailed):
    """401 ``token_revoked``: the password changed or the account logged out after it was issued."""

    default_detail = "Token has been revoked; log in again."
    default_code = "token_revoked"


class ThrottleUnavailable(exceptions.APIException):
    """503 ``throttle_unavailable``: the shared cache holding the throttle counters cannot be reached, so the
    endpoint refuses rather than let guessing go uncounted. ``wait`` (seconds) becomes ``Retry-After``."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Sign-in is briefly unavailable; retry shortly."
    default_code = "throttle_unavailable"

    def __init__(self, wait: int = 5):
        super().__init__()
        self.wait = wait
