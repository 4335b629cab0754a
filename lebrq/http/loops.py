"""Event loops for uvicorn whose TLS servers give up on a handshake after ``TLS_HANDSHAKE_TIMEOUT`` seconds.

uvicorn creates its listening server without ``ssl_handshake_timeout``, so asyncio and uvloop wait 60 s for a
client that opens a TLS connection and never finishes the handshake — and the project's protocol only sees the
connection once the handshake is done. These loops fill that argument from the setting (default 10 s). Select
one by import string, for uvicorn's ``--loop`` or ``UVICORN_LOOP`` (set in deploy/lebrq.env.example, the uvicorn
unit and ``make run``):

- ``lebrq.http.loops:new_event_loop``: uvloop when it is installed, else asyncio (uvicorn's "auto");
- ``lebrq.http.loops:UVLoop`` and ``lebrq.http.loops:AsyncioLoop``: one of them explicitly.
"""

import asyncio


def handshake_timeout() -> float:
    """``TLS_HANDSHAKE_TIMEOUT`` (seconds) from Django's settings, which uvicorn has loaded by then."""
    from django.conf import settings

    return settings.TLS_HANDSHAKE_TIMEOUT


class HandshakeTimeoutMixin:
    """`create_server` with ``ssl_handshake_timeout`` = `handshake_timeout` for TLS servers that set none."""

    async def create_server(self, *args, **kwargs):
        if kwargs.get("ssl") is not None and kwargs.get("ssl_handshake_timeout") is None:
            kwargs["ssl_handshake_timeout"] = handshake_timeout()
        return await super().create_server(*args, **kwargs)


class AsyncioLoop(HandshakeTimeoutMixin, asyncio.SelectorEventLoop):
    """asyncio's selector loop with `HandshakeTimeoutMixin`."""


try:
    import uvloop
except ImportError:  # uvloop is not installed: asyncio only
    UVLoop = None
    new_event_loop = AsyncioLoop
else:

    class UVLoop(HandshakeTimeoutMixin, uvloop.Loop):
        """uvloop's loop with `HandshakeTimeoutMixin`."""

    new_event_loop = UVLoop
