"""Decisions made from the request head alone, before any byte of the body is read (`HeadGuard`).

Django's ASGI handler receives the whole request body (spooling it to disk) before any middleware or view runs, so
a 401, 405 or 413 that a view would give costs the server the whole body first. For every request that declares a
body (``Content-Length`` above 0, or ``Transfer-Encoding``), `HeadGuard` answers at once, in the API's JSON error
shape (`lebrq.errors`), when:

1. the path resolves to no view: 404 ``not_found``;
2. the view needs authentication and the request has no valid bearer token: 401 (``not_authenticated``,
   ``token_expired`` or ``token_invalid``, the codes the API's authentication gives, with
   ``WWW-Authenticate: Bearer realm="api"``) — CORS preflights (``OPTIONS``) never carry a token and pass;
3. the view has no handler for the method: 405 ``method_not_allowed`` with ``Allow``;
4. the endpoint takes no body (``GET``, ``HEAD``, ``DELETE``, ``OPTIONS``, and the health endpoints): 413;
5. a body other than an upload without a ``Content-Length``: 411; one above ``DATA_UPLOAD_MAX_MEMORY_SIZE``: 413.
   Uploads have their own per-kind limits (`lebrq.http.guards.UploadLimitGuard`).

It also holds at most ``UPLOADS_PER_USER`` uploads of one user at once in this worker process (429
``too_many_uploads`` with ``Retry-After`` beyond), the user being the token's ``user_id`` claim.

What a view needs is read once per (view, method) (`route_for`) from the view's own ``get_permissions()``, called
on an instance that knows the method (and a viewset's action) but no body, user or URL arguments — so a view that
gives each method its own permissions is judged per method; one whose choice needs more falls back to its class's
``permission_classes``. DRF views are "public" when all those permissions are `AllowAny` (or they have no
``authentication_classes``); any other permission (the default `IsAuthenticated`) needs a token. A token is
valid when its signature and expiry check out (simplejwt's `AccessToken`, no database query); the view still
checks that its user exists.
"""

import dataclasses
import functools
import logging
from collections import Counter
from dataclasses import dataclass

from django.urls import Resolver404, get_resolver
from rest_framework.permissions import AllowAny

from lebrq.errors import error_body
from lebrq.http.admission import EXEMPT_PATHS
from lebrq.http.guards import header, send_json
from lebrq.sizes import human_size
from lebrq.upload_kinds import UPLOAD_PATH

logger = logging.getLogger("lebrq.http")

#: Methods whose requests carry no body here (RFC 9110 §9.3: a body on them has no defined meaning).
BODYLESS_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS", "TRACE"})


@dataclass(frozen=True)
class Route:
    """What a view needs from a request with a given method.

    ``known``: the path resolves to a view; ``allowed``: the view handles the method (``allow`` lists those it
    handles, for a 405's ``Allow``); ``needs_auth``: a bearer token is required; ``takes_body``: a body has a
    meaning; ``upload``: the body is an upload, limited by kind rather than by ``DATA_UPLOAD_MAX_MEMORY_SIZE``;
    ``files``: a multipart body may carry files (plain Django views such as the admin), which Django does not count
    against ``DATA_UPLOAD_MAX_MEMORY_SIZE`` either.
    """

    known: bool
    allowed: bool = True
    allow: str = ""
    needs_auth: bool = False
    takes_body: bool = True
    upload: bool = False
    files: bool = False


UNKNOWN = Route(known=False)


@dataclass(frozen=True)
class Refusal:
    """An early answer: HTTP ``status``, the error body's ``detail`` and ``code``, extra response ``headers``."""

    status: int
    detail: str
    code: str
    headers: tuple[tuple[str, str], ...] = ()


def decide(
    method: str,
    route: Route,
    length: int | None,
    chunked: bool,
    credentials: str,
    max_body: int | None,
    multipart: bool,
) -> Refusal | None:
    """The `Refusal` for a request that declares a body, or None to let it through.

    ``length``: its ``Content-Length`` (bytes) or None; ``chunked``: it has a ``Transfer-Encoding`` instead;
    ``multipart``: its ``Content-Type`` is ``multipart/form-data``;
    ``credentials``: "missing", "expired", "invalid" or "valid" (its bearer token, `bearer_token`); ``max_body``:
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (bytes, None for no limit). The order is DRF's: authentication before the
    method check.
    """
    if not route.known:
        return Refusal(404, "Not found.", "not_found")
    if route.needs_auth and method != "OPTIONS" and credentials != "valid":
        challenge = (("WWW-Authenticate", 'Bearer realm="api"'),)
        if credentials == "missing":
            return Refusal(401, "Authentication credentials were not provided.", "not_authenticated", challenge)
        if credentials == "expired":
            return Refusal(401, "Token has expired.", "token_expired", challenge)
        return Refusal(401, "Token is invalid.", "token_invalid", challenge)
    if not route.allowed:
        return Refusal(405, f'Method "{method}" not allowed.', "method_not_allowed", (("Allow", route.allow),))
    if not route.takes_body or method in BODYLESS_METHODS:
        return Refusal(413, f"{method} requests to this endpoint take no body.", "payload_too_large")
    if route.upload or (route.files and multipart):
        return None
    if length is None:
        if chunked:
            return Refusal(411, "Request bodies need a Content-Length header.", "length_required")
        return None
    if max_body is not None and length > max_body:
        return Refusal(413, f"The request body may be at most {human_size(max_body)}.", "payload_too_large")
    return None


