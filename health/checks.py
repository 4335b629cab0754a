"""Readiness checks: each a small class with one method, listed in one registry, run by one view.

The pattern is django-health-check's. A check's ``check()`` returns a dict of details when the dependency is
fine and raises `CheckFailed` (with a message and details) when it is not; `run_checks` runs the registry and
reports every check the same way: ``{"status": "ok", **details}`` or ``{"status": "down", "error": str,
**details}``. Any other exception from a check counts as ``down`` with its message.

Checks (in `READINESS_CHECKS`, run in that order):
- ``pool``: the process's saturation, ``in_use / max_connections`` in percent: the request threads
  (`lebrq.http.executor`, one per connection a worker may hold) busy with other requests than this one; down
  from ``HEALTH_POOL_MAX_PERCENT`` (default 100: no thread, so no connection, left).
- ``database``: ``SELECT 1`` on the default database.
- ``media_root`` and ``file_upload_temp_dir``: free space on the filesystem of that directory; down below
  ``HEALTH_DISK_MIN_FREE_BYTES`` bytes or below ``HEALTH_DISK_MIN_FREE_PERCENT`` percent of its size.
"""

import shutil

from django.conf import settings
from django.db import connection


class CheckFailed(Exception):
    """Raised by a check's ``check()``: ``message`` says why, ``details`` go into the report."""

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details


class HealthCheck:
    """One readiness check: ``name`` keys its report, ``check()`` returns details or raises `CheckFailed`."""

    name: str = ""

    def check(self) -> dict:
        raise NotImplementedError


class DatabaseCheck(HealthCheck):
    """``SELECT 1`` on the default database; details ``{"vendor": "mysql" | "sqlite"}``."""

    name = "database"

    def check(self) -> dict:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return {"vendor": connection.vendor}


def pool_state() -> dict:
    """The default database's connection pool in this process: ``vendor``, ``pool_size``, ``max_overflow``,
    ``max_connections`` (pool size + overflow), ``pooled`` (whether a pool exists yet: only MariaDB/MySQL has
    one, created on the first connection) and SQLAlchemy's ``checked_out``, ``checked_in``, ``overflow`` (each
    request thread keeps its connection checked out), and ``in_use``: request threads busy with other requests
    than the caller's (`lebrq.http.executor.RequestThreads.busy_elsewhere`)."""
    from dj_db_conn_pool.core import pool_container

    from lebrq.http.executor import request_threads

    state = {
        "vendor": connection.vendor,
        "pool_size": settings.DB_POOL_SIZE,
        "max_overflow": settings.DB_MAX_OVERFLOW,
        "max_connections": settings.DB_POOL_SIZE + settings.DB_MAX_OVERFLOW,
        "pooled": pool_container.has(connection.alias),
        "checked_out": 0,
        "checked_in": 0,
        "overflow": 0,
        "in_use": request_threads().busy_elsewhere(),
    }
    if state["pooled"]:
        queue_pool = pool_container.get(connection.alias)
        state.update(
            checked_out=queue_pool.checkedout(),
            checked_in=queue_pool.checkedin(),
            overflow=max(queue_pool.overflow(), 0),
        )
    return state


class PoolCheck(HealthCheck):
    """Saturation of the worker: ``{"in_use", "max_connections", "saturation_percent"}``, ``in_use`` being the
    request threads (each with its DB connection) busy with other requests; down at ``HEALTH_POOL_MAX_PERCENT``
    or above (a new request would wait up to ``DB_POOL_TIMEOUT`` seconds)."""

    name = "pool"

    def check(self) -> dict:
        state = pool_state()
        maximum = state["max_connections"]
        percent = round(100.0 * state["in_use"] / maximum, 1) if maximum else 0.0
        details = {"in_use": state["in_use"], "max_connections": maximum, "saturation_percent": percent}
        if percent >= settings.HEALTH_POOL_MAX_PERCENT:
            raise CheckFailed(
                f"{state['in_use']} of {maximum} request threads (one DB connection each) are in use "
                f"(limit {settings.HEALTH_POOL_MAX_PERCENT:g}%).",
                **details,
            )
        return details


class DiskCheck(HealthCheck):
    """Free space where the directory named by setting ``setting`` lives: ``{"path", "free_bytes",
    "total_bytes", "free_percent"}``; down when the directory is missing or free space is below
    ``HEALTH_DISK_MIN_FREE_BYTES`` bytes or ``HEALTH_DISK_MIN_FREE_PERCENT`` percent."""

    def __init__(self, name: str, setting: str):
        self.name = name
        self.setting = setting

    def check(self) -> dict:
        path = str(getattr(settings, self.setting))
        try:
            usage = shutil.disk_usage(path)
        except OSError as exc:
            raise CheckFailed(f"{self.setting} is not usable: {exc.strerror}.", path=path) from exc
        percent = round(100.0 * usage.free / usage.total, 1) if usage.total else 0.0
        details = {"path": path, "free_bytes": usage.free, "total_bytes": usage.total, "free_percent": percent}
        min_bytes, min_percent = settings.HEALTH_DISK_MIN_FREE_BYTES, settings.HEALTH_DISK_MIN_FREE_PERCENT
        if usage.free < min_bytes or percent < min_percent:
            raise CheckFailed(
                f"{usage.free} bytes ({percent:g}%) free in {self.setting}; at least {min_bytes} bytes and "
                f"{min_percent:g}% are needed.",
                **details,
            )
        return details


#: The readiness checks, in the order they run.
READINESS_CHECKS: list[HealthCheck] = [
    PoolCheck(),
    DatabaseCheck(),
    DiskCheck("media_root", "MEDIA_ROOT"),
    DiskCheck("file_upload_temp_dir", "FILE_UPLOAD_TEMP_DIR"),
]


def run_checks(checks: list[HealthCheck]) -> tuple[list[str], dict[str, dict]]:
    """Run ``checks`` in order; returns ``(failing, reports)``: the names of the checks that are down and each
    check's report keyed by name (``{"status": "ok", ...}`` or ``{"status": "down", "error": str, ...}``)."""
    failing, reports = [], {}
    for health_check in checks:
        try:
            reports[health_check.name] = {"status": "ok", **health_check.check()}
        except CheckFailed as exc:
            reports[health_check.name] = {"status": "down", "error": exc.message, **exc.details}
        except Exception as exc:  # a check that breaks reports its dependency as down
            reports[health_check.name] = {"status": "down", "error": str(exc)[:200]}
        if reports[health_check.name]["status"] != "ok":
            failing.append(health_check.name)
    return failing, reports
