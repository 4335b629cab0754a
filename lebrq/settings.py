"""Django settings for LeBRQ.

Every setting that an operator may change is read from the environment here, once, with a safe default;
the README lists each variable. Sizes are in bytes, times in seconds, percentages in percent. Values are
validated by system checks (`lebrq.checks`, IDs ``lebrq.E0xx``/``lebrq.W0xx``), not here.
"""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ

from lebrq import config
from lebrq.http.static import security_headers
from lebrq.upload_kinds import UPLOAD_KINDS

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

MiB = 1024 * 1024


SECRET_KEY = env.str("SECRET_KEY", default="") or config.local_secret_key(VAR_DIR / "secret_key")
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
CSRF_FAILURE_VIEW = "lebrq.errors.csrf_failure"  # the JSON error body (lebrq/errors.py), not an HTML page

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "servestatic.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "bookings",
    "uploads",
    "health",
    "accounts",
    "lebrq",  # the settings' system checks (lebrq/checks.py)
]

# ServeStatic (async-only) first: the rest runs as one sync chain in the request's thread (lebrq/http/asgi_handler.py).
MIDDLEWARE = [
    "servestatic.middleware.ServeStaticMiddleware",
    "corsheaders.middleware.CorsMiddleware",  # outside the error mappers: their 503s carry CORS headers too
    "lebrq.middleware.MemoryErrorMiddleware",
    "lebrq.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "lebrq.http.cache.AuthenticatedCacheControlMiddleware",  # private, no-store + Vary: Authorization
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

DATABASES = {
    "default": config.database(
        env,
        f"sqlite:///{VAR_DIR / 'lebrq.sqlite3'}",
        {
            "POOL_SIZE": DB_POOL_SIZE,
            "MAX_OVERFLOW": DB_MAX_OVERFLOW,
            "TIMEOUT": DB_POOL_TIMEOUT,
            "RECYCLE": DB_POOL_RECYCLE,
            "CONNECT_TIMEOUT": DB_CONNECT_TIMEOUT,
        },
    )
}
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
# Uploads (and with INVOICE_STORAGE=default the invoice cache) go through Django's storage API: an S3-compatible store
# is STORAGE_BACKEND=storages.backends.s3.S3Storage with STORAGE_OPTIONS as JSON (deploy/README.md, "Shared storage").
STORAGE_TIMEOUT = env.float("STORAGE_TIMEOUT", default=10.0)  # seconds to connect to, or wait on, the object store
STORAGES = config.storages(env, STORAGE_TIMEOUT)
# Downloads of objects without a local file: "stream" (through the app, our ranges and headers) or "presigned" (a
# 302 to a presigned URL of the store: no multipart ranges, the store's own ETag and headers).
STORAGE_DOWNLOAD = env.str("STORAGE_DOWNLOAD", default="stream").strip().lower()

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
# Deadlines and sizes of each phase of a request (lebrq.http.deadlines): seconds, bytes, bytes/s; 0 turns one off.
TLS_HANDSHAKE_TIMEOUT = env.float("TLS_HANDSHAKE_TIMEOUT", default=10.0)  # with UVICORN_LOOP=lebrq.http.loops:...
REQUEST_HEADER_TIMEOUT = env.float("REQUEST_HEADER_TIMEOUT", default=10.0)
REQUEST_HEADER_MAX_BYTES = env.int("REQUEST_HEADER_MAX_BYTES", default=16 * 1024)
REQUEST_BODY_MIN_RATE = env.int("REQUEST_BODY_MIN_RATE", default=1024)
REQUEST_BODY_RATE_WINDOW = env.float("REQUEST_BODY_RATE_WINDOW", default=10.0)
REQUEST_BODY_GRACE = env.float("REQUEST_BODY_GRACE", default=10.0)
SEND_TIMEOUT = env.float("SEND_TIMEOUT", default=30.0)
# Uploads of one user running at once, per worker process (lebrq.http.early); past it 429 + Retry-After (seconds).
UPLOADS_PER_USER = env.int("UPLOADS_PER_USER", default=2)
UPLOAD_RETRY_AFTER = env.int("UPLOAD_RETRY_AFTER", default=5)
# --- Upload content checks (uploads/verify.py, uploads/scrub.py) ---
# Largest image accepted, in pixels (width x height x frames), read from the header before decoding.
IMAGE_MAX_PIXELS = env.int("IMAGE_MAX_PIXELS", default=50_000_000)
# The ExifTool executable that strips location and device metadata from images and videos.
EXIFTOOL_PATH = env.str("EXIFTOOL_PATH", default="exiftool")
# Threads per worker process that verify and scrub uploads (uploads/checking.py), apart from the request threads.
UPLOAD_CHECK_THREADS = env.int("UPLOAD_CHECK_THREADS", default=2)
# --- end upload content checks ---
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
# Seconds in Retry-After of a 503 for a request past the concurrency cap (lebrq.http.protocols).
OVERLOAD_RETRY_AFTER = env.int("OVERLOAD_RETRY_AFTER", default=1)
# Seconds a request past the concurrency cap waits for a slot before that 503.
ADMISSION_QUEUE_TIMEOUT = env.float("ADMISSION_QUEUE_TIMEOUT", default=2.0)
MEMORY_MAX_RSS_MB = env.int("MEMORY_MAX_RSS_MB", default=0)  # 0: no per-process cap
MEMORY_GC_INTERVAL = env.float("MEMORY_GC_INTERVAL", default=0)  # seconds; 0: no periodic collection
# Freeze the objects of start-up out of the collector's reach, and again GC_FREEZE_WARM_AFTER seconds later
# (what the first requests loaded: invoice fonts, caches); see lebrq.memory.freeze_heap. 0: no second freeze.
GC_FREEZE = env.bool("GC_FREEZE", default=True)
GC_FREEZE_WARM_AFTER = env.float("GC_FREEZE_WARM_AFTER", default=120)
# Bytes from which glibc's malloc maps each block on its own and unmaps it when freed (lebrq.memory.
# set_mmap_threshold); 0 leaves glibc's threshold, which grows with the blocks freed, and RSS with it.
MALLOC_MMAP_THRESHOLD_BYTES = env.int("MALLOC_MMAP_THRESHOLD_BYTES", default=128 * 1024)

# --- Readiness (/api/health/detailed, see health/checks.py) ---------------------------------------------
HEALTH_DISK_MIN_FREE_BYTES = env.int("HEALTH_DISK_MIN_FREE_BYTES", default=1024 * MiB)
HEALTH_DISK_MIN_FREE_PERCENT = env.float("HEALTH_DISK_MIN_FREE_PERCENT", default=5.0)
HEALTH_POOL_MAX_PERCENT = env.float("HEALTH_POOL_MAX_PERCENT", default=100.0)
# Client addresses (or networks) shown the details of /api/health/detailed without a staff token.
HEALTH_ALLOWED_IPS = env.list("HEALTH_ALLOWED_IPS", default=["127.0.0.1", "::1"])

# --- API ------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["lebrq.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "lebrq.schema.ApiSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "lebrq.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
# Access and refresh tokens (accounts/tokens.py): refresh tokens rotate and are single-use (the blacklist app);
# a token carries a hash of the password (simplejwt's CHECK_REVOKE_TOKEN) and the account's token generation, so
# a password change by any route, or a logout, ends every token issued before it.
SIMPLE_JWT = {
    "AUTH_HEADER_TYPES": ("Bearer",),
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env.int("ACCESS_TOKEN_LIFETIME", default=15 * 60)),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=env.int("REFRESH_TOKEN_LIFETIME", default=7 * 24 * 3600)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "CHECK_REVOKE_TOKEN": True,
    "AUTH_TOKEN_CLASSES": ("accounts.tokens.AccessToken",),
    "SIGNING_KEY": SECRET_KEY,
}

