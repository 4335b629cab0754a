"""accounts.checks: each bad setting fails `manage.py check` with its own ID."""

from accounts.checks import check_accounts_settings


def ids(settings) -> list[str]:
    return [problem.id for problem in check_accounts_settings()]


def test_defaults_pass(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": "/tmp/x"}
    }
    assert ids(settings) == []


def test_bad_rates(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://x"}}
    for rate in ("30", "thirty/min", "0/min", "5/fortnight", ""):
        settings.THROTTLE_ADDRESS_RATE = rate
        assert ids(settings) == ["accounts.E001"], rate


def test_bad_addresses(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://x"}}
    settings.TRUSTED_PROXIES = ["localhost"]
    settings.HEALTH_ALLOWED_IPS = ["10.0.0.0/33"]
    assert ids(settings) == ["accounts.E002", "accounts.E002"]


def test_reset_url_needs_uid_and_token(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://x"}}
    settings.PASSWORD_RESET_URL = "https://lebrq.example/reset?token={token}"
    assert ids(settings) == ["accounts.E003"]


def test_a_cache_of_one_worker_is_a_warning(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert ids(settings) == ["accounts.W001"]
