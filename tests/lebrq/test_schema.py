"""The OpenAPI schema documents every operation's errors with the `Error` body and an example of each code it
can answer (`lebrq.schema`), and real error answers carry codes their operation documents."""

from datetime import timedelta

import jsonschema
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from lebrq.errors import ERROR_CODES
from lebrq.schema import FIELD_CODES, error_codes
from lebrq.upload_kinds import UPLOAD_KINDS
from tests.lebrq.schema_paths import operation_for

ERROR_REF = {"$ref": "#/components/schemas/Error"}
ANY_REQUEST = ["bad_request", "payload_too_large", "header_too_large", "memory_pressure", "overloaded"]


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
    assert "example" not in component["properties"]["code"]  # each response has examples of its own codes
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


def documented(schema, method: str, path: str) -> dict[str, list[str]]:
    """status → the codes of its examples, for the error responses of one operation."""
    responses = schema["paths"][path][method]["responses"]
    return {
        status: list(response["content"]["application/json"]["examples"])
        for status, response in responses.items()
        if int(status) >= 400
    }


def test_each_operation_documents_the_errors_it_can_answer(schema):
    def statuses(method, path):
        return list(schema["paths"][path][method]["responses"])

    assert statuses("get", "/api/venues") == ["200", "400", "413", "431", "503"]
    assert documented(schema, "get", "/api/venues") == {
        "400": ["bad_request"],
        "413": ["payload_too_large"],
        "431": ["header_too_large"],
        "503": ["memory_pressure", "overloaded", "database_unavailable"],
    }
    assert documented(schema, "get", "/api/venues/{id}")["404"] == ["not_found"]
    login = documented(schema, "post", "/api/auth/login")
    assert login["400"] == ["bad_request", "parse_error", "invalid", "required"]
    assert login["401"] == ["authentication_failed"]
    assert login["429"] == ["throttled"]
    assert login["503"] == ["memory_pressure", "overloaded", "database_unavailable", "throttle_unavailable"]
    assert statuses("post", "/api/auth/login") == ["200", "400", "401", "408", "411", "413", "415", "429", "431", "503"]
    assert documented(schema, "post", "/api/auth/refresh")["401"] == ["token_expired", "token_invalid", "token_revoked"]
    assert documented(schema, "get", "/api/auth/me")["401"] == [
        "not_authenticated",
        "token_expired",
        "token_invalid",
        "token_revoked",
    ]
    create = documented(schema, "post", "/api/bookings")
    assert create["409"] == ["slot_conflict", "duplicate_booking"]
    assert create["400"] == [
        "bad_request",
        "parse_error",
        "invalid",
        "required",
        "in_the_past",
        "too_soon",
        "beyond_horizon",
        "too_short",
        "too_long",
        "whole_minutes",
        "nonexistent_time",
        "ambiguous_time",
        "unsupported_character",
    ]
    assert "409" not in documented(schema, "post", "/api/bookings/quote")
    assert documented(schema, "post", "/api/bookings/{id}/cancel")["409"] == [
        "not_cancellable",
        "cancellation_window_closed",
    ]
    assert documented(schema, "patch", "/api/bookings/{id}/billing")["409"] == ["invoice_issued"]
    assert "required" not in documented(schema, "patch", "/api/bookings/{id}/billing")["400"]  # partial
    invoice = documented(schema, "get", "/api/bookings/{id}/invoice")
    assert (invoice["409"], invoice["503"][-1]) == (["invoice_not_available"], "invoice_busy")
    assert statuses("get", "/api/bookings/{id}/invoice")[:3] == ["200", "206", "304"]
    image = documented(schema, "post", "/api/uploads/image")
    assert image["413"] == ["payload_too_large", "too_many_pixels"]
    assert image["400"] == [
        "bad_request",
        "parse_error",
        "invalid",
        "incomplete_upload",
        "too_many_files",
        "too_many_fields",
        "corrupt_content",
        "metadata_not_removable",
        "invalid_idempotency_key",
    ]
    assert (image["411"], image["415"], image["422"], image["507"]) == (
        ["length_required"],
        ["unsupported_media_type"],
        ["idempotency_key_reused"],
        ["insufficient_storage"],
    )
    assert image["429"] == ["too_many_uploads"]
    assert image["503"][-2:] == ["upload_checks_busy", "storage_unavailable"]
    assert documented(schema, "post", "/api/uploads/video")["413"] == ["payload_too_large"]
    assert "401" not in documented(schema, "get", "/api/items")  # public: no token is read
    assert documented(schema, "get", "/static/{name}")["401"] == ["token_expired", "token_invalid", "token_revoked"]


