"""Admin static assets (ServeStatic, first in MIDDLEWARE) carry the headers SecurityMiddleware gives pages."""

import pytest
from django.test import Client


@pytest.mark.parametrize("path", ["/assets/admin/css/base.css", "/assets/admin/js/core.js"])
def test_static_assets_carry_the_security_headers(path):
    response = Client().get(path)
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    page = Client().get("/admin/login/")
    assert [page[name] for name in ("X-Content-Type-Options", "Referrer-Policy", "Cross-Origin-Opener-Policy")] == [
        response[name] for name in ("X-Content-Type-Options", "Referrer-Policy", "Cross-Origin-Opener-Policy")
    ]
