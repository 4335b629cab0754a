"""Celery tasks of the bookings app, run by the render workers (``celery -A lebrq worker``, `lebrq.celery`)."""

from celery import shared_task

from .invoicing import jobs


@shared_task(name=jobs.TASK_NAME, ignore_result=True)
def render_invoice(html: str, revision: str, reference: str, filename: str) -> str:
    """Render one invoice revision into the invoice cache: `bookings.invoicing.jobs.render_job`."""
    return jobs.render_job(html, revision, reference, filename)