# --- Accounts: sign-up, password reset mail, throttling (accounts/) --------------------------------------
# Front-end page the reset mail links to; {uid} and {token} are filled in.
PASSWORD_RESET_URL = env.str(
    "PASSWORD_RESET_URL", default="http://localhost:3000/reset-password?uid={uid}&token={token}"
)
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3600)  # seconds a reset link stays valid
# Longest password accepted anywhere, in characters: longer ones are a 400 before any hashing.
PASSWORD_MAX_LENGTH = 128
# Mail through Django's e-mail framework: EMAIL_URL as django-environ reads it (smtp://user:pass@host:25,
# smtp+tls://…:587 for STARTTLS, smtp+ssl://…:465 for TLS); the console backend prints mails for `make run`.
_email = config.email(env)
EMAIL_BACKEND, EMAIL_HOST, EMAIL_PORT = _email["EMAIL_BACKEND"], _email["EMAIL_HOST"], _email["EMAIL_PORT"]
EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_USER"], _email["EMAIL_HOST_PASSWORD"]
EMAIL_USE_TLS, EMAIL_USE_SSL = _email["EMAIL_USE_TLS"], _email["EMAIL_USE_SSL"]
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="LeBRQ <no-reply@lebrq.example>")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
# Shared by every worker: throttle counters (and nothing that must survive a restart). Redis in production
# (redis://127.0.0.1:6379/1); by default a file cache under var/ that all workers on one machine share.
CACHES = {"default": config.cache(env, f"filecache://{VAR_DIR / 'cache'}")}
# Requests per period ("N/s", "N/min", "N/hour", "N/day") on login, register and password reset, counted per
# endpoint: from one client address, and for one account (username or e-mail) from one client address.
THROTTLE_ADDRESS_RATE = env.str("THROTTLE_ADDRESS_RATE", default="30/min")
THROTTLE_ACCOUNT_ADDRESS_RATE = env.str("THROTTLE_ACCOUNT_ADDRESS_RATE", default="10/min")
# Proxies whose X-Forwarded-For hop is believed (addresses or networks; the default covers nginx on this host).
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=["127.0.0.1", "::1"])

