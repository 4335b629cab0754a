"""Reading the OpenAPI document's paths as a client does: whether a path parameter's schema takes a value, and
which documented operation a concrete URL belongs to."""

import re

TEMPLATE_PARAMETER = re.compile(r"\{([^}]+)\}")


def ecma_pattern(pattern: str) -> re.Pattern:
    """``pattern`` (ECMA-262, as OpenAPI and JSON Schema read it) compiled for Python's `re`: a final ``$`` means
    the end of the value in ECMA-262 (no multiline flag), as ``\\Z`` does in Python (Python's ``$`` also matches
    before a final line feed)."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def parameter_takes(schema: dict, value: str) -> bool:
    """Whether a path parameter of ``schema`` (an enum, an integer, or a string with a pattern) takes ``value``,
    the parameter as it stands in the URL. Raises `AssertionError` for any other schema: every path parameter
    must say exactly what it takes."""
    if "enum" in schema:
        return value in [str(item) for item in schema["enum"]]
    if schema.get("type") == "integer":
        if not re.fullmatch(r"-?[0-9]+", value):
            return False
        return int(value) >= schema.get("minimum", -(10**100)) and int(value) <= schema.get("maximum", 10**100)
    assert schema.get("type") == "string" and "pattern" in schema, f"path parameter schema too loose: {schema}"
    return ecma_pattern(schema["pattern"]).search(value) is not None


def path_parameters(schema: dict, method: str, template: str) -> dict[str, dict]:
    operation = schema["paths"][template][method]
    return {p["name"]: p["schema"] for p in operation.get("parameters", []) if p["in"] == "path"}


def template_takes(schema: dict, method: str, template: str, url: str) -> bool:
    """Whether ``url`` (a path, already decoded) is an instance of the documented ``template`` for ``method``."""
    if method not in schema["paths"][template]:
        return False
    parameters = path_parameters(schema, method, template)
    pieces = TEMPLATE_PARAMETER.split(template)  # literal, name, literal, name, ..., literal
    # Each parameter as any run of characters, then checked with its own schema (a client fills in any value).
    regex = "".join(re.escape(piece) if i % 2 == 0 else f"(?P<{piece}>.*)" for i, piece in enumerate(pieces))
    match = re.fullmatch(regex, url, re.DOTALL)
    return match is not None and all(parameter_takes(parameters[name], v) for name, v in match.groupdict().items())


def operation_for(schema: dict, method: str, url: str) -> str:
    """The one documented path template of which ``url`` is an instance for ``method``; `AssertionError` when
    none or several are."""
    templates = [template for template in schema["paths"] if template_takes(schema, method, template, url)]
    assert len(templates) == 1, (method, url, templates)
    return templates[0]
