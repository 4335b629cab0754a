"""The API's JSON parser (lebrq.parsers): a body that is not acceptable JSON is a 400 ``parse_error`` with a human
sentence, never a 500; one over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 even without the ASGI guard."""

import pytest
from django.test import Client

from lebrq.parsers import MAX_DEPTH, nesting_depth

DEEP = f"The body is not valid JSON here: it nests deeper than {MAX_DEPTH} levels."


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"[" * 1000, DEEP),
        (b"[" * 100_000 + b"]" * 100_000, DEEP),
        (b'{"a": ' * 33 + b"1" + b"}" * 33, DEEP),
        (b'{"username": ', "The body is not valid JSON: Expecting value: line 1 column 14 (char 13)."),
        (b"{bad", "The body is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2"
         " (char 1)."),
        ('{"username": "é"}'.encode("utf-16"), "The body is not valid JSON: it is not UTF-8 text."),
        ('{"username": "é"}'.encode("latin-1"), "The body is not valid JSON: it is not UTF-8 text."),
        (b'{"username": "a", "password": "b", "username": "c"}',
         'The body is not valid JSON: the member "username" appears twice in one object.'),
        (b'{"username": NaN}', "The body is not valid JSON: NaN is not a JSON number."),
        (b'{"username": -Infinity}', "The body is not valid JSON: -Infinity is not a JSON number."),
        (b'{"username": "a"} x', "The body is not valid JSON: Extra data: line 1 column 19 (char 18)."),
        (b'{"username": "\\ud800", "password": "x"}',
         "The body is not valid JSON here: a string holds a lone surrogate, not text."),
    ],
    ids=["1000-deep", "100000-deep", "33-deep-objects", "truncated", "malformed", "utf-16", "latin-1",
         "duplicate-key", "nan", "infinity", "extra-data", "lone-surrogate"],
)  # fmt: skip
def test_unacceptable_json_is_a_400_parse_error(body, detail):
    response = Client(raise_request_exception=False).post("/api/auth/login", data=body, content_type="application/json")
    assert (response.status_code, response["Content-Type"]) == (400, "application/json")
    assert response.json() == {"detail": detail, "success": False, "message": detail, "code": "parse_error"}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/auth/login", "/api/users/register", "/api/auth/password-reset"])
def test_a_lone_surrogate_is_a_400_parse_error_everywhere(path):
    body = b'{"username": "\\ud800", "email": "\\ud800@example.com", "password": "x"}'
    response = Client().post(path, body, content_type="application/json")
    assert (response.status_code, response.json()["code"]) == (400, "parse_error")


@pytest.mark.django_db
def test_nesting_up_to_the_limit_and_brackets_in_strings_are_accepted():
    body = '{"username": ' + "[" * (MAX_DEPTH - 1) + '"[[[{{{\\"]]"' + "]" * (MAX_DEPTH - 1) + ', "password": "x"}'
    response = Client().post("/api/auth/login", body, content_type="application/json")
    assert response.status_code == 400  # parsed; then refused by the serializer, field by field
    assert response.json()["code"] == "invalid"


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("[]", 1),
        ('[{"a": [1]}]', 3),
        ('["[[[", {"b": "]]}"}]', 2),
        ('"\\"[["', 0),
        ("[" * 50, 50),
        ("[" * 50 + "]" * 50, 50),
        ("]]]", 0),
        ('["unterminated \\', 1),
        ('"\\' * 1000, 0),
    ],
)
def test_nesting_depth(text, depth):
    assert nesting_depth(text) == depth


def test_a_body_over_the_cap_is_413_without_the_asgi_guard(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = b'{"username": "' + b"a" * 1024 + b'"}'
    response = Client().post("/api/auth/login", body, content_type="application/json")
    detail = "The request body may be at most 1 KiB."
    assert (response.status_code, response.json()) == (
        413,
        {"detail": detail, "success": False, "message": detail, "code": "payload_too_large"},
    )
