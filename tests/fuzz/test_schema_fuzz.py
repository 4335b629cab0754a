"""Property-based fuzzing of the whole API from its own OpenAPI schema (drf-spectacular's ``/api/schema/``) with
schemathesis, in process through Django's WSGI application, on the demo data and with a valid bearer token.

Every generated request (valid and invalid, per operation) must get no 5xx, a documented status code and
content type, and a body and headers that match the schema. The number of examples per operation is bounded
(`MAX_EXAMPLES`, 25; ``LEBRQ_FUZZ_EXAMPLES=500`` for a deeper local run), which keeps the whole run within
about half a minute.
"""

import os
from io import StringIO

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework_simplejwt.tokens import AccessToken
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

MAX_EXAMPLES = int(os.environ.get("LEBRQ_FUZZ_EXAMPLES", "25"))  # more for a deeper local run
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


# Under WSGI, Django buffers the async file iterators of downloads and invoices (uvicorn streams them); fine for
# the small demo files here.
pytestmark = pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous iterators")

# Loaded once at collection (generating the schema needs no database); one test per API operation.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


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


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_matches_its_schema(case, bearer):
    case.call_and_validate(headers={"Authorization": bearer}, checks=CHECKS)
