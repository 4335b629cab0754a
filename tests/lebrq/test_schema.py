"""The OpenAPI schema documents every operation's errors with the `Error` body (`lebrq.schema`)."""

import pytest

from lebrq.schema import ERROR_SCHEMA

ERROR_REF = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        return Client().get("/api/schema/", HTTP_ACCEPT="application/json").json()


def test_error_component(schema):
    assert schema["components"]["schemas"]["Error"] == ERROR_SCHEMA


def codes(schema, method: str, path: str) -> list[str]:
    return list(schema["paths"][path][method]["responses"])


def test_each_operation_documents_the_errors_it_can_answer(schema):
    assert codes(schema, "get", "/api/venues") == ["200", "503"]
    assert codes(schema, "get", "/api/venues/{id}") == ["200", "404", "503"]
    assert codes(schema, "post", "/api/auth/login") == ["200", "400", "401", "429", "503"]
    assert codes(schema, "post", "/api/users/register") == ["201", "400", "429", "503"]
    assert codes(schema, "post", "/api/auth/refresh") == ["200", "400", "401", "503"]
    assert codes(schema, "post", "/api/auth/logout") == ["204", "400", "401", "503"]
    assert codes(schema, "post", "/api/auth/change-password") == ["200", "400", "401", "503"]
    assert codes(schema, "post", "/api/auth/password-reset") == ["202", "400", "429", "503"]
    assert codes(schema, "post", "/api/auth/password-reset/confirm") == ["200", "400", "429", "503"]
    assert codes(schema, "get", "/api/bookings") == ["200", "400", "401", "503"]
    assert codes(schema, "post", "/api/bookings") == ["201", "400", "401", "409", "503"]
    assert codes(schema, "get", "/api/bookings/{id}") == ["200", "401", "404", "503"]
    assert codes(schema, "post", "/api/uploads/{kind}")[:2] == ["201", "400"]


def test_every_error_response_has_the_error_body(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if int(code) >= 400:
                    assert response["content"] == ERROR_REF, (method, path, code)
            for code in ("429", "503"):
                if code in operation["responses"]:
                    retry_after = operation["responses"][code]["headers"]["Retry-After"]
                    assert retry_after["schema"] == {"type": "integer"}


def test_schema_is_valid_openapi_without_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert (tmp_path / "schema.yml").read_text().startswith("openapi: 3.0.3")
