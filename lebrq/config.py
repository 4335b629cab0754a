"""Builders for the settings that take more than one line to read from the environment.

`lebrq/settings.py` calls each once; every variable read here is still listed in the README. Sizes are in
bytes, times in seconds. Nothing here imports Django settings (they do not exist yet when these run).
"""

import os
import secrets
import tempfile
from pathlib import Path

import environ


def local_secret_key(path: Path) -> str:
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


def database(env: environ.Env, default_url: str, pool: dict) -> dict:
    """The ``default`` entry of DATABASES from DATABASE_URL (``default_url`` when unset).

    ``pool`` holds POOL_SIZE, MAX_OVERFLOW, TIMEOUT (seconds), RECYCLE (seconds) and CONNECT_TIMEOUT (seconds).
    A mysql:// URL selects MariaDB/MySQL through mysqlclient behind a per-process SQLAlchemy QueuePool
    (``lebrq.db.backends.mysql``) with a test database per test process, so that concurrent runs on one server do
    not drop each other's; sqlite:// gets WAL and IMMEDIATE transactions, its directory created.
    """
    db = env.db_url("DATABASE_URL", default=default_url)
    db["CONN_MAX_AGE"] = pool["RECYCLE"]
    db["CONN_HEALTH_CHECKS"] = True
    if db["ENGINE"] == "django.db.backends.mysql":
        db["ENGINE"] = "lebrq.db.backends.mysql"
        db["OPTIONS"] = {
            "charset": "utf8mb4",
            "init_command": "SET sql_mode='STRICT_TRANS_TABLES'",
            "isolation_level": "read committed",
            "connect_timeout": pool["CONNECT_TIMEOUT"],
            **db.get("OPTIONS", {}),
        }
        db["POOL_OPTIONS"] = {
            "POOL_SIZE": pool["POOL_SIZE"],
            "MAX_OVERFLOW": pool["MAX_OVERFLOW"],
            "TIMEOUT": pool["TIMEOUT"],
            "RECYCLE": pool["RECYCLE"],
            "PRE_PING": True,
        }
        db["TEST"] = {
            "NAME": f"test_{db['NAME']}_{os.getpid()}",
            "CHARSET": "utf8mb4",
            "COLLATION": "utf8mb4_unicode_ci",
        }
    elif db["ENGINE"] == "django.db.backends.sqlite3":
        if db["NAME"] not in ("", ":memory:"):
            Path(db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        db["OPTIONS"] = {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            **db.get("OPTIONS", {}),
        }
    return db


def cache(env: environ.Env, default_url: str) -> dict:
    """The ``default`` entry of CACHES from CACHE_URL (``default_url`` when unset).

    django-environ lower-cases every query option for Django's RedisCache, its own ones too (?key_prefix=…);
    they are upper-cased back here.
    """
    config = env.cache_url("CACHE_URL", default=default_url)
    for name in ("key_prefix", "timeout", "version", "key_function"):
        if name in config:
            config[name.upper()] = config.pop(name)
    return config


def storages(env: environ.Env, timeout: float) -> dict:
    """Django's STORAGES: ``default`` from STORAGE_BACKEND (FileSystemStorage unless set) and STORAGE_OPTIONS (JSON,
    the backend's keyword arguments), ``staticfiles`` Django's own.

    For django-storages' S3 backend, unless STORAGE_OPTIONS gives ``client_config``, the botocore client gets
    ``timeout`` seconds to connect and for each read (so no request waits on the store without a deadline), 3
    attempts in botocore's "standard" retry mode, up to 32 pooled connections (one per range being streamed), and
    the ``addressing_style`` and ``signature_version`` options that S3Storage would otherwise put in a client config
    of its own.
    """
    backend = env.str("STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage")
    options = env.json("STORAGE_OPTIONS", default={})
    if backend.startswith("storages.backends.s3") and "client_config" not in options:
        from botocore.config import Config

        options["client_config"] = Config(
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=32,  # parallel range readers each hold one while streaming
            s3={"addressing_style": options.get("addressing_style")},
            signature_version=options.get("signature_version"),
        )
    return {
        "default": {"BACKEND": backend, "OPTIONS": options},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def email(env: environ.Env) -> dict:
    """Django's EMAIL_* settings from EMAIL_URL as django-environ reads it (smtp://user:pass@host:25,
    smtp+tls://…:587 for STARTTLS, smtp+ssl://…:465 for TLS); by default the console backend, which prints mails.
    """
    parsed = env.email_url("EMAIL_URL", default="consolemail://")
    return {
        "EMAIL_BACKEND": parsed["EMAIL_BACKEND"],
        "EMAIL_HOST": parsed["EMAIL_HOST"] or "localhost",
        "EMAIL_PORT": parsed["EMAIL_PORT"] or 25,
        "EMAIL_HOST_USER": parsed["EMAIL_HOST_USER"] or "",
        "EMAIL_HOST_PASSWORD": parsed["EMAIL_HOST_PASSWORD"] or "",
        "EMAIL_USE_TLS": parsed.get("EMAIL_USE_TLS", False),
        "EMAIL_USE_SSL": parsed.get("EMAIL_USE_SSL", False),
    }
