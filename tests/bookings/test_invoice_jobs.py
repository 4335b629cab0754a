"""Invoice renders as Celery jobs (`bookings.invoicing.jobs`) in process: the render worker's `render_job`, one
job per revision on a real Redis broker (database 12, a queue of this run), the 503 when the broker is down, and
the waits for the cached PDF; the whole path with a real worker and uvicorn is in tests/live."""

import asyncio
import math
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.cache import cache as django_cache

from bookings.invoicing import cache, jobs, pdf
from bookings.invoicing.cache import InvoicePdf, PendingRender
from lebrq.exceptions import InvoiceBusy, InvoiceRenderError

ROOT = Path(__file__).resolve().parents[2]
BEFORE_EVENT = datetime(2030, 1, 1, tzinfo=UTC)
REDIS_BROKER = "redis://127.0.0.1:6379/12"


@pytest.fixture(autouse=True)
def cache_dir(settings, tmp_path):
    settings.INVOICE_CACHE_DIR = str(tmp_path / "invoices")
    return tmp_path / "invoices"


@pytest.fixture(autouse=True)
def claims(monkeypatch):
    """This process's claims (`jobs._claim`), empty for each test."""
    monkeypatch.setattr(jobs, "_claims", {})


@pytest.fixture
def renders(monkeypatch):
    """Counts the PDF renders in this process (calls of `pdf.html_to_pdf`)."""
    calls = []
    real = pdf.html_to_pdf

    def counting(html, dest):
        calls.append(html)
        return real(html, dest)

    monkeypatch.setattr(pdf, "html_to_pdf", counting)
    return calls


@pytest.fixture
def pending(make_booking) -> PendingRender:
    prepared = cache.prepare_invoice(make_booking(), now=BEFORE_EVENT)
    assert isinstance(prepared, PendingRender)
    return prepared


def celery_app(monkeypatch, broker_url: str, queue: str):
    """A Celery app configured like `lebrq.celery.app` but publishing to ``broker_url`` and ``queue``, put in its
    place for `jobs.submit`."""
    from celery import Celery

    import lebrq.celery

    app = Celery("lebrq", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.update(broker_url=broker_url, task_default_queue=queue)
    monkeypatch.setattr(lebrq.celery, "app", app)
    return app


@pytest.fixture
def broker(settings, monkeypatch):
    """Jobs published to Redis database 12 on a queue of this test run; yields a Redis client and the queue (a
    Redis list of the messages), deleted afterwards."""
    redis = pytest.importorskip("redis")
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
    except OSError:
        pytest.skip("Redis does not answer at 127.0.0.1:6379")
    queue = f"lebrq-test-jobs-{os.getpid()}"
    app = celery_app(monkeypatch, REDIS_BROKER, queue)
    settings.INVOICE_RENDERER = "celery"
    client = redis.Redis.from_url(REDIS_BROKER)
    yield client, queue
    client.delete(queue, *client.scan_iter(match=f"_kombu.binding*.{queue}"))
    client.close()
    app.close()


@pytest.mark.django_db
def test_render_job_renders_into_the_cache_then_finds_it_cached(pending, cache_dir, renders):
    args = (pending.html, pending.revision, pending.reference, pending.filename)
    assert jobs.render_job(*args) == "rendered"
    path = cache_dir / pending.reference / f"{pending.revision}.pdf"
    assert path.read_bytes().startswith(b"%PDF-")
    assert cache.cached_invoice(pending) == InvoicePdf(
        path, pending.revision, path.stat().st_size, path.stat().st_mtime, pending.filename
    )
    assert jobs.render_job(*args) == "cached"
    assert len(renders) == 1
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


@pytest.mark.django_db
def test_render_job_refuses_a_revision_that_is_not_its_html(pending, cache_dir, renders):
    with pytest.raises(InvoiceRenderError, match=f"revision {'0' * 32} is not this worker's revision"):
        jobs.render_job(pending.html, "0" * 32, pending.reference, pending.filename)
    assert renders == []
    assert not cache_dir.exists()


@pytest.mark.django_db
def test_submit_sends_one_job_per_revision(pending, broker, settings):
    client, queue = broker
    settings.INVOICE_RENDER_WAIT = 3.0
    started = time.monotonic()
    deadlines = [jobs.submit(pending) for _ in range(3)]
    assert client.llen(queue) == 1
    assert all(started + 3.0 <= deadline <= time.monotonic() + 3.0 for deadline in deadlines)
    assert django_cache.get(jobs.claim_key(pending.revision)) == pending.reference  # shared by every process
    assert set(jobs._claims) == {pending.revision}
    other = PendingRender("<p>other</p>", "f" * 32, pending.reference, pending.filename, pending.path)
    jobs.submit(other)
    assert client.llen(queue) == 2


@pytest.mark.django_db
def test_submit_with_the_cache_down_claims_in_the_process(pending, broker, settings, caplog):
    client, queue = broker
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        }
    }
    jobs.submit(pending)
    jobs.submit(pending)
    assert client.llen(queue) == 1
    assert set(jobs._claims) == {pending.revision}
    assert "the cache is unavailable" in caplog.text


