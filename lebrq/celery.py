"""The Celery application of the render workers and of the web workers that send them jobs.

Configured from Django's settings: every ``CELERY_*`` setting (lebrq/settings.py: the broker, CELERY_BROKER_URL;
the queue, INVOICE_RENDER_QUEUE; no result backend), and the tasks of the installed apps' ``tasks`` modules
(`bookings.tasks`). A render worker host runs ``celery -A lebrq worker`` (deploy/README.md, "Render workers");
the web workers import this module only when settings.INVOICE_RENDERER is "celery"
(`bookings.invoicing.jobs`), so inline mode never loads Celery.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lebrq.settings")

app = Celery("lebrq")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
