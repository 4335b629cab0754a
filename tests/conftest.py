"""Shared fixtures: users, a venue with spaces and items, the booking factory, API clients with bearer tokens,
sample media. Helper functions live in tests/helpers.py."""

import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tests.helpers import bearer_client

ROOT = Path(__file__).resolve().parent.parent
SHARED_MEDIA = Path(os.environ.get("LEBRQ_SHARED_MEDIA", ROOT.parent / "shared" / "media"))


@pytest.fixture(scope="session")
def shared_media() -> Path:
    """The real sample files (photos, videos, PDF) shared beside the checkout."""
    if not (SHARED_MEDIA / "venue-tour.mp4").exists():
        pytest.fail(f"sample media not found in {SHARED_MEDIA} (set LEBRQ_SHARED_MEDIA)")
    return SHARED_MEDIA


@pytest.fixture(scope="session")
def scrubbed_photo(shared_media, tmp_path_factory) -> Path:
    """camera-with-gps.jpg with its private metadata already removed (uploads.scrub): stored byte for byte."""
    from uploads import scrub

    path = tmp_path_factory.mktemp("scrubbed") / "camera-with-gps.jpg"
    path.write_bytes((shared_media / "camera-with-gps.jpg").read_bytes())
    assert scrub.scrub_file(path, "image/jpeg").changed
    return path


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Each test stores uploads and temp files in its own directories (same filesystem: moves are renames)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "tmp")
    settings.INVOICE_CACHE_DIR = tmp_path / "invoices"
    # Fast password hashing for the users tests create (PBKDF2 costs about a second each).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Throttle counters start at zero in every test: the default file cache, in the test's own directory.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path / "cache"),
        }
    }
    Path(settings.MEDIA_ROOT).mkdir()
    Path(settings.FILE_UPLOAD_TEMP_DIR).mkdir()


@pytest.fixture
def customer(django_user_model):
    return django_user_model.objects.create_user(
        "asha", "asha@example.com", "pw-asha-123", first_name="Asha", last_name="Menon"
    )


@pytest.fixture
def other_customer(django_user_model):
    return django_user_model.objects.create_user("ravi", "ravi@example.com", "pw-ravi-123")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("staff", "staff@example.com", "pw-staff-123", is_staff=True)


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def customer_api(customer):
    return bearer_client(customer)


@pytest.fixture
def other_api(other_customer):
    return bearer_client(other_customer)


@pytest.fixture
def staff_api(staff):
    return bearer_client(staff)


@pytest.fixture
def venue(db):
    from bookings.models import Venue

    return Venue.objects.create(name="LeBRQ Grand", address="12 MG Road", city="Kochi", state="Kerala")


@pytest.fixture
def hall(venue):
    from bookings.models import Space

    return Space.objects.create(venue=venue, name="Grand Hall", capacity=300, price_per_hour=Decimal("5000.00"))


@pytest.fixture
def catering(db):
    from bookings.models import Item

    return Item.objects.create(name="Catering", unit_price=Decimal("650.00"), hsn_sac="996334")


@pytest.fixture
def in_two_days_10am():
    """10:00 local time two days from now: 34 to 58 hours ahead, past CANCEL_CUTOFF (24 h) at any time of day."""
    start = timezone.localtime() + timedelta(days=2)
    return start.replace(hour=10, minute=0, second=0, microsecond=0)


#: The booking factory's default start: 14 Mar 2030, 10:00 IST (financial year 2029-30).
EVENT_START = datetime(2030, 3, 14, 4, 30, tzinfo=UTC)


@pytest.fixture
def make_booking(request):
    """The tests' one booking factory: ``make_booking(**options) -> Booking``, saved, with its lines and payments.

    Options (all keyword): ``customer`` (default: the `customer` fixture), ``space`` (default: the `hall` fixture,
    which a test module may override), ``start`` (default `EVENT_START`), ``end`` (default ``start + hours``),
    ``hours`` (4), ``status`` (confirmed), ``items`` (``[(name, hsn_sac, quantity, unit_price)]``: a catalogue
    item and a booking line each), ``paid`` (amounts in INR: one successful payment each); any other keyword is a
    `Booking` field (``attendees``, ``customer_note``, ``total_amount``...). The defaults are fetched only when
    used, so a test that passes its own customer and space creates no other.
    """
    from bookings.models import Booking, BookingItem, Item, Payment

    def make(
        *,
        customer=None,
        space=None,
        start=EVENT_START,
        end=None,
        hours=4,
        status=Booking.Status.CONFIRMED,
        items=(),
        paid=(),
        **fields,
    ):
        booking = Booking.objects.create(
            customer=customer or request.getfixturevalue("customer"),
            space=space or request.getfixturevalue("hall"),
            start_datetime=start,
            end_datetime=end or start + timedelta(hours=hours),
            status=status,
            **fields,
        )
        for name, hsn_sac, quantity, unit_price in items:
            item = Item.objects.create(name=name, unit_price=unit_price, hsn_sac=hsn_sac)
            BookingItem.objects.create(
                booking=booking,
                item=item,
                name=name,
                hsn_sac=hsn_sac,
                quantity=quantity,
                unit_price=unit_price,
                line_total=unit_price * quantity,
            )
        for amount in paid:
            Payment.objects.create(booking=booking, amount=amount, status=Payment.Status.SUCCESS, provider="test")
        return booking

    return make


# --- A real S3-compatible server (moto in server mode: tests/storage_server.py) ---
@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """``moto_server`` in a subprocess on a free port for the session; skipped, saying why, only if it cannot
    start."""
    from tests.storage_server import S3Server

    try:
        server = S3Server(tmp_path_factory.mktemp("s3") / "moto.log").start()
    except RuntimeError as exc:
        pytest.skip(f"no S3-compatible server: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_bucket(s3_server) -> str:
    """The session's bucket on `s3_server`."""
    return s3_server.new_bucket()


@pytest.fixture
def s3_storage(settings, s3_server, s3_bucket):
    """The default storage on `s3_server` (S3Storage, under a location of this test's own in `s3_bucket`), the
    invoice cache in it (INVOICE_STORAGE=default), as lebrq.config builds them; returns the test's view of it:
    ``client``, ``bucket``, ``location`` and ``keys()`` (every key below the location, sorted)."""
    import json
    import types
    import uuid

    import environ

    from lebrq import config
    from tests.storage_server import keys

    location = f"t-{uuid.uuid4().hex[:12]}"

    class Env(environ.Env):
        ENVIRON = {
            "STORAGE_BACKEND": "storages.backends.s3.S3Storage",
            "STORAGE_OPTIONS": json.dumps(s3_server.storage_options(s3_bucket, location)),
        }

    settings.STORAGES = config.storages(Env(), timeout=10.0)
    settings.INVOICE_STORAGE = "default"
    client = s3_server.client()
    return types.SimpleNamespace(
        client=client,
        bucket=s3_bucket,
        location=location,
        keys=lambda: [key.removeprefix(location + "/") for key in keys(client, s3_bucket, location + "/")],
    )
