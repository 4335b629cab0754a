"""drf-spectacular hooks for the OpenAPI schema at /api/schema/."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme

from lebrq.errors import ERROR_CODES


def strip_trailing_slashes(result, generator, request, public):
    """Postprocessing hook: list router paths as the clients call them, ``/api/bookings`` not ``/api/bookings/``.

    The routers accept both forms (see bookings/urls.py); the schema shows the original app's form.
    """
    result["paths"] = {
        (path.rstrip("/") if path != "/" else path): operations for path, operations in result["paths"].items()
    }
    return result


#: The error body of `lebrq.errors` as an OpenAPI component (``#/components/schemas/Error``).
ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error: `detail` as DRF gives it, one human-readable `message`, a stable `code`.",
    "required": ["detail", "success", "message", "code"],
    "properties": {
        "detail": {
            "description": "A sentence, or for invalid input an object of field name → list of messages.",
            "anyOf": [{"type": "string"}, {"type": "object", "additionalProperties": True}, {"type": "array"}],
        },
        "success": {"type": "boolean", "enum": [False]},
        "message": {"type": "string"},
        "code": {
            "type": "string",
            "example": "not_found",
            "description": "A stable name: "
            + ", ".join(f"`{code}`" for codes in ERROR_CODES.values() for code in codes)
            + "; for invalid input, the DRF code of the first invalid field (`required`, `max_length`, ...).",
        },
    },
}
#: What each error status means, before the list of its codes (`lebrq.errors.ERROR_CODES`).
STATUS_SUMMARIES = {
    400: "Invalid input (query parameters or body); `detail` names each field",
    401: "Missing, invalid or expired bearer token",
    404: "No such resource, or one the caller may not see",
    405: "The method is not allowed on this path",
    409: "Conflicts with the current state",
    411: "An upload without a Content-Length header",
    413: "An upload larger than its kind allows",
    415: "A file whose bytes are not of an accepted type",
    503: "Unavailable for now; retry after `Retry-After` seconds",
    507: "Not enough disk space to store the upload",
}


def _describe(status: int, summary: str) -> str:
    codes = ERROR_CODES[status]
    if len(codes) == 1:
        return f"{summary}: `code` `{next(iter(codes))}`."
    return f"{summary}. `code`: " + "; ".join(f"`{code}`: {meaning}" for code, meaning in codes.items()) + "."


ERROR_DESCRIPTIONS = {status: _describe(status, summary) for status, summary in STATUS_SUMMARIES.items()}
RETRY_AFTER_HEADER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}


def document_error_responses(result, generator, request, public):
    """Postprocessing hook: every operation documents the errors it can really answer, each with the
    ``Error`` body: 400 when it takes a body or query parameters, 401 when it accepts a bearer token, 404 when
    its path has parameters, 503 (memory or database, with ``Retry-After``) always; error responses that views
    declared with a generic object body (409, 413, 415, ...) get the ``Error`` body too."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result["paths"].values():
        for operation in operations.values():
            parameters = operation.get("parameters", [])
            codes = {503}
            if "requestBody" in operation or any(p["in"] == "query" for p in parameters):
                codes.add(400)
            if any("jwtAuth" in requirement for requirement in operation.get("security", [])):
                codes.add(401)
            if any(p["in"] == "path" for p in parameters):
                codes.add(404)
            responses = operation["responses"]
            codes.update(
                int(code)
                for code in responses
                if int(code) >= 400 and "application/json" in responses[code].get("content", {})
            )
            for code in sorted(codes):
                response = {"description": ERROR_DESCRIPTIONS.get(code, "Error."), "content": error_content}
                if code == 503:
                    response["headers"] = RETRY_AFTER_HEADER
                responses[str(code)] = response
            operation["responses"] = dict(sorted(responses.items()))
    return result


class BearerAuthenticationScheme(SimpleJWTScheme):
    """The OpenAPI security scheme of `lebrq.authentication.BearerAuthentication`: simplejwt's ``jwtAuth``
    (drf-spectacular matches extensions by exact class; registered by importing this module, `lebrq.apps`)."""

    target_class = "lebrq.authentication.BearerAuthentication"
