"""Fixtures of the fuzzing runs: requests in process through Django's WSGI application, inside the test's
transaction, on the demo data, with throttles out of the way."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from rest_framework_simplejwt.tokens import AccessToken


@pytest.fixture(autouse=True)
def _test_connection_survives_requests():
    """As Django's test client does: requests must not close the connection that holds the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def bearer(db, settings, django_user_model):
    """The demo data (a venue, spaces, items, bookings in several states) and the demo customer's token."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # seeding in milliseconds
    settings.THROTTLE_ADDRESS_RATE = settings.THROTTLE_ACCOUNT_ADDRESS_RATE = "100000/min"  # fuzz, not throttle
    call_command("seed_demo", stdout=StringIO())
    return f"Bearer {AccessToken.for_user(django_user_model.objects.get(username='customer'))}"
