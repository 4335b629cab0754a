"""ASGI entry point: Django wrapped in the project's pure-ASGI guards (`lebrq.http.guards`).

Order, outermost first: `CorsHeadersGuard` (CORS headers on the guards' answers too), `MemoryGuard` (shed before
anything else), `HeadGuard` (404/401/405/413/411/429 on the request head, `lebrq.http.early`), `UploadLimitGuard`
(413/411 on headers), `AdmissionPoint` (where the concurrency cap counts, `lebrq.http.gate`), Django.
``MEMORY_PROTECTION_ENABLED=0`` removes the memory guard (the seed's rollback switch); the head and upload limits
stay, since they are input validation rather than memory protection.
"""

import logging
import os
import threading
from importlib import import_module

# Django's ASGI handler, spooling request bodies into FILE_UPLOAD_TEMP_DIR rather than /tmp.
from lebrq.http.asgi_handler import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lebrq.settings")
django_application = get_asgi_application()

from django.conf import settings  # noqa: E402  (after Django is set up)

from lebrq.checks import run_startup_checks  # noqa: E402
from lebrq.http.cors import CorsHeadersGuard  # noqa: E402
from lebrq.http.early import HeadGuard  # noqa: E402
from lebrq.http.gate import AdmissionPoint  # noqa: E402
from lebrq.http.guards import MemoryGuard, UploadLimitGuard  # noqa: E402
from lebrq.memory import MemorySampler, MiB, freeze_heap, set_mmap_threshold  # noqa: E402

logger = logging.getLogger("lebrq.memory")


def build_application():
    """Django's ASGI app, guarded as the settings say, inside `CorsHeadersGuard` (so that the guards' own answers
    carry CORS headers too); logs one "Memory protection" line with its settings."""
    return CorsHeadersGuard(_guarded_application())


def _guarded_application():
    limited = UploadLimitGuard(AdmissionPoint(django_application), settings.UPLOAD_MAX_BYTES)
    limited = HeadGuard(
        limited, settings.DATA_UPLOAD_MAX_MEMORY_SIZE, settings.UPLOADS_PER_USER, settings.UPLOAD_RETRY_AFTER
    )
    if not settings.MEMORY_PROTECTION_ENABLED:
        logger.info("Memory protection disabled (MEMORY_PROTECTION_ENABLED=0)")
        return limited
    sampler = MemorySampler(
        interval=settings.MEMORY_SAMPLE_INTERVAL,
        rss_cap_bytes=settings.MEMORY_MAX_RSS_MB * MiB if settings.MEMORY_MAX_RSS_MB else None,
        gc_interval=settings.MEMORY_GC_INTERVAL,
    )
    guarded = MemoryGuard(
        limited,
        sampler,
        threshold=settings.MEMORY_THRESHOLD_PERCENT,
        critical=settings.MEMORY_CRITICAL_PERCENT,
        retry_after=settings.MEMORY_RETRY_AFTER,
    )
    reading = sampler.latest
    logger.info(
        "Memory protection enabled: threshold %.0f%%, critical %.0f%%, source %s, usage %.1f%%, "
        "sample every %.2fs, per-process cap %s MB, periodic GC %s",
        settings.MEMORY_THRESHOLD_PERCENT,
        settings.MEMORY_CRITICAL_PERCENT,
        reading.source,
        reading.used_percent,
        settings.MEMORY_SAMPLE_INTERVAL,
        settings.MEMORY_MAX_RSS_MB or "none",
        f"every {settings.MEMORY_GC_INTERVAL:.0f}s" if settings.MEMORY_GC_INTERVAL else "off",
    )
    return guarded


run_startup_checks()  # uvicorn and gunicorn never run system checks: a bad setting stops the start here
if settings.MALLOC_MMAP_THRESHOLD_BYTES:
    pinned = set_mmap_threshold(settings.MALLOC_MMAP_THRESHOLD_BYTES)
    logger.info(
        "malloc mmap threshold %s at %d bytes (MALLOC_MMAP_THRESHOLD_BYTES)",
        "fixed" if pinned else "NOT set (no glibc mallopt, or the value was refused)",
        settings.MALLOC_MMAP_THRESHOLD_BYTES,
    )
application = build_application()

gc_logger = logging.getLogger("lebrq.gc")
if settings.GC_FREEZE:
    import_module(settings.ROOT_URLCONF)  # and with it every view, serializer and model it reaches
    gc_logger.info("[GC] Froze %d start-up objects (gc.freeze)", freeze_heap())
    if settings.GC_FREEZE_WARM_AFTER > 0:
        warm = threading.Timer(
            settings.GC_FREEZE_WARM_AFTER,
            lambda: gc_logger.info("[GC] Froze %d objects after warm-up (gc.freeze)", freeze_heap()),
        )
        warm.daemon = True
        warm.start()
