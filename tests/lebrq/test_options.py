"""``OPTIONS`` on every URL pattern of the project (the API, the docs, health, the admin) answers without a 5xx."""

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

#: A sample value for each path parameter, by name, else by converter.
BY_NAME = {
    "object_id": "1",
    "content_type_id": "1",
    "kind": "image",
    "app_label": "bookings",
    "format": "json",
    "name": "a/b.jpg",
    "uidb64": "MQ",
}
BY_CONVERTER = {
    "stored_name": "images/a.jpg",
    "int": "1",
    "str": "x",
    "path": "a/b",
    "slug": "x",
    "uuid": "00000000-0000-0000-0000-000000000000",
}


def _sample_path(pattern: str) -> str:
    """A concrete path for one route pattern: ``<int:pk>`` → 1, ``(?P<kind>...)`` → image, anchors and optional
    slashes gone (one level of regular expression, as the project's and the admin's routes use)."""
    path = pattern
    while (start := path.find("(?P<")) >= 0:
        name = path[start + 4 : path.index(">", start)]
        depth, end = 0, start
        for end in range(start, len(path)):
            depth += {"(": 1, ")": -1}.get(path[end], 0) if path[end - 1 : end] != "\\" else 0
            if depth == 0:
                break
        path = path[:start] + BY_NAME.get(name, "1") + path[end + 1 :]
    path = re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: BY_NAME.get(m.group(2)) or BY_CONVERTER[m.group(1) or "str"], path)
    for token in ("^", "$", "\\Z", "?"):
        path = path.replace(token, "")
    return path.replace("\\.", ".")


def _all_paths(resolver=None, prefix="") -> list[str]:
    resolver = resolver or get_resolver()
    paths = []
    for entry in resolver.url_patterns:
        pattern = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            paths += _all_paths(entry, pattern)
        elif isinstance(entry, URLPattern):
            paths.append("/" + _sample_path(pattern))
    return sorted(set(paths))


PATHS = _all_paths()


def test_every_pattern_is_walked():
    assert len(PATHS) > 60  # the admin's routes and the API's
    expected = {"/api/docs/", "/api/schema/", "/api/bookings/1/invoice/", "/api/uploads/image/", "/admin/"}
    assert expected | {"/api/uploads/a/b.jpg", "/static/a/b.jpg"} <= set(PATHS)


@pytest.mark.django_db
@pytest.mark.parametrize("path", PATHS)
def test_options_answers_without_a_server_error(path, customer):
    from rest_framework_simplejwt.tokens import AccessToken

    client = Client(raise_request_exception=False)
    variants = [{}]
    if path.startswith("/api/"):  # the API's views authenticate by bearer token (the admin by session)
        variants.append({"HTTP_AUTHORIZATION": f"Bearer {AccessToken.for_user(customer)}"})
    for headers in variants:
        response = client.options(path, **headers)
        assert response.status_code < 500, (path, response.status_code, response.content[:200])


def test_options_on_the_docs_page_lists_its_methods():
    response = Client().options("/api/docs/")
    assert (response.status_code, response["Allow"], response.content) == (200, "GET, HEAD, OPTIONS", b"")
