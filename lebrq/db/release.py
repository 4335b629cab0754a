"""Give a request's database connections back to the pool once its response is built, before its body is sent.

Django returns a request's connections when the response is closed (``request_finished``), that is after the
whole body has been written to the client. Under ASGI a client that reads slowly, or never, then keeps one of the
worker's few pooled connections (`DB_POOL_SIZE` + `DB_MAX_OVERFLOW`) for as long as it takes: four such clients
and every other request waits ``DB_POOL_TIMEOUT`` for a 503. File downloads already give their connections back
before streaming (`lebrq.http.streaming.release_db_connections`); `ReleaseConnectionsMiddleware` does the same for
every other response — JSON, HTML, redirects — whose content is complete once the view and the middleware inside
it have returned (a template response is rendered by then).
"""

from lebrq.http.streaming import release_db_connections


class ReleaseConnectionsMiddleware:
    """Django middleware (outermost of the synchronous ones): after the response is built, its connections are
    closed, which returns them to the pool. Streaming responses are left alone: they may still read the
    database while their body is produced, and the file responses release theirs themselves. A connection inside
    a transaction (``atomic``) is left alone too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not response.streaming:
            release_db_connections()
        return response
