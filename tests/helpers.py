"""Helper functions shared by the tests (fixtures are in tests/conftest.py)."""

from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken


def bearer_client(user) -> APIClient:
    """An API client that sends ``Authorization: Bearer <access token of user>`` (simplejwt)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client
