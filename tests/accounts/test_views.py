"""The accounts API through Django's test client: sign-up, login and token lifecycle, password change and
reset, bad input. Mails go to Django's locmem outbox here (tests/accounts/test_mail_smtp.py uses a real SMTP
server)."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken as PlainAccessToken

from accounts.models import Profile
from accounts.tokens import AccessToken, RefreshToken

pytestmark = pytest.mark.django_db
User = get_user_model()

SIGN_UP = {"username": "meera", "email": "meera@example.com", "password": "kochi-backwaters-42"}


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False
    assert body["code"] == code
    assert set(body) == {"detail", "success", "message", "code"}
    return body


def login(api, username="asha", password="pw-asha-123") -> dict:
    response = api.post("/api/auth/login", {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def bearer(access: str, scheme="Bearer") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {access}")
    return client


# --- Sign-up --------------------------------------------------------------------------------------------


def test_register_creates_a_customer_with_profile_and_mails_a_welcome(api):
    payload = {**SIGN_UP, "first_name": "Meera", "last_name": "Nair", "mobile": "+91 98470 12345"}
    response = api.post("/api/users/register", payload, format="json")
    assert response.status_code == 201
    user = User.objects.get(username="meera")
    assert response.json() == {
        "id": user.id,
        "username": "meera",
        "email": "meera@example.com",
        "first_name": "Meera",
        "last_name": "Nair",
        "mobile": "+91 98470 12345",
        "is_staff": False,
    }
    assert not user.is_staff and not user.is_superuser
    assert user.check_password("kochi-backwaters-42")
    assert user.profile.mobile == "+91 98470 12345"
    assert [m.to for m in mail.outbox] == [["meera@example.com"]]
    assert 'your LeBRQ account "meera" is ready' in mail.outbox[0].body
    assert login(api, "meera", "kochi-backwaters-42")["token_type"] == "bearer"


def test_register_ignores_staff_flags(api):
    response = api.post("/api/users/register", {**SIGN_UP, "is_staff": True, "is_superuser": True}, format="json")
    assert response.status_code == 201
    assert response.json()["is_staff"] is False
    assert not User.objects.get(username="meera").is_superuser


@pytest.mark.parametrize("taken", ["ASHA", "Asha", "asha"])
def test_taken_username_is_400_naming_the_field_whatever_its_case(api, customer, taken):
    body = error(api.post("/api/users/register", {**SIGN_UP, "username": taken}, format="json"), 400, "unique")
    assert body["detail"] == {"username": ["A user with that username already exists."]}
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("first", "second", "key"), [("José", "JOSE", "jose"), ("Ünal", "ünal", "unal"), ("Straße", "STRASSE", "strasse")]
)
def test_unicode_usernames_are_unique_case_and_accent_insensitively(api, first, second, key):
    assert api.post("/api/users/register", {**SIGN_UP, "username": first}, format="json").status_code == 201
    second_try = api.post(
        "/api/users/register", {**SIGN_UP, "username": second, "email": "x@example.com"}, format="json"
    )
    error(second_try, 400, "unique")
    assert Profile.objects.get().username_key == key


def test_register_with_a_registered_address_answers_alike_and_tells_its_owner(api, customer):
    first = api.post("/api/users/register", SIGN_UP, format="json")
    second = api.post(
        "/api/users/register", {**SIGN_UP, "username": "meera2", "email": "ASHA@example.com"}, format="json"
    )
    assert (first.status_code, second.status_code) == (201, 201)
    assert set(first.json()) == set(second.json())
    assert [m.to for m in mail.outbox] == [["meera@example.com"], ["ASHA@example.com"]]
    assert "already uses" in mail.outbox[1].body
    assert "is ready" not in mail.outbox[1].body


def test_register_applies_django_password_validators(api):
    for password, message in [
        ("short1", "This password is too short. It must contain at least 8 characters."),
        ("12345678901", "This password is entirely numeric."),
        ("password123", "This password is too common."),
        ("meera@example.com", "The password is too similar to the email address."),
    ]:
        body = error(api.post("/api/users/register", {**SIGN_UP, "password": password}, format="json"), 400, "invalid")
        assert message in body["detail"]["password"]
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "a@example.com", "password": "kochi-backwaters-42"}, "username"),
        ({"username": "a", "password": "kochi-backwaters-42"}, "email"),
        ({"username": "a", "email": "a@example.com"}, "password"),
        ({**SIGN_UP, "email": "not-an-address"}, "email"),
        ({**SIGN_UP, "username": "has space"}, "username"),
        ({**SIGN_UP, "username": "x" * 151}, "username"),
        ({**SIGN_UP, "password": "p" * 10_240}, "password"),
        ({**SIGN_UP, "mobile": "call me"}, "mobile"),
        ({**SIGN_UP, "first_name": "x" * 151}, "first_name"),
        ({**SIGN_UP, "username": "nul\x00byte"}, "username"),
    ],
)
def test_register_bad_input_is_400_naming_the_field(api, payload, field):
    body = error(api.post("/api/users/register", payload, format="json"), 400, body_code(field, payload))
    assert field in body["detail"]
    assert not User.objects.exists()


def body_code(field, payload):
    if field in {"username", "email", "password"} and field not in payload:
        return "required"
    if (field in {"username", "first_name", "password"} and len(payload[field]) > 150) or len(payload[field]) > 128:
        return "max_length"
    return "invalid"


def test_register_accepts_unicode_names(api):
    payload = {**SIGN_UP, "username": "Мира", "first_name": "मीरा", "last_name": "நாயர்"}
    response = api.post("/api/users/register", payload, format="json")
    assert response.status_code == 201
    assert response.json()["first_name"] == "मीरा"
    assert login(api, "Мира", "kochi-backwaters-42")["access_token"]
    # Django's username rule (letters, digits and @.+-_) refuses the vowel signs of Indian scripts: a 400.
    error(api.post("/api/users/register", {**SIGN_UP, "username": "മീര"}, format="json"), 400, "invalid")


def test_register_body_that_is_not_an_object_is_400(api):
    error(api.post("/api/users/register", ["meera"], format="json"), 400, "invalid")
    error(api.post("/api/users/register", "{", content_type="application/json"), 400, "parse_error")


# --- Login and tokens -----------------------------------------------------------------------------------


def test_login_answers_the_token_pair(api, customer, settings):
    tokens = login(api)
    assert set(tokens) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 15 * 60
    access, refresh = AccessToken(tokens["access_token"]), RefreshToken(tokens["refresh_token"])
    assert access["exp"] - access["iat"] == 15 * 60
    assert refresh["exp"] - refresh["iat"] == 7 * 24 * 3600


def test_ten_kilobyte_password_is_400_before_hashing(api, customer):
    body = error(
        api.post("/api/auth/login", {"username": "asha", "password": "p" * 10_240}, format="json"), 400, "max_length"
    )
    assert body["detail"] == {"password": ["Ensure this field has no more than 128 characters."]}


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_bearer_scheme_is_case_insensitive(api, customer, scheme):
    response = bearer(login(api)["access_token"], scheme).get("/api/auth/me")
    assert response.status_code == 200
    assert response.json()["username"] == "asha"


def test_expired_and_garbage_tokens_get_different_codes(api, customer):
    expired = AccessToken.for_user(customer)
    expired.set_exp(lifetime=-timedelta(seconds=1))
    assert error(bearer(str(expired)).get("/api/auth/me"), 401, "token_expired")["message"] == "Token has expired."
    assert error(bearer("garbage").get("/api/auth/me"), 401, "token_invalid")["message"] == "Token is invalid."
    forged = str(AccessToken.for_user(customer))[:-4] + "AAAA"
    error(bearer(forged).get("/api/auth/me"), 401, "token_invalid")
    error(bearer(login(api)["refresh_token"]).get("/api/auth/me"), 401, "token_invalid")  # wrong type
    error(APIClient(HTTP_AUTHORIZATION="Bearer a b").get("/api/auth/me"), 401, "token_invalid")


def test_token_without_revocation_claims_is_refused(api, customer):
    bare = PlainAccessToken()
    bare["user_id"] = str(customer.id)
    error(bearer(str(bare)).get("/api/auth/me"), 401, "token_revoked")


def test_refresh_rotates_and_is_single_use(api, customer):
    tokens = login(api)
    response = api.post("/api/auth/refresh", {"refresh_token": tokens["refresh_token"]}, format="json")
    assert response.status_code == 200
    fresh = response.json()
    assert set(fresh) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert fresh["refresh_token"] != tokens["refresh_token"]
    assert bearer(fresh["access_token"]).get("/api/auth/me").status_code == 200
    replay = api.post("/api/auth/refresh", {"refresh_token": tokens["refresh_token"]}, format="json")
    error(replay, 401, "token_invalid")
    assert api.post("/api/auth/refresh", {"refresh_token": fresh["refresh_token"]}, format="json").status_code == 200


def test_refresh_bad_input(api, customer):
    error(api.post("/api/auth/refresh", {}, format="json"), 400, "required")
    error(api.post("/api/auth/refresh", {"refresh_token": "garbage"}, format="json"), 401, "token_invalid")
    access = login(api)["access_token"]
    error(api.post("/api/auth/refresh", {"refresh_token": access}, format="json"), 401, "token_invalid")
    expired = RefreshToken.for_user(customer)
    expired.set_exp(lifetime=-timedelta(seconds=1))
    error(api.post("/api/auth/refresh", {"refresh_token": str(expired)}, format="json"), 401, "token_expired")


def test_refresh_of_an_inactive_account_is_401(api, customer):
    refresh_token = login(api)["refresh_token"]
    User.objects.filter(pk=customer.pk).update(is_active=False)
    error(api.post("/api/auth/refresh", {"refresh_token": refresh_token}, format="json"), 401, "token_invalid")


def test_logout_revokes_the_access_token_and_every_refresh_token(api, customer):
    phone, laptop = login(api), login(api)
    client = bearer(phone["access_token"])
    response = client.post("/api/auth/logout", {"refresh_token": phone["refresh_token"]}, format="json")
    assert response.status_code == 204
    assert response.content == b""
    error(client.get("/api/auth/me"), 401, "token_revoked")
    error(bearer(laptop["access_token"]).get("/api/auth/me"), 401, "token_revoked")
    for refresh_token in (phone["refresh_token"], laptop["refresh_token"]):
        error(api.post("/api/auth/refresh", {"refresh_token": refresh_token}, format="json"), 401, "token_invalid")
    again = login(api)  # a new login works at once
    assert bearer(again["access_token"]).get("/api/auth/me").status_code == 200
    assert api.post("/api/auth/refresh", {"refresh_token": again["refresh_token"]}, format="json").status_code == 200


def test_logout_without_body_or_token(api, customer):
    assert bearer(login(api)["access_token"]).post("/api/auth/logout").status_code == 204
    error(api.post("/api/auth/logout"), 401, "not_authenticated")


# --- Password change ------------------------------------------------------------------------------------


def test_change_password_revokes_every_earlier_token(api, customer):
    before = login(api)
    other_device = login(api)
    client = bearer(before["access_token"])
    response = client.post(
        "/api/auth/change-password",
        {"old_password": "pw-asha-123", "new_password": "monsoon-in-kochi-7"},
        format="json",
    )
    assert response.status_code == 200
    fresh = response.json()
    assert set(fresh) == {"access_token", "token_type", "expires_in", "refresh_token"}
    for access in (before["access_token"], other_device["access_token"]):
        error(bearer(access).get("/api/auth/me"), 401, "token_revoked")
    for refresh_token in (before["refresh_token"], other_device["refresh_token"]):
        error(api.post("/api/auth/refresh", {"refresh_token": refresh_token}, format="json"), 401, "token_invalid")
    assert bearer(fresh["access_token"]).get("/api/auth/me").status_code == 200
    error(
        api.post("/api/auth/login", {"username": "asha", "password": "pw-asha-123"}, format="json"),
        401,
        "authentication_failed",
    )
    assert login(api, password="monsoon-in-kochi-7")


def test_password_changed_elsewhere_revokes_tokens(api, customer):
    tokens = login(api)
    customer.set_password("changed-in-the-admin-1")
    customer.save()
    error(bearer(tokens["access_token"]).get("/api/auth/me"), 401, "token_revoked")
    error(
        api.post("/api/auth/refresh", {"refresh_token": tokens["refresh_token"]}, format="json"), 401, "token_revoked"
    )


def test_change_password_errors(api, customer):
    client = bearer(login(api)["access_token"])
    wrong = client.post(
        "/api/auth/change-password", {"old_password": "nope", "new_password": "monsoon-in-kochi-7"}, format="json"
    )
    assert error(wrong, 400, "invalid")["detail"] == {"old_password": ["The current password is incorrect."]}
    weak = client.post(
        "/api/auth/change-password", {"old_password": "pw-asha-123", "new_password": "asha"}, format="json"
    )
    assert "new_password" in error(weak, 400, "invalid")["detail"]
    huge = client.post("/api/auth/change-password", {"old_password": "p" * 10_240, "new_password": "x"}, format="json")
    error(huge, 400, "max_length")
    error(client.post("/api/auth/change-password", {}, format="json"), 400, "required")
    error(
        api.post("/api/auth/change-password", {"old_password": "a", "new_password": "b"}, format="json"),
        401,
        "not_authenticated",
    )
    assert bearer(login(api)["access_token"]).get("/api/auth/me").status_code == 200  # nothing changed


# --- Password reset -------------------------------------------------------------------------------------


def reset_link(message) -> tuple[str, str]:
    match = re.search(r"http://localhost:3000/reset-password\?uid=([\w-]+)&token=([\w-]+)", message.body)
    assert match, message.body
    return match.group(1), match.group(2)


def test_password_reset_is_202_whether_or_not_the_address_is_known(api, customer):
    known = api.post("/api/auth/password-reset", {"email": "ASHA@example.com"}, format="json")
    unknown = api.post("/api/auth/password-reset", {"email": "nobody@example.com"}, format="json")
    assert (known.status_code, unknown.status_code) == (202, 202)
    assert known.json() == unknown.json()
    assert [m.to for m in mail.outbox] == [["asha@example.com"]]
    assert mail.outbox[0].subject == "Reset your LeBRQ password"


def test_password_reset_confirm_works_once_and_revokes_tokens(api, customer, settings):
    settings.PASSWORD_RESET_URL = "https://app.lebrq.example/reset/{uid}/{token}"
    tokens = login(api)
    api.post("/api/auth/password-reset", {"email": "asha@example.com"}, format="json")
    uid, token = re.search(r"https://app\.lebrq\.example/reset/([\w-]+)/([\w-]+)", mail.outbox[0].body).groups()
    payload = {"uid": uid, "token": token, "new_password": "monsoon-in-kochi-7"}
    response = api.post("/api/auth/password-reset/confirm", payload, format="json")
    assert response.status_code == 200
    assert response.json()["success"] is True
    assert login(api, password="monsoon-in-kochi-7")
    error(bearer(tokens["access_token"]).get("/api/auth/me"), 401, "token_revoked")
    error(
        api.post("/api/auth/refresh", {"refresh_token": tokens["refresh_token"]}, format="json"), 401, "token_invalid"
    )
    replay = api.post("/api/auth/password-reset/confirm", {**payload, "new_password": "another-one-9x"}, format="json")
    assert error(replay, 400, "invalid")["detail"] == {"token": ["The reset link is invalid or has expired."]}


def test_reset_token_dies_when_the_password_changes_by_another_route(api, customer):
    api.post("/api/auth/password-reset", {"email": "asha@example.com"}, format="json")
    uid, token = reset_link(mail.outbox[0])
    bearer(login(api)["access_token"]).post(
        "/api/auth/change-password",
        {"old_password": "pw-asha-123", "new_password": "monsoon-in-kochi-7"},
        format="json",
    )
    payload = {"uid": uid, "token": token, "new_password": "another-one-9x"}
    error(api.post("/api/auth/password-reset/confirm", payload, format="json"), 400, "invalid")


@pytest.mark.parametrize(
    "payload",
    [
        {"uid": "garbage", "token": "garbage", "new_password": "monsoon-in-kochi-7"},
        {"uid": "", "token": "", "new_password": ""},
        {"uid": "MTIzNDU2Nzg5", "token": "x-y", "new_password": "monsoon-in-kochi-7"},
        {"uid": "€€€", "token": "ü", "new_password": "monsoon-in-kochi-7"},
        {"uid": "MQ", "token": "x", "new_password": "p" * 10_240},
        {},
    ],
)
def test_reset_confirm_bad_input_is_400(api, customer, payload):
    assert api.post("/api/auth/password-reset/confirm", payload, format="json").status_code == 400


def test_reset_confirm_refuses_a_weak_password_and_keeps_the_link(api, customer):
    api.post("/api/auth/password-reset", {"email": "asha@example.com"}, format="json")
    uid, token = reset_link(mail.outbox[0])
    weak = api.post(
        "/api/auth/password-reset/confirm", {"uid": uid, "token": token, "new_password": "123"}, format="json"
    )
    assert "new_password" in error(weak, 400, "invalid")["detail"]
    good = {"uid": uid, "token": token, "new_password": "monsoon-in-kochi-7"}
    assert api.post("/api/auth/password-reset/confirm", good, format="json").status_code == 200


def test_password_reset_bad_address_is_400(api):
    error(api.post("/api/auth/password-reset", {"email": "nope"}, format="json"), 400, "invalid")
    error(api.post("/api/auth/password-reset", {}, format="json"), 400, "required")
    assert mail.outbox == []
