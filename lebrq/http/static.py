"""Headers of the admin's static assets (served by ServeStatic under STATIC_URL).

ServeStatic's middleware is async-only, so it comes first in ``MIDDLEWARE`` (see `lebrq.http.asgi_handler`), in front of
Django's `SecurityMiddleware`; a static file's response therefore does not pass through it. `security_headers` adds
the same headers that middleware would, from the same settings; ServeStatic calls it once per file when it scans
the files at start-up (``SERVESTATIC_ADD_HEADERS_FUNCTION``).
"""

from django.conf import settings


def security_headers(headers, path: str, url: str) -> None:
    """Set on ``headers`` (a `wsgiref.headers.Headers`) what `SecurityMiddleware` sets on every response:
    ``X-Content-Type-Options: nosniff`` (SECURE_CONTENT_TYPE_NOSNIFF), ``Referrer-Policy``
    (SECURE_REFERRER_POLICY) and ``Cross-Origin-Opener-Policy`` (SECURE_CROSS_ORIGIN_OPENER_POLICY). HSTS and the
    HTTPS redirect belong to the pages and the proxy (deploy/nginx redirects port 80), not to asset responses."""
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers["X-Content-Type-Options"] = "nosniff"
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        headers["Referrer-Policy"] = policy if isinstance(policy, str) else ",".join(policy)
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers["Cross-Origin-Opener-Policy"] = settings.SECURE_CROSS_ORIGIN_OPENER_POLICY
