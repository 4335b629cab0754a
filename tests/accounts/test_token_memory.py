"""`accounts.authentication.BearerTokenAuthentication`: a token verified once is remembered, its expiry still
checked on every request, the user still loaded (and refused when inactive or revoked) on every request."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient
from rest_framework_simplejwt import tokens
from rest_framework_simplejwt.utils import aware_utcnow

from accounts import authentication
from accounts.tokens import AccessToken


@pytest.fixture(autouse=True)
def no_remembered_tokens():
    authentication._verified.clear()
    yield
    authentication._verified.clear()


def client_with(token) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("ravi", password="x-password-1")


def test_a_verified_token_is_remembered_and_its_user_loaded_each_time(user, django_assert_num_queries):
    token = str(AccessToken.for_user(user))
    client = client_with(token)
    assert client.get("/api/auth/me").json()["username"] == "ravi"
    assert list(authentication._verified) == [token.encode()]
    with django_assert_num_queries(1):  # the user, again
        assert client.get("/api/auth/me").status_code == 200
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    refused = client.get("/api/auth/me")
    assert refused.status_code == 401
    assert refused.json()["code"] == "token_invalid"  # an inactive account's tokens are not valid


def test_a_remembered_token_that_expired_is_refused_and_forgotten(user, monkeypatch, settings):
    raw = str(AccessToken.for_user(user))
    assert client_with(raw).get("/api/auth/me").status_code == 200
    later = aware_utcnow() + settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"] + timedelta(seconds=1)
    monkeypatch.setattr(authentication, "aware_utcnow", lambda: later)
    monkeypatch.setattr(tokens, "aware_utcnow", lambda: later)
    refused = client_with(raw).get("/api/auth/me")
    assert refused.status_code == 401
    assert refused.json()["code"] == "token_expired"
    assert raw.encode() not in authentication._verified


def test_a_forged_token_is_never_remembered(user):
    header, payload, signature = str(AccessToken.for_user(user)).split(".")
    forged = f"{header}.{payload}.{signature[:-2]}AA"
    assert client_with(forged).get("/api/auth/me").status_code == 401
    assert authentication._verified == {}


def test_the_memory_is_bounded(user, monkeypatch):
    monkeypatch.setattr(authentication, "VERIFIED_TOKENS", 2)
    tokens = [str(AccessToken.for_user(user)) for _ in range(3)]
    for number, token in enumerate(tokens):
        assert client_with(token).get("/api/auth/me").status_code == 200, number
    assert list(authentication._verified) == [tokens[2].encode()]


def test_a_token_of_a_deleted_user_is_refused(user):
    client = client_with(AccessToken.for_user(user))
    get_user_model().objects.filter(pk=user.pk).delete()
    refused = client.get("/api/auth/me")
    assert refused.status_code == 401
    assert refused.json()["code"] == "token_invalid"


def test_a_remembered_token_is_revoked_by_a_password_change(user):
    client = client_with(AccessToken.for_user(user))
    assert client.get("/api/auth/me").status_code == 200
    user.set_password("x-password-new")
    user.save()
    refused = client.get("/api/auth/me")
    assert refused.status_code == 401
    assert refused.json()["code"] == "token_revoked"
