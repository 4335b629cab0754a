from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        from . import checks, schema  # noqa: F401  (register the system checks and the OpenAPI bearer scheme)
