"""System checks of the accounts settings (``manage.py check``), each with a stable ID and its fix."""

from django.conf import settings
from django.core.checks import Error, Warning, register
from rest_framework.throttling import SimpleRateThrottle

from lebrq.http.forwarded import parse_networks


@register()
def check_accounts_settings(app_configs=None, **kwargs):
    """accounts.E001 a throttle rate that does not parse; E002 an address list that does not parse;
    E003 a ``PASSWORD_RESET_URL`` without ``{uid}`` and ``{token}``; W001 a cache that workers do not share."""
    problems = []
    for name in ("THROTTLE_ADDRESS_RATE", "THROTTLE_ACCOUNT_ADDRESS_RATE"):
        value = getattr(settings, name)
        try:
            count, _ = SimpleRateThrottle.parse_rate(None, value)
            valid = count > 0 and value.split("/")[1][:1] in ("s", "m", "h", "d")
        except (ValueError, IndexError, AttributeError, KeyError):
            valid = False
        if not valid:
            problems.append(
                Error(
                    f"{name}={value!r} is not a rate.",
                    hint="Write it as N/s, N/min, N/hour or N/day with N > 0, e.g. 30/min.",
                    id="accounts.E001",
                )
            )
    for name in ("TRUSTED_PROXIES", "HEALTH_ALLOWED_IPS"):
        try:
            parse_networks(getattr(settings, name))
        except ValueError as exc:
            problems.append(
                Error(
                    f"{name} has an entry that is not an IP address or network: {exc}",
                    hint="List addresses or networks separated by commas, e.g. 127.0.0.1,::1,10.0.0.0/8.",
                    id="accounts.E002",
                )
            )
    if "{uid}" not in settings.PASSWORD_RESET_URL or "{token}" not in settings.PASSWORD_RESET_URL:
        problems.append(
            Error(
                f"PASSWORD_RESET_URL={settings.PASSWORD_RESET_URL!r} lacks {{uid}} or {{token}}.",
                hint="e.g. https://lebrq.example/reset-password?uid={uid}&token={token}",
                id="accounts.E003",
            )
        )
    if settings.CACHES["default"]["BACKEND"].endswith(("LocMemCache", "DummyCache")):
        problems.append(
            Warning(
                "The default cache is not shared by the workers: each counts throttled requests on its own.",
                hint="Set CACHE_URL to redis://… (or leave it unset for the file cache under var/).",
                id="accounts.W001",
            )
        )
    return problems
