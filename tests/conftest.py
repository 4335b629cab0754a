"""Shared fixtures: users, a venue with spaces and items, API clients with bearer tokens, sample media."""

import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

ROOT = Path(__file__).resolve().parent.parent
SHARED_MEDIA = Path(os.environ.get("LEBRQ_SHARED_MEDIA", ROOT.parent / "shared" / "media"))


@pytest.fixture(scope="session")
def shared_media() -> Path:
    """The real sample files (photos, videos, PDF) shared beside the checkout."""
    if not (SHARED_MEDIA / "venue-tour.mp4").exists():
        pytest.fail(f"sample media not found in {SHARED_MEDIA} (set LEBRQ_SHARED_MEDIA)")
    return SHARED_MEDIA


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Each test stores uploads and temp files in its own directories (same filesystem: moves are renames)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "tmp")
    settings.INVOICE_CACHE_DIR = tmp_path / "invoices"
    # Fast password hashing for the users tests create (PBKDF2 costs about a second each).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Throttle counters start at zero in every test (a cache of the test's own).
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": str(tmp_path)}
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


def bearer_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


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
def tomorrow_10am():
    start = timezone.localtime() + timedelta(days=1)
    return start.replace(hour=10, minute=0, second=0, microsecond=0)
