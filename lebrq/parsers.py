"""The API's JSON parser: DRF's `JSONParser`, with input nested too deeply for Python's decoder a 400.

DRF turns malformed JSON and bytes that are not UTF-8 into `ParseError` (400), but the standard decoder recurses
once per nesting level, so a body of a few thousand ``[`` raises `RecursionError`, which DRF does not catch: a 500.
Here it is a 400 ``parse_error`` too. (Bodies too large are refused with 413 before they are read:
`lebrq.http.early`.)
"""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """`rest_framework.parsers.JSONParser` raising `ParseError` (400) for JSON nested too deeply to decode."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
