"""WSGI entry point (management tools only: the service runs under ASGI, see `lebrq.asgi`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lebrq.settings")
application = get_wsgi_application()