# --- CORS (django-cors-headers; lebrq/http/cors.py adds the same headers to answers sent before Django) ----
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/(api|static)/"
CORS_ALLOW_HEADERS = ("authorization", "content-type", "range", "if-none-match", "if-range", "if-match")
CORS_EXPOSE_HEADERS = ("ETag", "Content-Range", "Content-Disposition", "Retry-After", "Accept-Ranges")
CORS_PREFLIGHT_MAX_AGE = env.int("CORS_PREFLIGHT_MAX_AGE", default=600)

SPECTACULAR_SETTINGS = {
    "TITLE": "LeBRQ API",
    "DESCRIPTION": "Venue bookings, GST invoices, uploads and downloads.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",  # Swagger UI's assets from the sidecar package (ServeStatic), not a CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,  # request bodies apart (`LoginRequest`): minLength 1 where blank is refused
    "PREPROCESSING_HOOKS": ["lebrq.schema.leave_out_aliases"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "lebrq.schema.strip_trailing_slashes",
        "lebrq.schema.add_error_component",
        "lebrq.schema_links.add_links",
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
# Custom lines (name and price given by the customer): their HSN/SAC (998596, event organisation services) and the
# largest line total (INR) of one.
SAC_CUSTOM_LINE = env.str("SAC_CUSTOM_LINE", default="998596")
CUSTOM_LINE_MAX_TOTAL = Decimal(env.str("CUSTOM_LINE_MAX_TOTAL", default="1000000.00"))
# Tax invoice numbers (bookings/invoicing/numbering.py): "<prefix>/<FY>/<serial>", e.g. LB/26-27/000123: at most 16
# characters (CGST Rules 2017, Rule 46(b)), so the prefix has at most 3 letters, digits or "-" (check bookings.E001).
INVOICE_NUMBER_PREFIX = env.str("INVOICE_NUMBER_PREFIX", default="LB")
# Renders at once per process; a request that would wait more than INVOICE_RENDER_WAIT seconds gets 503.
INVOICE_MAX_CONCURRENT_RENDERS = env.int("INVOICE_MAX_CONCURRENT_RENDERS", default=2)
INVOICE_RENDER_WAIT = env.float("INVOICE_RENDER_WAIT", default=5.0)
# Rendered PDFs, one file per revision; renders are written here first and renamed into place.
INVOICE_CACHE_DIR = env.path("INVOICE_CACHE_DIR", default=str(VAR_DIR / "invoices"))
# "" (default): that local directory. Else the STORAGES alias that keeps them ("default": beside the media, so every
# host serves every PDF), under INVOICE_STORAGE_PREFIX.
INVOICE_STORAGE = env.str("INVOICE_STORAGE", default="")
INVOICE_STORAGE_PREFIX = env.str("INVOICE_STORAGE_PREFIX", default="invoices/")
# Where renders run: "inline" (in the web process, on its render threads) or "celery" (jobs on the broker's
# INVOICE_RENDER_QUEUE, rendered by `celery -A lebrq worker`, awaited by the web workers: deploy/README.md).
INVOICE_RENDERER = env.str("INVOICE_RENDERER", default="inline")
INVOICE_RENDER_QUEUE = env.str("INVOICE_RENDER_QUEUE", default="invoices")
# Celery (lebrq/celery.py reads every CELERY_* setting): Redis redis://host:6379/N or RabbitMQ amqp://user:pw@host//.
# No result backend: a waiting request watches the invoice cache. An unreachable broker (2 s, 2 tries) is a 503.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_DEFAULT_QUEUE = INVOICE_RENDER_QUEUE
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # a job waits in the queue, not in a busy worker, so any idle one takes it
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # the worker logs through LOGGING below, like the web workers
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 2}
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}

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
# Time rules of API bookings (bookings.rules): lead and duration in minutes, horizon in days.
BOOKING_MIN_LEAD = env.int("BOOKING_MIN_LEAD", default=0)
BOOKING_MAX_HORIZON = env.int("BOOKING_MAX_HORIZON", default=730)
BOOKING_MIN_DURATION = env.int("BOOKING_MIN_DURATION", default=30)
# Hours before the start after which a customer can no longer cancel a blocking booking (staff: at any time).
CANCEL_CUTOFF = env.int("CANCEL_CUTOFF", default=24)
