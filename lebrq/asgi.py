"""ASGI entry point: Django wrapped in the project's pure-ASGI guards (see `lebrq.http.guards`)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lebrq.settings")
application = get_asgi_application()
