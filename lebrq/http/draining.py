"""A uvicorn `Server` that keeps telling gunicorn it is alive while it drains.

uvicorn sends gunicorn's heartbeat (``callback_notify``) from its main loop only. Once a worker starts shutting
down — after ``max_requests``, or on SIGTERM/SIGHUP — that loop has ended while in-flight requests (a 60 s
download) finish, so after gunicorn's ``timeout`` (30 s) the master takes the draining worker for stuck and
kills it (``WORKER TIMEOUT``, SIGABRT), cutting the download. `DrainingServer` keeps the heartbeat going during
the shutdown; the shutdown itself is bounded by uvicorn's ``timeout_graceful_shutdown``, which
`lebrq.workers.UvicornWorker` sets from gunicorn's ``graceful_timeout``.
"""

import asyncio
import contextlib

from uvicorn.server import Server

#: Seconds between heartbeats while draining (gunicorn's ``timeout`` is 30 s by default).
HEARTBEAT_INTERVAL = 1.0


class DrainingServer(Server):
    """uvicorn's `Server` sending ``config.callback_notify`` every `HEARTBEAT_INTERVAL` seconds while it shuts
    down, so that a draining worker is never taken for a stuck one."""

    async def shutdown(self, sockets=None) -> None:
        notify = self.config.callback_notify
        heartbeat = asyncio.create_task(self._heartbeat(notify)) if notify is not None else None
        try:
            await super().shutdown(sockets)
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat

    @staticmethod
    async def _heartbeat(notify) -> None:
        while True:
            await notify()
            await asyncio.sleep(HEARTBEAT_INTERVAL)
