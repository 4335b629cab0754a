"""The OpenAPI document is valid OpenAPI 3 (openapi-spec-validator), has no two equivalent paths, and each path
parameter takes exactly what its route takes; uploads take a binary file; descriptions are written for clients."""

import re

import pytest
from django.urls import Resolver404, resolve
from openapi_spec_validator import OpenAPIV30SpecValidator, validate

from lebrq.schema import UNDOCUMENTED_ALIASES
from lebrq.upload_kinds import UPLOAD_KINDS
from tests.lebrq.schema_paths import TEMPLATE_PARAMETER, ecma_pattern, parameter_takes, path_parameters

#: Values tried for every path parameter, each both ways: does the schema take it, does the route?
SAMPLES = [
    "0",
    "7",
    "007",
    "123456",
    "99999999999999999999",
    "-1",
    "+1",
    "1.5",
    "1e3",
    " 1",
    "1 ",
    "",
    "abc",
    "image",
    "video",
    "document",
    "xvideox",
    "imagex",
    "audio",
    "BK-00000DE001",
    "bk-00000de001",
    "Bk-0123456789",
    "BK-00000DE00",
    "BK-00000DE0011",
    "xBK-00000DE001",
    "BK-00000DE001x",
    "BK-00000DG001",
    "images/3f9c.jpg",
    "a/b/c",
    "1/cancel",
    "a b",
    "%2F",
    "é",
    "\r",
    "a\nb",
    "a\n",
    "7\n",
    "\n",
]


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        return Client().get("/api/schema/", HTTP_ACCEPT="application/json").json()


def test_schema_is_valid_openapi_3(schema):
    assert schema["openapi"].startswith("3.0.")
    validate(schema)  # raises on the first error
    assert list(OpenAPIV30SpecValidator(schema).iter_errors()) == []


def test_no_two_paths_are_equivalent(schema):
    """OpenAPI 3.0.3 §4.7.8: templated paths with the same hierarchy but different parameter names must not
    exist (``/api/uploads/{kind}`` and ``/api/uploads/{name}`` were)."""
    shapes: dict[str, list[str]] = {}
    for path in schema["paths"]:
        shapes.setdefault(TEMPLATE_PARAMETER.sub("{}", path), []).append(path)
    assert {shape: paths for shape, paths in shapes.items() if len(paths) > 1} == {}


def test_uploads_are_one_operation_per_kind_and_the_aliases_are_left_out(schema):
    assert [path for path in schema["paths"] if path.startswith("/api/uploads")] == [
        "/api/uploads",
        "/api/uploads/{id}",
        *(f"/api/uploads/{kind}" for kind in sorted(UPLOAD_KINDS)),
    ]
    assert [schema["paths"][f"/api/uploads/{kind}"]["post"]["operationId"] for kind in UPLOAD_KINDS] == [
        "api_uploads_image_create",
        "api_uploads_video_create",
        "api_uploads_document_create",
    ]
    assert UNDOCUMENTED_ALIASES == {"/api/uploads/{name}": "/static/{name}"}
    for alias, documented in UNDOCUMENTED_ALIASES.items():
        assert alias not in schema["paths"] and documented in schema["paths"]
        # The alias serves what the documented path serves: the same view.
        sample = "images/3f9c.jpg"
        assert (
            resolve(alias.format(name=sample)).func.view_class
            is resolve(documented.format(name=sample)).func.view_class
        )


def test_upload_bodies_are_a_multipart_form_with_a_binary_file(schema):
    component = schema["components"]["schemas"]["UploadFileRequest"]
    assert component["required"] == ["file"]
    assert {name: field["format"] for name, field in component["properties"].items()} == {"file": "binary"}
    for kind in UPLOAD_KINDS:
        body = schema["paths"][f"/api/uploads/{kind}"]["post"]["requestBody"]
        assert body["required"] is True
        form = {"schema": {"$ref": "#/components/schemas/UploadFileRequest"}}
        assert body["content"] == {"multipart/form-data": form}


