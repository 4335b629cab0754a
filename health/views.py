"""Health endpoints: liveness (no DB), readiness (`health.checks`), memory report and DB pool state."""

from django.conf import settings
from django.http import JsonResponse

from accounts.authentication import BearerTokenAuthentication
from lebrq.errors import error_body
from lebrq.http.forwarded import address_in, parse_networks, request_client_address
from lebrq.http.guards import MemoryGuard
from lebrq.memory import MiB, read_memory

from .checks import READINESS_CHECKS, pool_state, run_checks

GiB = 1024 * MiB


def liveness(request):
    """``GET /health`` and ``/api/health``: ``{"status": "ok"}``; never touches the database."""
    return JsonResponse({"status": "ok"})


def may_see_details(request) -> bool:
    """Whether the caller may see readiness details (paths, free bytes, pool internals): a client address in
    ``HEALTH_ALLOWED_IPS`` (behind ``TRUSTED_PROXIES``, see `lebrq.http.forwarded`), or a staff bearer token."""
    trusted = parse_networks(settings.TRUSTED_PROXIES)
    if address_in(request_client_address(request.META, trusted), parse_networks(settings.HEALTH_ALLOWED_IPS)):
        return True
    try:
        authenticated = BearerTokenAuthentication().authenticate(request)
    except Exception:  # any bad token: just not staff
        return False
    return authenticated is not None and authenticated[0].is_staff


def detailed(request):
    """``GET /api/health/detailed``: readiness. Runs `READINESS_CHECKS` (pool, database, disks) and answers
    200 ``{"status": "ok", "failing": [], "checks": {name: report}}``, or 503 with ``"status": "unhealthy"``, the
    failing checks named in ``failing`` (see `health.checks` for the reports) and the error body's four keys (code
    ``unhealthy``). ``checks`` only for callers
    that `may_see_details`; others (a load balancer elsewhere) get the same status and ``failing``."""
    failing, reports = run_checks(READINESS_CHECKS)
    body = {"status": "unhealthy" if failing else "ok", "failing": failing}
    if failing:  # an error like every other: the error body (lebrq.errors), code "unhealthy"
        body.update(error_body(f"Not ready: {', '.join(failing)} failing.", "unhealthy"))
    if may_see_details(request):
        body["checks"] = reports
    return JsonResponse(body, status=503 if failing else 200)


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
    """``GET /api/health/pool``: the per-process DB pool's size, overflow and checked-out connections
    (`health.checks.pool_state`)."""
    return JsonResponse(pool_state())
