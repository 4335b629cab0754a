"""Django system checks of LeBRQ's settings, each with a stable ID (the settings themselves come from the
environment in `lebrq.settings`).

Errors (``lebrq.E0xx``) make ``manage.py check``, ``migrate`` and the ASGI application (`run_startup_checks`,
called by `lebrq.asgi`) refuse to go on; warnings (``lebrq.W0xx``) are reported and let them start.

- ``lebrq.E001``: ``FILE_UPLOAD_MAX_MEMORY_SIZE`` is not a positive number of bytes (0 keeps whole request bodies
  in memory under ASGI: Django's SpooledTemporaryFile never rolls over).
- ``lebrq.E002``: ``MEMORY_THRESHOLD_PERCENT`` or ``MEMORY_CRITICAL_PERCENT`` is not in (0, 100].
- ``lebrq.E003``: ``MEMORY_THRESHOLD_PERCENT`` is not below ``MEMORY_CRITICAL_PERCENT``.
- ``lebrq.E004``: ``MEMORY_SAMPLE_INTERVAL`` is not a positive number of seconds.
- ``lebrq.E005``: ``INVOICE_MAX_CONCURRENT_RENDERS`` is below 1 (no invoice could ever be rendered).
- ``lebrq.E006``: ``DB_POOL_SIZE`` is below 1.
- ``lebrq.E007``: ``DB_MAX_OVERFLOW`` is negative.
- ``lebrq.E008``: ``DB_POOL_TIMEOUT`` is not a positive number of seconds.
- ``lebrq.E009``: ``DB_CONNECT_TIMEOUT`` is not a positive number of seconds.
- ``lebrq.E010``: ``SECURE_PROXY_SSL_HEADER`` is set but not a (header, value) pair.
- ``lebrq.E011``: ``DOWNLOAD_OFFLOAD`` is neither ``x-accel`` nor empty (``off``).
- ``lebrq.E012``: ``UPLOAD_CHECK_THREADS`` is below 1 (no upload could ever be checked).
- ``lebrq.E013``: ``INVOICE_RENDERER`` is neither ``inline`` nor ``celery``.
- ``lebrq.E014``: ``INVOICE_RENDERER`` is ``celery`` but ``CELERY_BROKER_URL`` is not a Redis or RabbitMQ URL.
- ``lebrq.E020``–``E022``: ``STORAGE_DOWNLOAD`` is neither ``stream`` nor ``presigned``; ``INVOICE_STORAGE`` is
  neither empty nor an alias of ``STORAGES``; ``STORAGE_TIMEOUT`` is not a positive number of seconds.
- ``lebrq.E023``: ``MALLOC_MMAP_THRESHOLD_BYTES`` is not a number of bytes from 0 to 32 MiB.
- ``lebrq.E024``: ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is not a positive number of bytes (None would let a JSON body be
  read whole, however large).
- ``lebrq.W001``: ``FILE_UPLOAD_TEMP_DIR`` is on another filesystem than ``MEDIA_ROOT``: a finished upload is then
  copied into place instead of renamed.
"""

import logging
import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.core import checks
from django.core.files.storage import FileSystemStorage
from django.core.management.base import SystemCheckError
from django.utils.module_loading import import_string

logger = logging.getLogger("lebrq.checks")

DOWNLOAD_OFFLOAD_VALUES = ("", "off", "x-accel")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _positive(name: str, unit: str, error_id: str) -> list[checks.CheckMessage]:
    value = getattr(settings, name)
    if _is_number(value) and value > 0:
        return []
    return [checks.Error(f"{name} must be a positive number of {unit}, got {value!r}.", id=error_id)]


def check_upload_memory_size(**kwargs) -> list[checks.CheckMessage]:
    """lebrq.E001: ``FILE_UPLOAD_MAX_MEMORY_SIZE`` (bytes) > 0.

    Under ASGI it is also the size at which the request body's SpooledTemporaryFile rolls over to disk; 0 means
    "never", which keeps every upload whole in memory (see lebrq/http/asgi_handler.py).
    """
    value = settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    if _is_int(value) and value > 0:
        return []
    return [
        checks.Error(
            f"FILE_UPLOAD_MAX_MEMORY_SIZE must be a positive number of bytes, got {value!r}.",
            hint="0 keeps whole request bodies in memory under ASGI; leave it unset (64 KiB) or set a small size.",
            id="lebrq.E001",
        )
    ]


def check_memory_protection(**kwargs) -> list[checks.CheckMessage]:
    """lebrq.E002–E004: the memory guard's stages (percent of memory) and its sampling interval (seconds)."""
    errors = []
    threshold, critical = settings.MEMORY_THRESHOLD_PERCENT, settings.MEMORY_CRITICAL_PERCENT
    in_range = True
    for name, value in (("MEMORY_THRESHOLD_PERCENT", threshold), ("MEMORY_CRITICAL_PERCENT", critical)):
        if not (_is_number(value) and 0 < value <= 100):
            in_range = False
            errors.append(checks.Error(f"{name} must be a percentage in (0, 100], got {value!r}.", id="lebrq.E002"))
    if in_range and threshold >= critical:
        errors.append(
            checks.Error(
                f"MEMORY_THRESHOLD_PERCENT ({threshold}) must be below MEMORY_CRITICAL_PERCENT ({critical}).",
                hint="The guard sheds unsafe requests from the threshold and everything from the critical level.",
                id="lebrq.E003",
            )
        )
    errors += _positive("MEMORY_SAMPLE_INTERVAL", "seconds", "lebrq.E004")
    return errors