@pytest.mark.django_db
def test_submit_without_a_broker_is_invoice_busy_and_leaves_no_claim(pending, settings, monkeypatch):
    app = celery_app(monkeypatch, "redis://127.0.0.1:1/0", "lebrq-test-nowhere")  # nothing listens on port 1
    settings.INVOICE_RENDER_WAIT = 3.0
    for _ in range(2):  # the claim was released: the second request tries again
        started = time.monotonic()
        with pytest.raises(InvoiceBusy) as raised:
            jobs.submit(pending)
        assert time.monotonic() - started < 5
        assert raised.value.retry_after == 3
    assert jobs._claims == {}
    app.close()


@pytest.mark.django_db
def test_the_web_worker_never_renders_in_celery_mode(make_booking, broker, settings, renders):
    client, queue = broker
    settings.INVOICE_RENDER_WAIT = 0.3
    started = time.monotonic()
    with pytest.raises(InvoiceBusy) as raised:
        cache.invoice_pdf(make_booking(), now=BEFORE_EVENT)  # no render worker consumes the queue
    assert 0.3 <= time.monotonic() - started < 1.3
    assert raised.value.retry_after == 1
    assert client.llen(queue) == 1
    assert renders == []


@pytest.mark.django_db
def test_await_render_returns_the_pdf_once_a_worker_cached_it(pending, settings):
    args = (pending.html, pending.revision, pending.reference, pending.filename)
    settings.INVOICE_RENDER_WAIT = 10.0
    worker = threading.Timer(0.2, jobs.render_job, args)
    ticks = []

    async def wait_and_tick():
        async def tick():
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        try:
            return await jobs.await_render(pending, time.monotonic() + 10)
        finally:
            ticker.cancel()

    worker.start()
    started = time.monotonic()
    found = asyncio.run(wait_and_tick())
    worker.join()
    assert found == cache.cached_invoice(pending)
    assert time.monotonic() - started < 5
    assert len(ticks) >= 15  # the loop ran other work all along (0.2 s and a render at 0.01 s a tick)


def test_wait_render_is_invoice_busy_at_the_deadline(settings, tmp_path):
    settings.INVOICE_RENDER_WAIT = 2.5
    nothing = PendingRender("", "a" * 32, "BK-1", "invoice-BK-1.pdf", tmp_path / "BK-1" / f"{'a' * 32}.pdf")
    started = time.monotonic()
    with pytest.raises(InvoiceBusy) as raised:
        jobs.wait_render(nothing, started + 0.2)
    assert 0.2 <= time.monotonic() - started < 0.5
    assert raised.value.retry_after == math.ceil(2.5)
    with pytest.raises(InvoiceBusy):
        asyncio.run(jobs.await_render(nothing, time.monotonic() + 0.2))


def test_inline_mode_never_loads_celery():
    """The web workers import Celery only in celery mode (`jobs` is imported when a job is sent)."""
    code = "import sys, lebrq.asgi, bookings.invoicing.download; print(sorted({'celery', 'kombu'} & set(sys.modules)))"
    env = {**os.environ, "INVOICE_RENDERER": "inline", "DJANGO_SETTINGS_MODULE": "lebrq.settings"}
    env.pop("CELERY_BROKER_URL", None)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
