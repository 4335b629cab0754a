"""The API's JSON parser (lebrq.parsers): malformed, too deep or wrongly encoded JSON is a 400, never a 500."""

import pytest
from django.test import Client


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "JSON parse error - nested too deeply."),
        (b'{"username": ', "JSON parse error - Expecting value: line 1 column 14 (char 13)"),
        (
            '{"username": "é"}'.encode("utf-16"),
            "JSON parse error - 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte",
        ),
    ],
    ids=["too-deep", "malformed", "utf-16"],
)
def test_bad_json_is_400(body, detail):
    response = Client(raise_request_exception=False).post("/api/auth/login", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": detail, "success": False, "message": detail, "code": "parse_error"}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/auth/login", "/api/users/register", "/api/auth/password-reset"])
def test_a_lone_surrogate_is_a_400_parse_error(path):
    from rest_framework.test import APIClient

    body = b'{"username": "\\ud800", "email": "\\ud800@example.com", "password": "x"}'
    response = APIClient().post(path, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
