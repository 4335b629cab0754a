"""The API's JSON parser: RFC 8259 JSON in UTF-8, anything else a 400 ``parse_error`` with a human sentence.

DRF's `JSONParser` turns malformed JSON into `ParseError` (400), but with the decoder's internals in the message
(``'utf-8' codec can't decode byte 0xff in position 6``), and the standard decoder recurses once per nesting
level, so a body of a few thousand ``[`` raises `RecursionError`, which DRF does not catch: a 500. Here every
unacceptable body is a 400 ``parse_error``:

- bytes that are not UTF-8 (RFC 8259 §8.1: JSON exchanged between systems is UTF-8, whatever ``charset`` says);
- malformed JSON (the decoder's own message: what it expected, at which line and column);
- ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON, RFC 8259 §6);
- an object with the same member name twice (RFC 8259 §4: names "SHOULD be unique"; which one wins is undefined,
  so a request that could mean two things is refused);
- nesting deeper than `MAX_DEPTH` (checked before decoding, without recursion);
- text holding a lone surrogate (``"\\ud800"``: valid JSON, but no Unicode text, which no column or hash takes).

Bodies too large are refused with 413 before they are read (`lebrq.http.early`), so the body parsed here is at
most ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes and reading it whole is bounded.
"""

import itertools
import json
import re

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import APIException, ParseError

from lebrq.sizes import human_size

#: The deepest nesting of arrays and objects accepted; no request of this API nests deeper than 3.
MAX_DEPTH = 32
#: A JSON string, or an unterminated one to the end of the text. Possessive: each character is looked at once,
#: so removing them all is linear whatever the text (no backtracking into a string that never closes).
_STRING = re.compile(r'"(?:[^"\\]++|\\.|\\\Z)*+(?:"|\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_OPENS = bytes.maketrans(b"[{]}", b"\x01\x01\x00\x00")


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON ``text`` (brackets inside strings do not count; openers
    never closed count too). Malformed text gives some number; the decoder refuses it afterwards.

    No recursion and no Python loop per character: regular expressions remove the strings and everything but
    brackets, then the depth is the highest running sum of +1 per opener and -1 per closer, summed in C
    (`itertools.accumulate`), so a body of megabytes is measured in a fraction of a second.
    """
    if '"' in text:
        text = _STRING.sub("", text)
    opens = _NOT_BRACKET.sub("", text).encode("ascii").translate(_OPENS)
    return max(0, max(itertools.accumulate(map((-1, 1).__getitem__, opens)), default=0))


def _refuse_constant(name: str):
    raise ParseError(f"The body is not valid JSON: {name} is not a JSON number.")


def _unique_members(pairs: list[tuple[str, object]]) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen = set()
        duplicate = next(name for name, _ in pairs if name in seen or seen.add(name))
        raise ParseError(f'The body is not valid JSON: the member "{duplicate}" appears twice in one object.')
    return result


def _read_bounded(stream) -> bytes:
    """The body, at most ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes (a longer one is a 413 ``payload_too_large``: the
    ASGI guard refuses it by its ``Content-Length`` first; this covers a server without it)."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if stream is None:
        return b""
    raw = stream.read() if limit is None else stream.read(limit + 1)
    if limit is not None and len(raw) > limit:
        raise BodyTooLarge(f"The request body may be at most {human_size(limit)}.")
    return raw


class BodyTooLarge(APIException):
    """413 ``payload_too_large``: a JSON body above ``DATA_UPLOAD_MAX_MEMORY_SIZE``."""

    status_code = 413
    default_code = "payload_too_large"


class JSONParser(parsers.JSONParser):
    """`rest_framework.parsers.JSONParser` raising `ParseError` (400 ``parse_error``) with a human sentence for
    every body the module docstring lists."""

    def parse(self, stream, media_type=None, parser_context=None):
        raw = _read_bounded(stream)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError("The body is not valid JSON: it is not UTF-8 text.") from None
        if text.count("[") + text.count("{") > MAX_DEPTH and nesting_depth(text) > MAX_DEPTH:
            raise ParseError(f"The body is not valid JSON here: it nests deeper than {MAX_DEPTH} levels.")
        try:
            data = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_members)
        except RecursionError:  # not reached after the depth check; kept as the last line of defence
            raise ParseError(f"The body is not valid JSON here: it nests deeper than {MAX_DEPTH} levels.") from None
        except ValueError as exc:
            raise ParseError(f"The body is not valid JSON: {exc}.") from None
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ParseError("The body is not valid JSON here: a string holds a lone surrogate, not text.") from None
        return data
