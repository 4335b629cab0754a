"""CORS headers for answers sent before Django (the ASGI guards' 411/413/503, the upload spooler's 507).

Django's own responses get theirs from django-cors-headers' middleware (preflights included). An answer sent by
an ASGI layer in front of Django would carry none, and a browser would then hide its status and body from the
page's script. `cors_headers` asks django-cors-headers' middleware itself what it would add for the request
(one decision, one configuration: ``CORS_ALLOWED_ORIGINS`` and friends), and `CorsHeadersGuard`, the outermost
ASGI layer, adds those headers to every answer that has none.
"""

from corsheaders.middleware import CorsMiddleware
from django.http import HttpRequest, HttpResponse

_middleware = CorsMiddleware(get_response=lambda request: HttpResponse())


def cors_headers(method: str, path: str, origin: str) -> list[tuple[str, str]]:
    """The ``Access-Control-*`` headers (and ``Vary: origin``) django-cors-headers gives a ``method`` request
    for ``path`` from ``origin``; empty when that origin is not allowed or the path is outside
    ``CORS_URLS_REGEX``."""
    request = HttpRequest()
    request.method = method
    request.path = request.path_info = path
    request.META = {"HTTP_ORIGIN": origin, "REQUEST_METHOD": method}
    response = HttpResponse()
    _middleware.add_response_headers(request, response)
    if "access-control-allow-origin" not in response.headers:
        return []
    return [(name, value) for name, value in response.items() if name.lower().startswith("access-control-")] + [
        ("Vary", "origin")
    ]


class CorsHeadersGuard:
    """Pure-ASGI wrapper: a request with an ``Origin`` header whose answer has no ``Access-Control-Allow-Origin``
    gets `cors_headers` added to it (answers from Django already have them when they are due)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        origin = next((value for name, value in scope.get("headers", ()) if name == b"origin"), None)
        if origin is None:
            return await self.app(scope, receive, send)

        async def send_with_cors(message):
            if message["type"] == "http.response.start":
                present = {bytes(name).lower() for name, _ in message.get("headers", ())}
                if b"access-control-allow-origin" not in present:
                    extra = cors_headers(scope["method"], scope["path"], origin.decode("latin-1"))
                    if extra:
                        encoded = [(name.lower().encode(), value.encode("latin-1")) for name, value in extra]
                        message = {**message, "headers": [*message.get("headers", ()), *encoded]}
            await send(message)

        await self.app(scope, receive, send_with_cors)
