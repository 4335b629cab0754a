"""The project package as a Django app, so that its settings checks (`lebrq.checks`) are registered."""

from django.apps import AppConfig


class LebrqConfig(AppConfig):
    name = "lebrq"
    verbose_name = "LeBRQ"

    def ready(self) -> None:
        from lebrq import checks, schema  # schema: registers the OpenAPI extension of the API's authentication

        checks.register()
        del schema
