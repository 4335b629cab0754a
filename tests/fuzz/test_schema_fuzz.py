"""Property-based fuzzing of the whole API from its own OpenAPI schema (drf-spectacular's ``/api/schema/``) with
schemathesis, in process through Django's WSGI application, on the demo data and with a valid bearer token.

Every generated request (valid and invalid, per operation) must get no 5xx, a documented status code and
content type, and a body and headers that match the schema. The number of examples per operation is bounded
(`MAX_EXAMPLES`, 25; ``LEBRQ_FUZZ_EXAMPLES=500`` for a deeper local run), which keeps the whole run within
about half a minute.
"""

import os

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
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
