"""Admission control: which requests a worker process takes on, counting work rather than sockets.

uvicorn's own ``--limit-concurrency N`` refuses a request when N *connections* are open, so N - 1 clients that connect
and send nothing (or made one request and keep the connection alive) make every request, health checks included, fail
with a plain-text 503. Here the same number bounds *requests being computed*: a request counts from the moment its head
is complete and has passed the checks made on the head alone (memory shedding; for requests that declare a body, the
early 404/401/405/413/411/429; `lebrq.http.gate.AdmissionPoint`) until its response starts (`http.response.start`), or
until the application returns. Idle, silent and half-sent connections, requests answered from their head, and responses
being written to a slow reader count for nothing; their cost is bounded by deadlines instead.

The decision is pure (`admits`); `lebrq.http.protocols` applies it in uvicorn's protocol classes.
"""

import re

from lebrq.errors import error_body

#: Liveness, readiness and the other health reports: never refused by the concurrency cap, never counted.
EXEMPT_PATHS = re.compile(r"^/(api/)?health(/|$)")


def admits(path: str, in_flight: int, limit: int | None) -> bool:
    """Whether a request for ``path`` may start when ``in_flight`` other requests are being computed.

    ``limit`` is the seed's ``--limit-concurrency`` (requests per worker process); None means no limit. Health
    endpoints (`EXEMPT_PATHS`) are always admitted. Otherwise the request is admitted while fewer than
    ``limit`` others are in flight, so at most ``limit`` run at once (uvicorn's own comparison, ``>=``).
    """
    if limit is None or EXEMPT_PATHS.match(path):
        return True
    return in_flight < limit


def counted(path: str) -> bool:
    """Whether a request for ``path`` counts against the limit (health endpoints do not)."""
    return not EXEMPT_PATHS.match(path)


def overload_body(retry_after: int) -> dict:
    """The project's JSON error body for a request refused by the concurrency cap (status 503).

    Shape of `lebrq.errors`: ``{"detail", "success": false, "message", "code": "overloaded", "retry_after"}``,
    ``retry_after`` in seconds, equal to the ``Retry-After`` header (RFC 9110 §10.2.3).
    """
    return error_body("The server is busy; retry shortly.", "overloaded", retry_after=retry_after)
