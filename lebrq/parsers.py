"""The API's JSON parser: DRF's `JSONParser`, with input nested too deeply for Python's decoder a 400.

DRF turns malformed JSON and bytes that are not UTF-8 into `ParseError` (400), but the standard decoder recurses
once per nesting level, so a body of a few thousand ``[`` raises `RecursionError`, which DRF does not catch: a 500.
Here it is a 400 ``parse_error`` too, and so is text holding a lone surrogate (``"\\ud800"``: valid JSON, but no
Unicode text, which no database column or hash can take). (Bodies too large are refused with 413 before they are
read: `lebrq.http.early`.)
"""

import json

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """`rest_framework.parsers.JSONParser` raising `ParseError` (400) for JSON nested too deeply to decode, and
    for strings that are not Unicode text (lone surrogates)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        try:  # the body is at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes: encoding it again is cheap
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ParseError("JSON parse error - a string holds a lone surrogate, which is not text.") from None
        return data
