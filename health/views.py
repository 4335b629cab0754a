"""Health endpoints: liveness (no DB), readiness (DB), memory report and DB pool state."""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse

from lebrq.http.guards import MemoryGuard
from lebrq.memory import MiB, read_memory

GiB = 1024 * MiB


def liveness(request):
    """``GET /health`` and ``/api/health``: ``{"status": "ok"}``; never touches the database."""
    return JsonResponse({"status": "ok"})


def detailed(request):
    """``GET /api/health/detailed``: runs ``SELECT 1``; 503 naming the failing check when the DB is down."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        body = {"status": "unhealthy", "checks": {"database": {"status": "down", "error": str(exc)[:200]}}}
        return JsonResponse(body, status=503)
    return JsonResponse({"status": "ok", "checks": {"database": {"status": "ok", "vendor": connection.vendor}}})


def memory_status(used_percent: float, threshold: float, critical: float) -> str:
    """``"ok"`` below ``threshold`` percent, ``"warning"`` up to ``critical``, ``"critical"`` from there."""
    if used_percent >= critical:
        return "critical"
    return "warning" if used_percent >= threshold else "ok"


def memory(request):
    """``GET /api/health/memory``: the original app's JSON (GB figures, percent, status) plus source, RSS and
    the shedding stage of this worker's memory guard."""
    reading = read_memory(rss_cap_bytes=settings.MEMORY_MAX_RSS_MB * MiB or None)
    guard = MemoryGuard.active
    return JsonResponse(
        {
            "total_gb": round(reading.total_bytes / GiB, 2),
            "available_gb": round(reading.available_bytes / GiB, 2),
            "used_gb": round(reading.used_bytes / GiB, 2),
            "used_percent": round(reading.used_percent, 1),
            "threshold_percent": settings.MEMORY_THRESHOLD_PERCENT,
            "status": memory_status(
                reading.used_percent, settings.MEMORY_THRESHOLD_PERCENT, settings.MEMORY_CRITICAL_PERCENT
            ),
            "source": reading.source,
            "process_rss_mb": round(reading.process_rss_bytes / MiB, 1),
            "protection_enabled": settings.MEMORY_PROTECTION_ENABLED,
            "shedding": guard.state if guard else "off",
        }
    )


def pool(request):
    """``GET /api/health/pool``: the per-process DB pool's size, overflow and checked-out connections."""
    from dj_db_conn_pool.core import pool_container

    body = {
        "vendor": connection.vendor,
        "pool_size": settings.DB_POOL_SIZE,
        "max_overflow": settings.DB_MAX_OVERFLOW,
        "max_connections": settings.DB_POOL_SIZE + settings.DB_MAX_OVERFLOW,
        "pooled": pool_container.has(connection.alias),
        "checked_out": 0,
        "checked_in": 0,
        "overflow": 0,
    }
    if body["pooled"]:
        queue_pool = pool_container.get(connection.alias)
        body.update(
            checked_out=queue_pool.checkedout(),
            checked_in=queue_pool.checkedin(),
            overflow=max(queue_pool.overflow(), 0),
        )
    return JsonResponse(body)
