"""The OpenAPI document at /api/schema/ (drf-spectacular): the schema class of every API view
(`DEFAULT_SCHEMA_CLASS`), the ``Error`` component, and every operation's error responses.

Each operation lists the error statuses it can really answer, each with the ``Error`` body and one example per
``code`` (`lebrq.errors.ERROR_CODES`) it can carry. Which codes an operation can answer comes from what it is,
read off its view: every request can meet the server's own limits (`GENERIC_CODES`); a body adds `BODY_CODES`, a
query string ``invalid``, a path parameter ``not_found``, a bearer token the token codes, throttles their two
codes; a view adds the codes of its own rules with `error_codes` (``extend_schema(extensions=error_codes(...))``).
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance, is_serializer
from rest_framework.permissions import AllowAny

from lebrq.errors import ERROR_CODES, error_body

#: DRF's codes of invalid fields that the examples show (a 400 for invalid input carries the first field's code).
FIELD_CODES = {"required": "a required field is missing"}
#: Status of each code (a code belongs to one status).
STATUS_OF = {code: status for status, codes in ERROR_CODES.items() for code in codes} | dict.fromkeys(FIELD_CODES, 400)
#: What any request can meet: a malformed request head or an unknown ``Host`` (400), a body where none is taken
#: or larger than allowed (413), a request head too large (431), the server shedding load or its database out of
#: reach (503).
GENERIC_CODES = ("bad_request", "payload_too_large", "header_too_large", "memory_pressure", "overloaded")
#: What a request with a body can meet besides: a body that does not parse or is invalid (400), sent too slowly
#: (408), chunked without ``Content-Length`` (411), of a media type the operation does not take (415); and
#: ``required`` when its JSON body has required fields.
BODY_CODES = ("parse_error", "invalid", "request_timeout", "length_required", "unsupported_media_type")
TOKEN_CODES = ("token_expired", "token_invalid", "token_revoked")
THROTTLE_CODES = ("throttled", "throttle_unavailable")
DATABASE_CODES = ("database_unavailable",)

#: The ``detail`` of each code's example, as the API words it (a field error is an object of field → messages).
EXAMPLE_DETAILS = {
    "invalid": {"email": ["Enter a valid email address."]},
    "required": {"username": ["This field is required."]},
    "bad_request": "Malformed request.",
    "parse_error": "The body is not valid JSON: Expecting value: line 1 column 1 (char 0).",
    "incomplete_upload": "The upload ended before its closing multipart boundary.",
    "nonexistent_time": {"start_datetime": ["2027-03-28 02:30 does not exist in Europe/London."]},
    "ambiguous_time": {"start_datetime": ["2027-10-31 01:30 happens twice in Europe/London; give the offset."]},
    "in_the_past": {"start_datetime": ["Must not be in the past."]},
    "too_soon": {"start_datetime": ["Must be at least 120 minutes from now."]},
    "beyond_horizon": {"start_datetime": ["Must be within 730 days from now."]},
    "too_short": {"end_datetime": ["A booking lasts at least 30 minutes."]},
    "too_long": {"end_datetime": ["A booking lasts at most 31 days."]},
    "whole_minutes": {"start_datetime": ["Must be a whole minute (no seconds)."]},
    "unsupported_character": {"customer_note": ["The invoice cannot print the character U+1F389."]},
    "corrupt_content": "The image does not decode completely.",
    "metadata_not_removable": "The file's location and device metadata could not be removed.",
    "not_authenticated": "Authentication credentials were not provided.",
    "authentication_failed": "Incorrect username or password.",
    "token_expired": "Token has expired.",
    "token_invalid": "Token is invalid.",
    "token_revoked": "Token has been revoked; log in again.",
    "permission_denied": "You do not have permission to perform this action.",
    "not_found": "Not found.",
    "method_not_allowed": 'Method "PUT" not allowed.',
    "request_timeout": "The request body arrived too slowly.",
    "slot_conflict": "The space is already booked for an overlapping time slot.",
    "duplicate_booking": "You already have booking BK-00000DE001 (pending) of this space then.",
    "not_cancellable": "A cancelled booking cannot be cancelled.",
    "cancellation_window_closed": "Too late to cancel: the booking starts within 24 hours.",
    "invoice_issued": "Booking BK-00000DE001 has tax invoice LB/26-27/000123: its buyer details are fixed.",
    "invoice_not_available": "Booking BK-00000DE001 is cancelled: it has no invoice.",
    "length_required": "Request bodies need a Content-Length header.",
    "payload_too_large": "An image upload may be at most 15 MiB.",
    "too_many_pixels": "The image has more than 50000000 pixels.",
    "unsupported_media_type": "The file's type is not accepted here.",
    "throttled": "Request was throttled. Expected available in 42 seconds.",
    "too_many_uploads": "At most 2 uploads of one user may run at once; retry shortly.",
    "header_too_large": "The request head is too large.",
    "server_error": "Internal server error.",
    "memory_pressure": "The server is short of memory; retry shortly.",
    "database_unavailable": "The database is unavailable; retry shortly.",
    "invoice_busy": "Invoices are being rendered at capacity; retry shortly.",
    "throttle_unavailable": "Throttling is unavailable; retry shortly.",
    "overloaded": "The server is busy; retry shortly.",
    "insufficient_storage": "Not enough disk space to store the upload.",
    "precondition_failed": "A precondition of the request (If-Match or If-Unmodified-Since) does not hold.",
    "range_not_satisfiable": "The requested range selects no byte of the file.",
    "too_many_files": "An upload carries one file only.",
    "too_many_fields": "A request may carry at most 100 fields.",
    "csrf_failed": "The form was refused: reload the page and send it again (its CSRF cookie or token is missing).",
    "not_acceptable": "Could not satisfy the request Accept header.",
    "unhealthy": "Not ready: database failing.",
}

#: The error body of `lebrq.errors` as an OpenAPI component (``#/components/schemas/Error``).
ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error: `detail` (a sentence, or for invalid input an object of field → messages), one "
    "human-readable `message`, a stable `code`.",
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
            "description": "A stable name: "
            + ", ".join(f"`{code}`" for codes in ERROR_CODES.values() for code in codes)
            + "; for invalid input, the code of the first invalid field (`required`, `max_length`, ...).",
        },
    },
}
#: What each error status means, before the list of its codes.
STATUS_SUMMARIES = {
    400: "Invalid input (query parameters or body; `detail` names each field), or a malformed request",
    401: "Missing, invalid or expired bearer token, or wrong credentials",
    403: "Not allowed to the caller",
    404: "No such resource, or one the caller may not see",
    405: "The method is not allowed on this path",
    408: "The request body arrived too slowly",
    406: "No representation matches the request's `Accept` header",
    409: "Conflicts with the current state",
    411: "A request body without a Content-Length header",
    412: "A precondition of the request (`If-Match`, `If-Unmodified-Since`) does not hold",
    413: "A request body larger than allowed here",
    415: "A body or file of a type not accepted here",
    416: "The `Range` selects no byte of the file; `Content-Range` gives its size",
    422: "Understood but refused: the request contradicts an earlier one (an `Idempotency-Key` reused)",
    429: "Too many requests; retry after `Retry-After` seconds",
    431: "The request head is too large",
    500: "An unexpected failure",
    503: "Unavailable for now; retry after `Retry-After` seconds",
    507: "Not enough disk space to store the upload",
}
RETRY_AFTER_HEADER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
#: The operation extension through which a view adds the codes of its own rules (`error_codes`).
CODES_EXTENSION = "x-error-codes"


def error_codes(*codes: str) -> dict:
    """``extend_schema(extensions=error_codes("slot_conflict", ...))``: codes this operation answers beside the
    ones read off its view (see the module docstring). Each must be in `ERROR_CODES` (or `FIELD_CODES`)."""
    unknown = [code for code in codes if code not in STATUS_OF]
    if unknown:
        raise ValueError(f"not in lebrq.errors.ERROR_CODES: {unknown}")
    return {CODES_EXTENSION: list(codes)}


def error_example(code: str, details: dict | None = None) -> dict:
    """The OpenAPI Example object of ``code``: a summary (what it means) and the body the API answers, whose
    ``detail`` is ``details[code]`` if given, else `EXAMPLE_DETAILS`'s."""
    meaning = ERROR_CODES.get(STATUS_OF[code], {}).get(code) or FIELD_CODES[code]
    detail = (details or {}).get(code) or EXAMPLE_DETAILS.get(code, meaning[:1].upper() + meaning[1:] + ".")
    return {"summary": meaning, "value": error_body(detail, code)}