def check_invoice_renders(**kwargs) -> list[checks.CheckMessage]:
    """lebrq.E005: ``INVOICE_MAX_CONCURRENT_RENDERS`` ≥ 1 (render slots per process)."""
    value = settings.INVOICE_MAX_CONCURRENT_RENDERS
    if _is_int(value) and value >= 1:
        return []
    return [
        checks.Error(
            f"INVOICE_MAX_CONCURRENT_RENDERS must be at least 1, got {value!r}.",
            hint="With no render slot every invoice request would wait INVOICE_RENDER_WAIT seconds and get 503.",
            id="lebrq.E005",
        )
    ]


def check_upload_check_threads(**kwargs) -> list[checks.CheckMessage]:
    """lebrq.E012: ``UPLOAD_CHECK_THREADS`` ≥ 1 (threads per process verifying and scrubbing uploads)."""
    value = settings.UPLOAD_CHECK_THREADS
    if _is_int(value) and value >= 1:
        return []
    return [
        checks.Error(
            f"UPLOAD_CHECK_THREADS must be at least 1 thread, got {value!r}.",
            hint="With no check thread every image or video upload would wait DB_POOL_TIMEOUT seconds and get 503.",
            id="lebrq.E012",
        )
    ]


INVOICE_RENDERERS = ("inline", "celery")
#: Broker URL schemes the render jobs are tested on: Redis (kombu's redis transport) and AMQP (RabbitMQ).
BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp")


def check_invoice_renderer(**kwargs) -> list[checks.CheckMessage]:
    """lebrq.E013, E014: ``INVOICE_RENDERER`` and, in celery mode, ``CELERY_BROKER_URL`` (deploy/README.md)."""
    renderer, broker = settings.INVOICE_RENDERER, settings.CELERY_BROKER_URL
    if renderer not in INVOICE_RENDERERS:
        return [checks.Error(f"INVOICE_RENDERER must be 'inline' or 'celery', got {renderer!r}.", id="lebrq.E013")]
    if renderer == "celery" and (not isinstance(broker, str) or broker.partition("://")[0] not in BROKER_SCHEMES):
        return [
            checks.Error(
                f"INVOICE_RENDERER=celery needs a Redis or RabbitMQ CELERY_BROKER_URL, got {broker!r}.",
                hint="For example CELERY_BROKER_URL=redis://127.0.0.1:6379/2 or amqp://guest:guest@127.0.0.1:5672//",
                id="lebrq.E014",
            )
        ]
    return []


def check_database_pool(**kwargs) -> list[checks.CheckMessage]:
    """lebrq.E006–E009: the per-process MariaDB/MySQL pool (connections, seconds)."""
    errors = []
    size, overflow = settings.DB_POOL_SIZE, settings.DB_MAX_OVERFLOW
    if not (_is_int(size) and size >= 1):
        errors.append(checks.Error(f"DB_POOL_SIZE must be at least 1 connection, got {size!r}.", id="lebrq.E006"))
    if not (_is_int(overflow) and overflow >= 0):
        errors.append(
            checks.Error(f"DB_MAX_OVERFLOW must be 0 or more connections, got {overflow!r}.", id="lebrq.E007")
        )
    errors += _positive("DB_POOL_TIMEOUT", "seconds", "lebrq.E008")
    errors += _positive("DB_CONNECT_TIMEOUT", "seconds", "lebrq.E009")
    return errors


def check_deployment_switches(**kwargs) -> list[checks.CheckMessage]:
    """lebrq.E010, E011: ``SECURE_PROXY_SSL_HEADER`` and ``DOWNLOAD_OFFLOAD`` (deploy/README.md)."""
    errors = []
    header = settings.SECURE_PROXY_SSL_HEADER
    if header is not None and not (isinstance(header, tuple | list) and len(header) == 2):
        errors.append(
            checks.Error(
                f"SECURE_PROXY_SSL_HEADER must be 'HEADER,value', got {header!r}.",
                hint="For example SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https",
                id="lebrq.E010",
            )
        )
    if settings.DOWNLOAD_OFFLOAD not in DOWNLOAD_OFFLOAD_VALUES:
        errors.append(
            checks.Error(
                f"DOWNLOAD_OFFLOAD must be 'x-accel' or empty, got {settings.DOWNLOAD_OFFLOAD!r}.",
                id="lebrq.E011",
            )
        )
    return errors


