"""drf-spectacular: `BearerTokenAuthentication` is documented as simplejwt's ``jwtAuth`` bearer scheme."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class BearerTokenScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.BearerTokenAuthentication"
