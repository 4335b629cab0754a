"""Throttles of the endpoints that cost a password hash or send mail (login, register, password reset), and of
the admin's login page.

Two counters per endpoint (``throttle_scope`` of the view), both in the ``default`` cache (``CACHE_URL``) that
every worker shares:

- `AddressThrottle`: requests from one client address, ``THROTTLE_ADDRESS_RATE``;
- `AccountAddressThrottle`: requests naming one account (username or e-mail, case-folded) from one client
  address, ``THROTTLE_ACCOUNT_ADDRESS_RATE``. Guessing one account's password from one place stops, while its
  owner can still log in from anywhere else. There is deliberately no account-wide refusal: it would let anyone
  lock a customer out.

The client address is `lebrq.http.forwarded.request_client_address` (X-Forwarded-For only through
``TRUSTED_PROXIES``). A refused request gets 429 ``throttled`` with ``Retry-After`` (DRF's `Throttled`) before the
view runs, so it costs no password hash. When the cache cannot be reached the throttled endpoints fail closed:
503 ``throttle_unavailable`` with ``Retry-After`` (`ThrottleUnavailable`), and a warning is logged; bearer tokens
and refreshes keep working meanwhile, since they do not use the cache.
"""

import contextlib
import fcntl
import hashlib
import logging
import os
import threading
from collections.abc import Mapping

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from lebrq.http.forwarded import parse_networks, request_client_address

from .exceptions import ThrottleUnavailable

logger = logging.getLogger("lebrq.accounts")


def client_address(request) -> str:
    """The request's client address (see the module docstring)."""
    return request_client_address(request.META, parse_networks(settings.TRUSTED_PROXIES))


def account_named(request, fields=("username", "email")) -> str:
    """The first of ``fields`` in the request's body (JSON for DRF, the form for the admin), stripped and
    case-folded; "" when there is none."""
    data = getattr(request, "data", None)
    if data is None:
        data = request.POST
    if not isinstance(data, Mapping):
        return ""
    for field in fields:
        value = data.get(field)
        if isinstance(value, str) and value.strip():
            return value.strip().casefold()
    return ""


@contextlib.contextmanager
def _counter_lock(directory: str | None):
    """An exclusive ``flock`` on ``<directory>/.throttle.lock`` while a counter of the file cache (whose
    directory it is) is read and rewritten, so that the workers of one machine never lose each other's counts;
    nothing for other caches (``directory`` None: Redis counts atomically, local memory is one process's)."""
    if directory is None:
        yield
        return
    os.makedirs(directory, exist_ok=True)
    fd = os.open(os.path.join(directory, ".throttle.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


class _SharedRateThrottle(SimpleRateThrottle):
    """DRF's `SimpleRateThrottle` (rates as "N/period", `Throttled` with ``Retry-After``) counting in fixed
    windows of one period with atomic cache operations instead of its read-modify-write request history, which
    lets every one of a burst of concurrent requests read the same history and pass.

    A window's counter is created with `cache.add` and advanced with `cache.incr`: atomic on Redis (``SET NX``,
    ``INCRBY``) across all workers and hosts; the file and local-memory caches read and rewrite, so one lock per
    process serialises them, and with the file cache an exclusive ``flock`` on a file in its directory serialises
    the workers of the machine too (`_counter_lock`): exact on one host. A fixed window admits at most twice the
    rate across a window's end. The rate comes from the Django setting named by ``rate_setting`` when the request
    is checked (so tests and deployments can change it). When the cache fails, so does the request
    (`ThrottleUnavailable`).
    """

    rate_setting = ""
    _lock = threading.Lock()

    def get_rate(self):
        return getattr(settings, self.rate_setting)

    def allow_request(self, request, view):
        key = self.get_cache_key(request, view)  # bad input (a body that does not parse) is a 400: raised here
        if self.rate is None or key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_end = (window + 1) * self.duration
        key = f"{key}:{window}"
        try:
            with self._lock, _counter_lock(getattr(self.cache, "_dir", None)):
                self.cache.add(key, 0, timeout=self.duration + 1)
                try:
                    count = self.cache.incr(key)
                except ValueError:  # expired between add and incr (a stalled worker): a new window
                    self.cache.set(key, 1, timeout=self.duration + 1)
                    count = 1
        except Exception as exc:  # the cache backend's own errors (redis.ConnectionError, OSError, ...)
            logger.warning("[Throttle] cache unavailable, refusing %s: %s: %s", request.path, type(exc).__name__, exc)
            raise ThrottleUnavailable() from exc
        return count <= self.num_requests

    def wait(self) -> float:
        """Seconds until the current window ends (DRF rounds it up into ``Retry-After``)."""
        return max(self.window_end - self.timer(), 1.0)

    def key(self, view, *parts: str) -> str:
        digest = hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]
        return f"throttle:{view.throttle_scope}:{self.__class__.__name__}:{digest}"


class AddressThrottle(_SharedRateThrottle):
    """Requests to ``view.throttle_scope`` from one client address."""

    rate_setting = "THROTTLE_ADDRESS_RATE"

    def get_cache_key(self, request, view):
        return self.key(view, client_address(request))


class AccountAddressThrottle(_SharedRateThrottle):
    """Requests to ``view.throttle_scope`` naming one account from one client address (none named: not
    counted here)."""

    rate_setting = "THROTTLE_ACCOUNT_ADDRESS_RATE"

    def get_cache_key(self, request, view):
        account = account_named(request, getattr(view, "throttle_account_fields", ("username", "email")))
        return self.key(view, account, client_address(request)) if account else None


AUTH_THROTTLES = [AddressThrottle, AccountAddressThrottle]
