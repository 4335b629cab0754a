"""The OpenAPI schema documents every operation's errors with the `Error` body (`lebrq.schema`)."""

import jsonschema
import pytest

ERROR_REF = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        return Client().get("/api/schema/", HTTP_ACCEPT="application/json").json()


def test_error_component_names_the_fields_of_the_error_body(schema):
    component = schema["components"]["schemas"]["Error"]
    assert component["required"] == ["detail", "success", "message", "code"]
    assert list(component["properties"]) == ["detail", "success", "message", "code"]
    assert component["properties"]["success"] == {"type": "boolean", "enum": [False]}
    validator = jsonschema.Draft7Validator(component)
    assert not validator.is_valid({"detail": "x", "success": False, "message": "x"})  # no code
    assert not validator.is_valid({"detail": "x", "success": True, "message": "x", "code": "x"})


@pytest.mark.django_db
def test_real_error_bodies_match_the_error_component(schema, api, customer_api):
    """What `lebrq.errors` really answers, checked against the component the schema publishes."""
    validator = jsonschema.Draft7Validator(schema["components"]["schemas"]["Error"])
    answers = {
        "404": customer_api.get("/api/venues/999999"),
        "400 (fields)": api.post("/api/auth/login", {}, format="json"),
        "401": api.get("/api/bookings"),
        "405": customer_api.delete("/api/venues"),
    }
    assert {name: response.status_code for name, response in answers.items()} == {
        "404": 404,
        "400 (fields)": 400,
        "401": 401,
        "405": 405,
    }
    for name, response in answers.items():
        body = response.json()
        assert list(validator.iter_errors(body)) == [], (name, body)
    assert isinstance(answers["400 (fields)"].json()["detail"], dict)  # the object form of `detail`


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


def test_uploads_document_the_idempotency_key_header(schema):
    operation = schema["paths"]["/api/uploads/{kind}"]["post"]
    headers = [parameter for parameter in operation["parameters"] if parameter["in"] == "header"]
    assert [(header["name"], header["schema"], header.get("required", False)) for header in headers] == [
        ("Idempotency-Key", {"type": "string"}, False)
    ]
    assert "422" in operation["responses"]