def existing_ancestor(path: Path) -> Path:
    """``path`` itself if it exists, else its nearest existing parent (the directory it will be created in)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_temp_dir_placement(**kwargs) -> list[checks.CheckMessage]:
    """lebrq.W001: ``FILE_UPLOAD_TEMP_DIR`` on the filesystem of ``MEDIA_ROOT`` (same ``st_dev``), so that a
    finished upload is moved into place by a rename. Only for a filesystem default storage; directories not yet
    created are judged by the parent they will be created in."""
    backend = import_string(settings.STORAGES["default"]["BACKEND"])
    if not issubclass(backend, FileSystemStorage):
        return []
    temp_dir = settings.FILE_UPLOAD_TEMP_DIR or tempfile.gettempdir()  # Django's own fallback
    if os.stat(existing_ancestor(temp_dir)).st_dev == os.stat(existing_ancestor(settings.MEDIA_ROOT)).st_dev:
        return []
    return [
        checks.Warning(
            f"FILE_UPLOAD_TEMP_DIR ({temp_dir}) is on another filesystem than MEDIA_ROOT ({settings.MEDIA_ROOT}).",
            hint="Each finished upload is then copied into MEDIA_ROOT instead of renamed; put both on one filesystem.",
            id="lebrq.W001",
        )
    ]


def check_shared_storage(**kwargs) -> list[checks.CheckMessage]:
    """lebrq.E020–E022: ``STORAGE_DOWNLOAD`` ("stream" or "presigned"), ``INVOICE_STORAGE`` (empty, or an alias of
    STORAGES), ``STORAGE_TIMEOUT`` (seconds > 0); deploy/README.md, "Shared storage"."""
    errors = []
    if settings.STORAGE_DOWNLOAD not in ("stream", "presigned"):
        errors.append(
            checks.Error(
                f"STORAGE_DOWNLOAD must be 'stream' or 'presigned', got {settings.STORAGE_DOWNLOAD!r}.",
                id="lebrq.E020",
            )
        )
    if settings.INVOICE_STORAGE and settings.INVOICE_STORAGE not in settings.STORAGES:
        errors.append(
            checks.Error(
                f"INVOICE_STORAGE must be empty or one of {', '.join(sorted(settings.STORAGES))}, "
                f"got {settings.INVOICE_STORAGE!r}.",
                hint="INVOICE_STORAGE=default keeps the invoice cache beside the media (an S3 bucket shared by hosts).",
                id="lebrq.E021",
            )
        )
    errors += _positive("STORAGE_TIMEOUT", "seconds", "lebrq.E022")
    return errors


def check_memory_bounds(**kwargs) -> list[checks.CheckMessage]:
    """lebrq.E023: ``MALLOC_MMAP_THRESHOLD_BYTES`` from 0 to 32 MiB (`lebrq.memory.set_mmap_threshold`);
    lebrq.E024: Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` a positive number of bytes — it bounds what
    `lebrq.parsers` reads of a JSON body (None is Django's "no limit")."""
    from lebrq.memory import MMAP_THRESHOLD_MAX

    errors = []
    value = settings.MALLOC_MMAP_THRESHOLD_BYTES
    if not (_is_int(value) and 0 <= value <= MMAP_THRESHOLD_MAX):
        errors.append(
            checks.Error(
                f"MALLOC_MMAP_THRESHOLD_BYTES must be a number of bytes from 0 to {MMAP_THRESHOLD_MAX}, got {value!r}.",
                hint="0 leaves glibc's own threshold; the default, 131072 (128 KiB), keeps RSS from creeping.",
                id="lebrq.E023",
            )
        )
    value = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if not (_is_int(value) and value > 0):
        errors.append(
            checks.Error(
                f"DATA_UPLOAD_MAX_MEMORY_SIZE must be a positive number of bytes, got {value!r}.",
                hint="It is the most of a JSON body read into memory; Django's default is 2621440 (2.5 MiB).",
                id="lebrq.E024",
            )
        )
    return errors


#: Every settings check, in ID order; `lebrq.apps.LebrqConfig.ready` registers them.
SETTINGS_CHECKS = (
    check_upload_memory_size,
    check_memory_protection,
    check_invoice_renders,
    check_upload_check_threads,
    check_invoice_renderer,
    check_database_pool,
    check_deployment_switches,
    check_temp_dir_placement,
    check_shared_storage,
    check_memory_bounds,
)


def register() -> None:
    """Register `SETTINGS_CHECKS` with Django's check framework (idempotent: Django keeps a set)."""
    for check in SETTINGS_CHECKS:
        checks.register(check)


def run_startup_checks() -> None:
    """Run Django's system checks (the ones ``manage.py check`` runs, without database or deployment checks) in a
    server process: uvicorn and gunicorn never run them by themselves.

    Warnings are logged (logger ``lebrq.checks``). Raises `SystemCheckError` naming each error (with its ID, e.g.
    ``lebrq.E001``) if any is serious, so the server exits non-zero instead of serving with a bad setting.
    """
    # Django keeps its checks in a set: sort by ID so the report reads the same in every process.
    messages = sorted(
        (message for message in checks.run_checks() if not message.is_silenced()), key=lambda m: m.id or ""
    )
    errors = [message for message in messages if message.is_serious()]
    for message in messages:
        if not message.is_serious():
            logger.warning("System check: %s", message)
    if errors:
        raise SystemCheckError(
            "System check identified errors; not starting:\n" + "\n".join(str(message) for message in errors)
        )