def test_every_error_response_has_the_error_body_and_an_example_of_each_code(schema):
    validator = jsonschema.Draft7Validator(schema["components"]["schemas"]["Error"])
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            errors = documented(schema, method, path)
            listed = [code for codes in errors.values() for code in codes]
            assert [code for code in ANY_REQUEST if code not in listed] == [], (method, path)
            for status, codes in errors.items():
                response = operation["responses"][status]
                assert response["content"]["application/json"]["schema"] == ERROR_REF, (method, path, status)
                assert response["description"].count("`") >= 2  # names its codes
                for code, example in response["content"]["application/json"]["examples"].items():
                    assert code in {**ERROR_CODES[int(status)], **FIELD_CODES}, (method, path, status, code)
                    assert example["value"]["code"] == code
                    assert list(validator.iter_errors(example["value"])) == [], (method, path, code)
                if status in ("429", "503"):
                    assert response["headers"]["Retry-After"]["schema"] == {"type": "integer"}


def test_examples_show_the_operations_own_fields(schema):
    def example(method, path, status, code):
        return schema["paths"][path][method]["responses"][status]["content"]["application/json"]["examples"][code]

    assert example("post", "/api/bookings", "400", "required")["value"]["detail"] == {
        "space_id": ["This field is required."]
    }
    assert list(example("get", "/api/spaces/{space_id}/availability", "400", "invalid")["value"]["detail"]) == ["from"]
    upload_invalid = example("post", "/api/uploads/document", "400", "invalid")["value"]
    assert upload_invalid["detail"] == {"file": ["No file was submitted in the multipart field 'file'."]}
    assert example("post", "/api/uploads/document", "400", "parse_error")["value"]["message"].startswith("Multipart")


def test_a_view_can_declare_only_known_codes():
    assert error_codes("slot_conflict", "required") == {"x-error-codes": ["slot_conflict", "required"]}
    with pytest.raises(ValueError, match="teapot"):
        error_codes("teapot")


def test_schema_is_valid_openapi_without_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    text = (tmp_path / "schema.yml").read_text()
    assert text.startswith("openapi: 3.0.3")
    assert "x-error-codes" not in text  # consumed by lebrq.schema.ApiSchema