@functools.lru_cache(maxsize=256)
def _route_of_view(view, method: str) -> Route:
    cls = getattr(view, "cls", None)
    if cls is None:  # a plain Django view (health, admin): no permission classes to read
        return Route(known=True, files=True)
    initkwargs = getattr(view, "initkwargs", {}) or {}
    actions = getattr(view, "actions", None)
    if actions is not None:  # a viewset route: method -> action
        handled = {name.upper() for name in actions}
    else:
        handled = {name.upper() for name in cls.http_method_names if hasattr(cls, name)}
    if "GET" in handled:
        handled.add("HEAD")
    handled.add("OPTIONS")
    authentications = initkwargs.get("authentication_classes", cls.authentication_classes)
    permissions = _permissions_for(cls, initkwargs, actions, method)
    needs_auth = bool(authentications) and any(not isinstance(permission, AllowAny) for permission in permissions)
    return Route(
        known=True,
        allowed=method in handled,
        allow=", ".join(sorted(handled)),
        needs_auth=needs_auth,
    )


class _HeadOnlyRequest:
    """What a view's ``get_permissions`` may read before a request exists: its method; anything else raises."""

    def __init__(self, method: str):
        self.method = method

    def __getattr__(self, name):
        raise AttributeError(f"{name} is not known from the request head")


def _permissions_for(cls, initkwargs: dict, actions: dict | None, method: str) -> list:
    """The permission instances the view gives ``method``: its own ``get_permissions()``, on an instance set up
    as DRF's dispatch would (``initkwargs``, the viewset's ``action`` for the method, ``request.method``) but
    with no body, user or URL arguments. A view whose choice needs more than the method (it raises) gets its
    class-level ``permission_classes``, instantiated."""
    view = cls(**initkwargs)
    view.request = _HeadOnlyRequest(method)
    view.args, view.kwargs, view.format_kwarg = (), {}, None
    if actions is not None:
        view.action_map = actions
        view.action = actions.get(method.lower(), "metadata" if method == "OPTIONS" else None)
    try:
        return list(view.get_permissions())
    except Exception:  # needs what only the full request has
        return [permission() for permission in initkwargs.get("permission_classes", cls.permission_classes)]


def route_for(method: str, path: str) -> Route:
    """The `Route` of ``method`` on ``path`` (Django's URL resolver; the view's analysis is cached)."""
    try:
        match = get_resolver().resolve(path)
    except Resolver404:
        return UNKNOWN
    route = _route_of_view(match.func, method)
    if EXEMPT_PATHS.match(path):
        return Route(known=True, takes_body=False)
    if method == "POST" and UPLOAD_PATH.match(path):
        return dataclasses.replace(route, upload=True)
    return route


def bearer_token(scope) -> tuple[str, object]:
    """("missing" | "expired" | "invalid" | "valid", the user id claim or None) for the request's
    ``Authorization``; the scheme name is case-insensitive (RFC 9110 §11.1)."""
    from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
    from rest_framework_simplejwt.settings import api_settings
    from rest_framework_simplejwt.tokens import AccessToken

    value = header(scope, b"authorization")
    if not value:
        return "missing", None
    parts = value.split()
    if len(parts) != 2 or parts[0].lower() not in {kind.lower() for kind in api_settings.AUTH_HEADER_TYPES}:
        return "missing", None
    try:
        token = AccessToken(parts[1])
    except ExpiredTokenError:
        return "expired", None
    except TokenError:
        return "invalid", None
    return "valid", token.get(api_settings.USER_ID_CLAIM)


class HeadGuard:
    """ASGI guard applying `decide` to requests that declare a body, and the per-user upload limit.

    ``max_body``: ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (bytes or None); ``uploads_per_user``: uploads of one user at
    once (per worker process); ``retry_after``: seconds in the 429's ``Retry-After``.
    """

    def __init__(self, app, max_body: int | None, uploads_per_user: int, retry_after: int):
        self.app = app
        self.max_body = max_body
        self.uploads_per_user = uploads_per_user
        self.retry_after = retry_after
        self.uploads: Counter = Counter()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length_header = header(scope, b"content-length")
        chunked = header(scope, b"transfer-encoding") is not None
        length = int(length_header) if length_header and length_header.isdigit() else None
        if not chunked and not length:
            return await self.app(scope, receive, send)
        method, path = scope["method"], scope["path"]
        route = route_for(method, path)
        credentials, user = bearer_token(scope) if route.needs_auth or route.upload else ("missing", None)
        multipart = (header(scope, b"content-type") or "").lower().startswith("multipart/form-data")
        refusal = decide(method, route, length, chunked, credentials, self.max_body, multipart)
        if refusal is not None:
            logger.info("[Early] %d %s for %s %s", refusal.status, refusal.code, method, path)
            body = error_body(refusal.detail, refusal.code)
            return await send_json(send, refusal.status, body, dict(refusal.headers))
        if not route.upload or user is None:
            return await self.app(scope, receive, send)
        if self.uploads[user] >= self.uploads_per_user:
            detail = f"At most {self.uploads_per_user} uploads of one user may run at once; retry shortly."
            body = {**error_body(detail, "too_many_uploads"), "retry_after": self.retry_after}
            return await send_json(send, 429, body, {"Retry-After": str(self.retry_after)})
        self.uploads[user] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.uploads[user] -= 1
            if not self.uploads[user]:
                del self.uploads[user]