def test_upload_descriptions_give_the_kinds_types_and_size(schema):
    description = schema["paths"]["/api/uploads/image"]["post"]["description"]
    assert "at most 15 MiB" in description
    assert "image/jpeg" in description and "video/mp4" not in description
    assert "at most 2 GiB" in schema["paths"]["/api/uploads/video"]["post"]["description"]
    assert "application/pdf" in schema["paths"]["/api/uploads/document"]["post"]["description"]


def test_ecma_pattern_reads_a_final_dollar_as_the_end_of_the_value():
    assert ecma_pattern("^a$").search("a\n") is None
    assert ecma_pattern("^a$").search("a") is not None
    assert ecma_pattern(r"^a\$").search("a$") is not None
    # The pattern of the issue: its alternatives are not anchored, so it takes "xvideox".
    assert parameter_takes({"type": "string", "pattern": "^image|video|document$"}, "xvideox")


def concrete(template: str, values: dict[str, str]) -> str:
    return TEMPLATE_PARAMETER.sub(lambda match: values[match.group(1)], template)


def route_takes(url: str, reference, value: str) -> bool:
    """Whether the URL resolver sends ``url`` to the ``reference`` route with ``value`` captured whole."""
    try:
        match = resolve(url)
    except Resolver404:
        return False
    if (match.url_name, match.route) != reference:
        return False
    # The int converter gives an int: the value is taken whole if it reads as that int ("007" is 7).
    return any(
        captured == value or (isinstance(captured, int) and re.fullmatch("[0-9]+", value) and int(value) == captured)
        for captured in match.kwargs.values()
    )


#: A value each documented path parameter takes, to fill the others while one is sampled.
VALID = {"id": "7", "space_id": "7", "name": "images/3f9c.jpg"}


def test_each_path_parameter_takes_exactly_what_its_route_takes(schema):
    """For every path parameter of every operation, `SAMPLES` (and the valid value) are taken by its schema
    exactly when the URL resolver sends them, whole, to the operation's route (`parameter_takes` reads the enum,
    integer or anchored pattern; any looser schema fails)."""
    checked = []
    for template, operations in schema["paths"].items():
        for method in operations:
            parameters = path_parameters(schema, method, template)
            for name, parameter_schema in parameters.items():
                match = resolve(concrete(template, VALID))
                reference = (match.url_name, match.route)
                for value in [*SAMPLES, VALID[name]]:
                    url = concrete(template, {**VALID, name: value})
                    assert parameter_takes(parameter_schema, value) == route_takes(url, reference, value), (
                        method,
                        template,
                        name,
                        value,
                    )
                checked.append((method.upper(), template, name))
    assert checked == [  # every operation with a path parameter
        ("GET", "/api/bookings/{id}", "id"),
        ("PATCH", "/api/bookings/{id}/billing", "id"),
        ("POST", "/api/bookings/{id}/cancel", "id"),
        ("GET", "/api/bookings/{id}/invoice", "id"),
        ("GET", "/api/spaces/{space_id}/availability", "space_id"),
        ("GET", "/api/uploads/{id}", "id"),
        ("DELETE", "/api/uploads/{id}", "id"),
        ("GET", "/api/venues/{id}", "id"),
        ("GET", "/static/{name}", "name"),
    ]
    bookings = path_parameters(schema, "get", "/api/bookings/{id}")["id"]
    assert [value for value in SAMPLES if parameter_takes(bookings, value)] == [
        "0",
        "7",
        "007",
        "123456",
        "99999999999999999999",
        "BK-00000DE001",
        "bk-00000de001",
        "Bk-0123456789",
    ]


#: What client-facing text must not show: module paths, Python names, how a query is built.
INTERNALS = re.compile(
    r"\.py\b|`[a-z_]+\.[a-z_.]+`|\b(queries|dicts?|serializer|DRF)\b|(?-i:\b[A-Z]+_[A-Z_]+\b)", re.IGNORECASE
)


def test_descriptions_are_for_clients(schema):
    texts = [schema["info"]["description"]]
    for operations in schema["paths"].values():
        for operation in operations.values():
            texts.append(operation.get("description", ""))
            texts += [p.get("description", "") for p in operation.get("parameters", [])]
    for component in schema["components"]["schemas"].values():
        texts.append(component.get("description", ""))
        texts += [field.get("description", "") for field in component.get("properties", {}).values()]
    assert [text for text in texts if INTERNALS.search(text)] == []
