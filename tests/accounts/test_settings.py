"""The accounts settings as lebrq/settings.py reads them from the environment."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRINT = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'cache': s.CACHES['default'], 'email': [s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, "
    "s.EMAIL_USE_TLS, s.EMAIL_HOST_USER], 'jwt': [s.SIMPLE_JWT['ACCESS_TOKEN_LIFETIME'].total_seconds(), "
    "s.SIMPLE_JWT['REFRESH_TOKEN_LIFETIME'].total_seconds()], 'cors': s.CORS_ALLOWED_ORIGINS, "
    "'proxies': s.TRUSTED_PROXIES, 'health': s.HEALTH_ALLOWED_IPS}))"
)
NAMES = ("CACHE_URL", "EMAIL_URL", "ACCESS_TOKEN_LIFETIME", "REFRESH_TOKEN_LIFETIME", "CORS_ALLOWED_ORIGINS")


def settings_with(**environment) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in NAMES}
    env.update(DJANGO_SETTINGS_MODULE="lebrq.settings", **environment)
    output = subprocess.run(
        [sys.executable, "-c", PRINT], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(output.stdout.splitlines()[-1])


def test_defaults():
    values = settings_with()
    assert values["cache"] == {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(ROOT / "var" / "cache"),
    }
    assert values["email"] == ["django.core.mail.backends.console.EmailBackend", "localhost", 25, False, ""]
    assert values["jwt"] == [900, 604800]
    assert values["cors"] == []
    assert values["proxies"] == values["health"] == ["127.0.0.1", "::1"]


def test_redis_cache_smtp_mail_and_lifetimes_from_the_environment():
    values = settings_with(
        CACHE_URL="redis://127.0.0.1:6379/1?key_prefix=lebrq&socket_connect_timeout=1",
        EMAIL_URL="smtp+tls://mailer:secret@smtp.example:587",
        ACCESS_TOKEN_LIFETIME="60",
        REFRESH_TOKEN_LIFETIME="3600",
        CORS_ALLOWED_ORIGINS="https://app.example,http://localhost:3000",
    )
    assert values["cache"] == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/1",
        "KEY_PREFIX": "lebrq",
        "OPTIONS": {"socket_connect_timeout": 1},
    }
    assert values["email"] == ["django.core.mail.backends.smtp.EmailBackend", "smtp.example", 587, True, "mailer"]
    assert values["jwt"] == [60, 3600]
    assert values["cors"] == ["https://app.example", "http://localhost:3000"]