def error_response(status: int, codes: list[str], details: dict | None = None) -> dict:
    """The OpenAPI Response object of ``status`` for ``codes`` (all of that status): the ``Error`` body with one
    example each (`error_example`), and ``Retry-After`` for 429 and 503."""
    examples = {code: error_example(code, details) for code in codes}
    if len(codes) == 1:
        description = f"{STATUS_SUMMARIES[status]}: `code` `{codes[0]}`."
    else:
        meanings = [f"`{code}`: {example['summary']}" for code, example in examples.items()]
        description = f"{STATUS_SUMMARIES[status]}. `code`: " + "; ".join(meanings) + "."
    response = {
        "description": description,
        "content": {"application/json": {"schema": ERROR_REF, "examples": examples}},
    }
    if status in (429, 503):
        response["headers"] = RETRY_AFTER_HEADER
    return response


class ApiSchema(AutoSchema):
    """drf-spectacular's `AutoSchema` that also documents every error the operation can answer (module
    docstring), and states that integer path parameters are not negative (their routes take digits only)."""

    def operation_error_codes(self, operation: dict) -> list[str]:
        """The codes ``operation`` can answer, from its view's traits and the codes the view declared."""
        codes = [*GENERIC_CODES, *DATABASE_CODES]
        parameters = operation.get("parameters", [])
        if "requestBody" in operation:
            codes += BODY_CODES
            if self.body_fields()[1] and "application/json" in operation["requestBody"]["content"]:
                codes.append("required")
        if any(parameter["in"] == "query" for parameter in parameters):
            codes.append("invalid")
        if any(parameter["in"] == "path" for parameter in parameters):
            codes.append("not_found")
        if self.view.authentication_classes:
            if any(permission is not AllowAny for permission in self.view.permission_classes):
                codes.append("not_authenticated")
            codes += TOKEN_CODES
        if self.view.throttle_classes:
            codes += THROTTLE_CODES
        codes += operation.pop(CODES_EXTENSION, [])
        return list(dict.fromkeys(codes))

    def body_fields(self) -> tuple[list[str], list[str]]:
        """``(fields, required fields)`` of the operation's JSON or multipart body (none for PATCH's required:
        DRF makes its serializer partial)."""
        serializer = self.get_request_serializer()
        if isinstance(serializer, dict):  # media type → serializer
            serializer = next(iter(serializer.values()), None)
        serializer = force_instance(serializer)
        if not is_serializer(serializer):
            return [], []
        fields = [name for name, field in serializer.fields.items() if not field.read_only]
        required = [name for name in fields if serializer.fields[name].required and self.method != "PATCH"]
        return fields, required

    def example_details(self, operation: dict) -> dict:
        """The ``detail`` of this operation's examples where it differs from `EXAMPLE_DETAILS`: its own fields
        in the field errors, its own body's parse error."""
        fields, required = self.body_fields() if "requestBody" in operation else ([], [])
        queries = [parameter["name"] for parameter in operation.get("parameters", []) if parameter["in"] == "query"]
        details = {}
        if fields or queries:
            details["invalid"] = {(fields or queries)[0]: ["Enter a valid value."]}
        if required:
            details["required"] = {required[0]: ["This field is required."]}
        if "multipart/form-data" in operation.get("requestBody", {}).get("content", {}):
            details["invalid"] = {"file": ["No file was submitted in the multipart field 'file'."]}
            details["parse_error"] = "Multipart form parse error - Invalid boundary in multipart: None"
        return details

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path" and parameter["schema"].get("type") == "integer":
                parameter["schema"]["minimum"] = 0
        by_status: dict[int, list[str]] = {}
        for code in self.operation_error_codes(operation):
            by_status.setdefault(STATUS_OF[code], []).append(code)
        responses = {key: value for key, value in operation["responses"].items() if int(key) < 400}
        details = self.example_details(operation)
        responses.update({str(status): error_response(status, codes, details) for status, codes in by_status.items()})
        operation["responses"] = dict(sorted(responses.items()))
        return operation


def strip_trailing_slashes(result, generator, request, public):
    """Postprocessing hook: list router paths as the clients call them, ``/api/bookings`` not ``/api/bookings/``.

    The routers accept both forms (see bookings/urls.py); the schema shows the original app's form.
    """
    result["paths"] = {
        (path.rstrip("/") if path != "/" else path): operations for path, operations in result["paths"].items()
    }
    return result


def add_error_component(result, generator, request, public):
    """Postprocessing hook: the ``Error`` component that every error response refers to (`ApiSchema`)."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    return result


#: Routes the document leaves out, each serving what a documented one serves (README, "The OpenAPI document"):
#: the stored files under ``/api/uploads/`` would be an OpenAPI path equivalent to ``/api/uploads/{id}``.
UNDOCUMENTED_ALIASES = {"/api/uploads/{name}": "/static/{name}"}


def leave_out_aliases(endpoints):
    """Preprocessing hook: drop the endpoints of `UNDOCUMENTED_ALIASES`."""
    return [endpoint for endpoint in endpoints if endpoint[0] not in UNDOCUMENTED_ALIASES]