@pytest.mark.django_db
def test_real_errors_carry_codes_their_operation_documents(
    schema, api, customer_api, staff_api, make_booking, hall, shared_media
):
    """Real failing requests, each matched to its documented operation by the path parameters' own schemas: the
    status is documented there, with an example of the code answered."""
    from bookings.models import Booking

    cancelled = make_booking(status=Booking.Status.CANCELLED)
    soon = make_booking(start=timezone.now() + timedelta(hours=3), status=Booking.Status.CONFIRMED)
    past = (timezone.now() - timedelta(days=1)).replace(second=0, microsecond=0)
    booking_body = {"space_id": hall.id, "start_datetime": past.isoformat(), "attendees": 10}
    booking_body["end_datetime"] = (past + timedelta(hours=2)).isoformat()
    bad_token = api.__class__()
    bad_token.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    text_file = SimpleUploadedFile("notes.txt", b"plain text, not an image\n" * 10)
    requests = [
        ("get", "/api/bookings", api.get("/api/bookings"), "not_authenticated"),
        ("get", "/api/uploads", bad_token.get("/api/uploads"), "token_invalid"),
        ("get", "/api/bookings/BK-FFFFFFFFFF", customer_api.get("/api/bookings/BK-FFFFFFFFFF"), "not_found"),
        ("get", "/api/venues/99999999999999999999", api.get("/api/venues/99999999999999999999"), "not_found"),
        ("post", "/api/auth/login", api.post("/api/auth/login", {}, format="json"), "required"),
        (
            "post",
            "/api/auth/login",
            api.post("/api/auth/login", {"username": "asha", "password": "wrong-password"}, format="json"),
            "authentication_failed",
        ),
        (
            "post",
            "/api/bookings",
            customer_api.post("/api/bookings", b"{", content_type="application/json"),
            "parse_error",
        ),
        (
            "post",
            "/api/bookings",
            customer_api.post("/api/bookings", b"x", content_type="text/plain"),
            "unsupported_media_type",
        ),
        ("post", "/api/bookings", customer_api.post("/api/bookings", booking_body, format="json"), "in_the_past"),
        (
            "post",
            f"/api/bookings/{cancelled.pk}/cancel",
            customer_api.post(f"/api/bookings/{cancelled.pk}/cancel"),
            "not_cancellable",
        ),
        (
            "post",
            f"/api/bookings/{soon.booking_reference}/cancel",
            customer_api.post(f"/api/bookings/{soon.booking_reference}/cancel"),
            "cancellation_window_closed",
        ),
        (
            "get",
            f"/api/bookings/{cancelled.pk}/invoice",
            customer_api.get(f"/api/bookings/{cancelled.pk}/invoice"),
            "invoice_not_available",
        ),
        (
            "get",
            "/api/spaces/1/availability",
            api.get(f"/api/spaces/{hall.id}/availability", {"from": "nope", "to": "2030-01-01"}),
            "invalid",
        ),
        ("get", "/static/images/nothing.jpg", api.get("/static/images/nothing.jpg"), "not_found"),
        ("delete", "/api/uploads/999999", customer_api.delete("/api/uploads/999999"), "not_found"),
        (
            "post",
            "/api/uploads/image",
            customer_api.post("/api/uploads/image", {"file": text_file}, format="multipart"),
            "unsupported_media_type",
        ),
        (
            "post",
            "/api/uploads/document",
            customer_api.post("/api/uploads/document", {"note": "no file"}, format="multipart"),
            "invalid",
        ),
    ]
    for method, url, response, code in requests:
        template = operation_for(schema, method, url)
        body = response.json()
        assert body["code"] == code, (method, url, response.status_code, body)
        assert code in documented(schema, method, template).get(str(response.status_code), []), (method, url, body)


@pytest.mark.django_db
def test_a_booking_is_addressed_by_id_or_reference_in_any_case_and_nothing_else(staff_api, make_booking):
    booking = make_booking()
    for key in (booking.pk, booking.booking_reference, booking.booking_reference.lower()):
        assert staff_api.get(f"/api/bookings/{key}").json()["id"] == booking.pk
    for key in ("x", "1.5", "BK-123", f"{booking.booking_reference}0", "-1"):
        response = staff_api.get(f"/api/bookings/{key}")
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), key


def test_uploads_document_the_idempotency_key_header(schema):
    for kind in UPLOAD_KINDS:
        operation = schema["paths"][f"/api/uploads/{kind}"]["post"]
        headers = [parameter for parameter in operation["parameters"] if parameter["in"] == "header"]
        assert [(header["name"], header["schema"], header.get("required", False)) for header in headers] == [
            ("Idempotency-Key", {"type": "string"}, False)
        ]
        assert "idempotency_key_reused" in documented(schema, "post", f"/api/uploads/{kind}")["422"]
        assert "invalid_idempotency_key" in documented(schema, "post", f"/api/uploads/{kind}")["400"]
