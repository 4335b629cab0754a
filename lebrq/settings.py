"""Django settings for LeBRQ.

Every setting that an operator may change is read from the environment here, once, with a safe default;
the README lists each variable. Sizes are in bytes, times in seconds, percentages in percent. Values are
validated by system checks (`lebrq.checks`, IDs ``lebrq.E0xx``/``lebrq.W0xx``), not here.
"""

import os
import secrets
import tempfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ

from lebrq.http.static import security_headers
from lebrq.upload_kinds import UPLOAD_KINDS

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

MiB = 1024 * 1024


def _local_secret_key(path: Path) -> str:
    """The key kept in ``path`` (var/secret_key), created once with 50 random characters and mode 0600.

    Used only when SECRET_KEY is not set, so that a zero-config run never signs sessions and API tokens with a
    published default. The key is written to a temporary file and hard-linked into place, so processes starting
    together all read one complete key. Several hosts must share one SECRET_KEY from the environment instead.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")  # mode 0600
        with os.fdopen(fd, "w") as target:
            target.write(secrets.token_urlsafe(38))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process won the race: use its key
        finally:
            os.unlink(temporary)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _local_secret_key(VAR_DIR / "secret_key")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- HTTPS (deploy/README.md) ---------------------------------------------------------------------------
# Off by default so that `make run` works on http://127.0.0.1; deploy/lebrq.env.example turns them on, and
# `python manage.py check --deploy` is then clean. HSTS is RFC 6797.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# Probes over plain HTTP on the host (systemd, load balancer) are never redirected.
SECURE_REDIRECT_EXEMPT = [r"^health/?$", r"^api/health(/|$)"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# "HTTP_X_FORWARDED_PROTO,https" behind a proxy that sets X-Forwarded-Proto itself (deploy/nginx/lebrq.conf does).
SECURE_PROXY_SSL_HEADER = env.tuple("SECURE_PROXY_SSL_HEADER", default=None) or None
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "servestatic.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "bookings",
    "uploads",
    "health",
    "lebrq",  # the settings' system checks (lebrq/checks.py)
]

# ServeStatic (async-only) first: the rest runs as one sync chain in the request's thread (lebrq/http/asgi_handler.py).
MIDDLEWARE = [
    "servestatic.middleware.ServeStaticMiddleware",
    "lebrq.middleware.MemoryErrorMiddleware",
    "lebrq.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "lebrq.middleware.NotModifiedMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "lebrq.urls"
WSGI_APPLICATION = "lebrq.wsgi.application"
ASGI_APPLICATION = "lebrq.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------
# SQLite (embedded, zero config) by default; a mysql:// URL selects MariaDB/MySQL through mysqlclient behind a
# per-process SQLAlchemy QueuePool (django-db-connection-pool). Requests run in DB_POOL_SIZE + DB_MAX_OVERFLOW
# long-lived threads per process (lebrq/http/executor.py), each keeping its connection for up to DB_POOL_RECYCLE
# seconds (CONN_MAX_AGE), pinged before its first query in a request (CONN_HEALTH_CHECKS).
DB_POOL_SIZE = env.int("DB_POOL_SIZE", default=2)
DB_MAX_OVERFLOW = env.int("DB_MAX_OVERFLOW", default=2)
DB_POOL_TIMEOUT = env.float("DB_POOL_TIMEOUT", default=10.0)
DB_POOL_RECYCLE = env.int("DB_POOL_RECYCLE", default=900)
DB_CONNECT_TIMEOUT = env.int("DB_CONNECT_TIMEOUT", default=5)  # seconds to open a new MySQL connection
# Seconds in Retry-After of a 503 `database_unavailable` (pool exhausted, database unreachable).
DB_RETRY_AFTER = env.int("DB_RETRY_AFTER", default=2)

_default_db = env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'lebrq.sqlite3'}")
_default_db["CONN_MAX_AGE"] = DB_POOL_RECYCLE
_default_db["CONN_HEALTH_CHECKS"] = True
if _default_db["ENGINE"] == "django.db.backends.mysql":
    _default_db["ENGINE"] = "lebrq.db.backends.mysql"
    _default_db["OPTIONS"] = {
        "charset": "utf8mb4",
        "init_command": "SET sql_mode='STRICT_TRANS_TABLES'",
        "isolation_level": "read committed",
        "connect_timeout": DB_CONNECT_TIMEOUT,
        **_default_db.get("OPTIONS", {}),
    }
    _default_db["POOL_OPTIONS"] = {
        "POOL_SIZE": DB_POOL_SIZE,
        "MAX_OVERFLOW": DB_MAX_OVERFLOW,
        "TIMEOUT": DB_POOL_TIMEOUT,
        "RECYCLE": DB_POOL_RECYCLE,
        "PRE_PING": True,
    }
    # A test database per test process, so that concurrent runs on one server do not drop each other's.
    _default_db["TEST"] = {
        "NAME": f"test_{_default_db['NAME']}_{os.getpid()}",
        "CHARSET": "utf8mb4",
        "COLLATION": "utf8mb4_unicode_ci",
    }
elif _default_db["ENGINE"] == "django.db.backends.sqlite3":
    if _default_db["NAME"] not in ("", ":memory:"):
        Path(_default_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    _default_db["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        **_default_db.get("OPTIONS", {}),
    }
DATABASES = {"default": _default_db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-in"
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Kolkata")
USE_I18N = True
USE_TZ = True

# --- Static files (admin CSS/JS) ------------------------------------------------------------------------
# `/static/<name>` belongs to uploaded media (the original app's URL), so the project's own assets live under
# /assets/ and ServeStatic (WhiteNoise's ASGI-native fork: async file iterators, no whole-file reads) serves
# them under uvicorn.
STATIC_URL = "/assets/"
STATIC_ROOT = env.path("STATIC_ROOT", default=str(VAR_DIR / "static"))
SERVESTATIC_USE_FINDERS = True
SERVESTATIC_ADD_HEADERS_FUNCTION = security_headers  # what SecurityMiddleware would add (ServeStatic runs first)
STORAGES = {
    # Uploads go through Django's storage API: an S3-compatible store is STORAGE_BACKEND=storages.backends.s3.S3Storage
    # with STORAGE_OPTIONS as JSON (deploy/README.md, "Beyond one machine").
    "default": {
        "BACKEND": env.str("STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage"),
        "OPTIONS": env.json("STORAGE_OPTIONS", default={}),
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Uploads --------------------------------------------------------------------------------------------
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))
MEDIA_URL = "/static/"
# Same filesystem as MEDIA_ROOT, so moving a finished upload into place is a rename.
FILE_UPLOAD_TEMP_DIR = env.path("FILE_UPLOAD_TEMP_DIR", default=str(VAR_DIR / "tmp"))
# Only the disk-backed handler: an upload is written to FILE_UPLOAD_TEMP_DIR chunk by chunk.
FILE_UPLOAD_HANDLERS = ["uploads.handlers.ChecksumTemporaryFileUploadHandler"]
# Also the size at which the ASGI handler's SpooledTemporaryFile rolls the request body over to disk.
# Must stay small and non-zero: 0 means "never roll over", which keeps the whole body in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = env.int("FILE_UPLOAD_MAX_MEMORY_SIZE", default=64 * 1024)
FILE_UPLOAD_PERMISSIONS = 0o644
DATA_UPLOAD_MAX_NUMBER_FILES = env.int("DATA_UPLOAD_MAX_NUMBER_FILES", default=1)
DATA_UPLOAD_MAX_NUMBER_FIELDS = env.int("DATA_UPLOAD_MAX_NUMBER_FIELDS", default=100)
# Upper bound of each upload kind (lebrq/upload_kinds.py), in bytes, from UPLOAD_MAX_<KIND>_BYTES (checked on
# Content-Length before the body is read).
_UPLOAD_MAX_DEFAULTS = {"image": 15 * MiB, "video": 2048 * MiB, "document": 25 * MiB}
UPLOAD_MAX_BYTES = {
    kind: env.int(f"UPLOAD_MAX_{kind.upper()}_BYTES", default=_UPLOAD_MAX_DEFAULTS[kind]) for kind in UPLOAD_KINDS
}
# Size of each read when a file or PDF is streamed out, in bytes.
STREAM_CHUNK_SIZE = 64 * 1024

# --- Download offload (deploy/nginx/lebrq.conf) ---------------------------------------------------------
# "x-accel": a file response carries only headers and X-Accel-Redirect (after authorisation and the
# preconditions), and nginx sends the bytes; "" (default) streams them from Django.
DOWNLOAD_OFFLOAD = env.str("DOWNLOAD_OFFLOAD", default="").strip().lower()
# Directory → nginx internal URI prefix, "dir=prefix,dir=prefix". Empty: MEDIA_ROOT → /_protected/media/ and
# INVOICE_CACHE_DIR → /_protected/invoices/. A file under none of them is streamed.
DOWNLOAD_OFFLOAD_LOCATIONS = env.dict("DOWNLOAD_OFFLOAD_LOCATIONS", default={})

# --- Memory protection ----------------------------------------------------------------------------------
MEMORY_PROTECTION_ENABLED = env.bool("MEMORY_PROTECTION_ENABLED", default=True)
MEMORY_THRESHOLD_PERCENT = env.float("MEMORY_THRESHOLD_PERCENT", default=85.0)
MEMORY_CRITICAL_PERCENT = env.float("MEMORY_CRITICAL_PERCENT", default=90.0)
MEMORY_SAMPLE_INTERVAL = env.float("MEMORY_SAMPLE_INTERVAL", default=0.25)
MEMORY_RETRY_AFTER = env.int("MEMORY_RETRY_AFTER", default=5)
MEMORY_MAX_RSS_MB = env.int("MEMORY_MAX_RSS_MB", default=0)  # 0: no per-process cap
MEMORY_GC_INTERVAL = env.float("MEMORY_GC_INTERVAL", default=0)  # seconds; 0: no periodic collection
# Freeze the objects of start-up out of the collector's reach, and again GC_FREEZE_WARM_AFTER seconds later
# (what the first requests loaded: invoice fonts, caches); see lebrq.memory.freeze_heap. 0: no second freeze.
GC_FREEZE = env.bool("GC_FREEZE", default=True)
GC_FREEZE_WARM_AFTER = env.float("GC_FREEZE_WARM_AFTER", default=120)

# --- Readiness (/api/health/detailed, see health/checks.py) ---------------------------------------------
HEALTH_DISK_MIN_FREE_BYTES = env.int("HEALTH_DISK_MIN_FREE_BYTES", default=1024 * MiB)
HEALTH_DISK_MIN_FREE_PERCENT = env.float("HEALTH_DISK_MIN_FREE_PERCENT", default=5.0)
HEALTH_POOL_MAX_PERCENT = env.float("HEALTH_POOL_MAX_PERCENT", default=100.0)

# --- API ------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["lebrq.authentication.BearerAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "lebrq.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SIMPLE_JWT = {
    "AUTH_HEADER_TYPES": ("Bearer",),
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env.int("ACCESS_TOKEN_LIFETIME", default=24 * 3600)),
    "SIGNING_KEY": SECRET_KEY,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "LeBRQ API",
    "DESCRIPTION": "Venue bookings, GST invoices, uploads and downloads.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's assets come from the sidecar package (served by ServeStatic), not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "lebrq.schema.strip_trailing_slashes",
        "lebrq.schema.document_error_responses",
    ],
}

# --- Invoices -------------------------------------------------------------------------------------------
INVOICE_SELLER = {
    "legal_name": env.str("SELLER_LEGAL_NAME", default="LeBRQ Venues Private Limited"),
    "address": env.str("SELLER_ADDRESS", default="12 MG Road, Kochi, Kerala 682016"),
    "state": env.str("SELLER_STATE", default="Kerala"),
    "state_code": env.str("SELLER_STATE_CODE", default="32"),
    "gstin": env.str("SELLER_GSTIN", default="32AABCL1234F1Z7"),  # demo value with a valid check character
    "pan": env.str("SELLER_PAN", default="AABCL1234F"),
    "phone": env.str("SELLER_PHONE", default="+91 484 400 0000"),
    "email": env.str("SELLER_EMAIL", default="accounts@lebrq.example"),
    "website": env.str("SELLER_WEBSITE", default="https://lebrq.example"),
}
GST_RATE_PERCENT = Decimal(env.str("GST_RATE_PERCENT", default="18"))
SAC_VENUE_RENTAL = env.str("SAC_VENUE_RENTAL", default="997212")
# Tax invoice numbers: "<prefix>/<financial year>/<6-digit serial>", e.g. LEBRQ/2026-27/000123
# (bookings/invoicing/numbering.py).
INVOICE_NUMBER_PREFIX = env.str("INVOICE_NUMBER_PREFIX", default="LEBRQ")
# Renders at once per process; a request that would wait more than INVOICE_RENDER_WAIT seconds gets 503.
INVOICE_MAX_CONCURRENT_RENDERS = env.int("INVOICE_MAX_CONCURRENT_RENDERS", default=2)
INVOICE_RENDER_WAIT = env.float("INVOICE_RENDER_WAIT", default=5.0)
# Rendered PDFs, one file per revision; renders are written here first and renamed into place.
INVOICE_CACHE_DIR = env.path("INVOICE_CACHE_DIR", default=str(VAR_DIR / "invoices"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # django.request logs every 4xx as a warning; expected client errors are not worth a log line.
    "loggers": {"django.db.backends": {"level": "INFO"}, "django.request": {"level": "ERROR"}},
}

# --- Bookings -------------------------------------------------------------------------------------------
BOOKING_MAX_DAYS = env.int("BOOKING_MAX_DAYS", default=31)
