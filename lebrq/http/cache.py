"""Cache-Control for answers to authenticated requests (RFC 9111).

A JSON answer to a request with ``Authorization`` (a customer's bookings, their uploads) is that user's own: no
shared cache may store it (RFC 9111 §3.5: a shared cache may not reuse an answer to an authorised request unless
it says ``public``), and without Cache-Control a private cache may pick its own freshness (heuristic freshness,
§4.2.2). `AuthenticatedCacheControlMiddleware` therefore gives such an answer ``private, no-store`` when the
view set no Cache-Control of its own, and adds ``Vary: Authorization`` (RFC 9110 §12.5.5) to it and to every
``private`` answer (private files and invoices), so a cache never serves one user's answer to another token.
"""

from django.utils.cache import patch_vary_headers

#: Cache-Control of an authenticated JSON answer that set none itself.
AUTHENTICATED_JSON_CACHE_CONTROL = "private, no-store"


def cache_headers_for(has_authorization: bool, content_type: str, cache_control: str | None) -> tuple[str | None, bool]:
    """Decide, from the request's ``Authorization`` presence and the response's Content-Type and Cache-Control,
    (the Cache-Control to set or None to leave it, whether to add ``Vary: Authorization``). Pure."""
    if not has_authorization:
        return None, False
    is_json = content_type.split(";", 1)[0].strip().lower() in ("application/json", "application/problem+json")
    if is_json and not cache_control:
        return AUTHENTICATED_JSON_CACHE_CONTROL, True
    private = cache_control is not None and "private" in cache_control.lower()
    return None, is_json or private


class AuthenticatedCacheControlMiddleware:
    """Applies `cache_headers_for` to every response (see the module docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        cache_control, vary = cache_headers_for(
            "authorization" in request.headers, response.get("Content-Type", ""), response.get("Cache-Control")
        )
        if cache_control:
            response["Cache-Control"] = cache_control
        if vary:
            patch_vary_headers(response, ["Authorization"])
        return response
