"""Conditional and range requests for one static representation (RFC 9110 §13 and §14).

Pure: no Django request objects, no I/O. `evaluate(method, headers, representation)` returns a `Decision` (status
and the byte ranges to send); `multipart_byteranges()` lays out a multipart/byteranges body (§14.6). The response
layer, `lebrq.http.streaming`, turns both into a response. Sizes and positions are in bytes, times in epoch seconds.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.utils.http import parse_http_date_safe

MAX_RANGES = 16
"""Most range-specs one Range field may hold; a longer list is ignored and the full 200 served (§14.2)."""

ByteRange = tuple[int, int]
"""(first, last): inclusive byte positions, as in Content-Range (§14.4)."""

_STRONG_ETAG = re.compile(r'"[\x21\x23-\x7e\x80-\xff]*"')
# One member of an `#entity-tag` list (§5.6.1, §8.8.3), empty members allowed, with its separator.
_ETAG_LIST_MEMBER = re.compile(r'[ \t]*((?:W/)?"[\x21\x23-\x7e\x80-\xff]*")?[ \t]*(?:,|\Z)')
_RANGE_SPEC = re.compile(r"([0-9]*)-([0-9]*)")
_BOUNDARY = re.compile(r"[0-9A-Za-z'+_.-]{1,70}")
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e]*")  # visible ASCII, space and tab: nothing that ends a header line
_SAFE_METHODS = ("GET", "HEAD")


@dataclass(frozen=True)
class Representation:
    """The selected representation: `size` in bytes, `etag` a strong quoted entity-tag such as '"abc"' (§8.8.3)
    and `last_modified` in epoch seconds (§8.8.2), compared at one-second resolution like the Last-Modified field.
    """

    size: int
    etag: str
    last_modified: float

    def __post_init__(self):
        if self.size < 0:
            raise ValueError(f"size must be >= 0 bytes, got {self.size}")
        if not _STRONG_ETAG.fullmatch(self.etag):
            raise ValueError(f"etag must be a strong quoted entity-tag such as '\"abc\"', got {self.etag!r}")

    @property
    def last_modified_seconds(self) -> int:
        """Last-Modified as sent (HTTP-date has one-second resolution, §5.6.7): whole epoch seconds."""
        return int(self.last_modified)


@dataclass(frozen=True)
class Decision:
    """What to answer. `status` is 200, 206, 304, 412 or 416.

    `ranges` are the bytes to send: the whole representation for 200 (empty when it has no bytes), the selected
    ranges for 206 — overlapping and adjacent ones coalesced, in the order the request asked for them (§15.3.7.2)
    — nothing otherwise. `content_range` is the Content-Range field value (§14.4)
    of a single-part 206 ("bytes 0-9/100") or of a 416 ("bytes */100"), else None.
    """

    status: int
    ranges: tuple[ByteRange, ...] = ()
    content_range: str | None = None

    @property
    def multipart(self) -> bool:
        """True when the 206 holds several ranges, sent as multipart/byteranges (§14.6)."""
        return len(self.ranges) > 1

    @property
    def length(self) -> int:
        """Bytes of representation data in `ranges` (the Content-Length unless multipart)."""
        return sum(last - first + 1 for first, last in self.ranges)


def evaluate(method: str, headers: Mapping[str, str], representation: Representation) -> Decision:
    """Evaluate the preconditions, then the Range, of a request for `representation`.

    `method` is case-sensitive (§9.1); `headers` maps field names in any case to field values. The order is
    that of §13.2.2:
    1. If-Match (§13.1.1), strong comparison, "*" matches: false → 412.
    2. Without If-Match, If-Unmodified-Since (§13.1.4): modified after the date → 412; invalid date ignored.
    3. If-None-Match (§13.1.2), weak comparison, "*" matches: a match → 304 for GET/HEAD, 412 otherwise.
    4. For GET/HEAD without If-None-Match, If-Modified-Since (§13.1.3): not modified after the date → 304;
       invalid date ignored.
    5. For GET only (§14.2), Range, applied only if If-Range (§13.1.5) is absent or true; see `_evaluate_range`.
    Otherwise 200 with the whole representation.
    """
    fields = {name.lower(): value for name, value in headers.items()}
    modified = representation.last_modified_seconds
    if "if-match" in fields:
        if not _etag_listed(fields["if-match"], representation.etag, weak=False):
            return Decision(412)
    elif "if-unmodified-since" in fields:
        date = parse_http_date_safe(fields["if-unmodified-since"].strip())
        if date is not None and modified > date:
            return Decision(412)
    if "if-none-match" in fields:
        if _etag_listed(fields["if-none-match"], representation.etag, weak=True):
            return Decision(304 if method in _SAFE_METHODS else 412)
    elif method in _SAFE_METHODS and "if-modified-since" in fields:
        date = parse_http_date_safe(fields["if-modified-since"].strip())
        if date is not None and modified <= date:
            return Decision(304)
    full = _whole(representation.size)
    if method != "GET" or "range" not in fields:
        return full
    if "if-range" in fields and not _if_range_true(fields["if-range"], representation):
        return full
    decision = _evaluate_range(fields["range"], representation.size)
    return full if decision is None else decision


def _whole(size: int) -> Decision:
    return Decision(200, ((0, size - 1),) if size else ())


def _etag_listed(field: str, etag: str, *, weak: bool) -> bool:
    """Whether the If-Match / If-None-Match `field` ("*" or a list of entity-tags) matches the strong `etag`.

    Strong comparison: neither tag weak and the opaque-tags equal; weak comparison: opaque-tags equal (§8.8.3.2).
    A malformed list matches nothing.
    """
    if field.strip() == "*":
        return True
    return any((tag.removeprefix("W/") if weak else tag) == etag for tag in _parse_entity_tags(field))


def _parse_entity_tags(field: str) -> list[str]:
    """The entity-tags of a `#entity-tag` list (§8.8.3, §5.6.1); [] when the list is malformed."""
    tags, position = [], 0
    while position < len(field):
        member = _ETAG_LIST_MEMBER.match(field, position)
        if member is None:
            return []
        if member[1]:
            tags.append(member[1])
        position = member.end()
    return tags


def _if_range_true(field: str, representation: Representation) -> bool:
    """If-Range (§13.1.5): true only for an entity-tag strongly matching the ETag (so never a weak one), or an
    HTTP-date exactly equal to Last-Modified; anything else is false."""
    field = field.strip()
    if field.startswith(('"', "W/")):
        return field == representation.etag
    date = parse_http_date_safe(field)
    return date is not None and date == representation.last_modified_seconds


def _evaluate_range(field: str, size: int) -> Decision | None:
    """Range (§14.2) over `size` bytes: a 206 or 416 Decision, or None to ignore the field and send 200.

    Ignored: another unit than "bytes" or an invalid ranges-specifier (§14.1.1, §14.2); more than MAX_RANGES
    range-specs; selected ranges summing to more than `size` (no amplification, §14.2 permits ignoring); and a
    zero-length representation with a non-zero suffix-range, which is satisfiable (§14.1.1) yet cannot be a 206.
    A first-pos at or after `size` and a suffix-length of 0 select nothing; when nothing at all is selected → 416
    (§15.5.17). A last-pos past the end is clipped to size - 1; a suffix-length larger than `size` selects all.
    """
    specs = _parse_range(field)
    if specs is None or len(specs) > MAX_RANGES:
        return None
    selected = []
    for first, last in specs:
        if first is None:  # suffix-range: the last `last` bytes
            if last > 0 and size > 0:
                selected.append((max(size - last, 0), size - 1))
            elif last > 0:
                return None
        elif first < size:
            selected.append((first, size - 1 if last is None else min(last, size - 1)))
    if not selected:
        return Decision(416, content_range=f"bytes */{size}")
    if sum(last - first + 1 for first, last in selected) > size:
        return None
    ranges = _coalesce(selected)
    if len(ranges) > 1:
        return Decision(206, ranges)
    (first, last) = ranges[0]
    return Decision(206, ranges, f"bytes {first}-{last}/{size}")


def _parse_range(field: str) -> list[tuple[int | None, int | None]] | None:
    """A bytes ranges-specifier (§14.1.1, unit case-insensitive) as (first, last) pairs, last None for "a-" and
    first None for the suffix-range "-n"; None if the unit is not bytes or any range-spec is invalid."""
    unit, equals, range_set = field.strip().partition("=")
    if not equals or unit.lower() != "bytes":
        return None
    specs = []
    for member in range_set.split(","):
        member = member.strip(" \t")
        if not member:  # empty list members are allowed (§5.6.1)
            continue
        spec = _RANGE_SPEC.fullmatch(member)
        if spec is None or not (spec[1] or spec[2]):
            return None
        try:
            first = int(spec[1]) if spec[1] else None
            last = int(spec[2]) if spec[2] else None
        except ValueError:  # more digits than int() accepts
            return None
        if first is not None and last is not None and last < first:
            return None
        specs.append((first, last))
    return specs or None


def _coalesce(ranges: Iterable[ByteRange]) -> tuple[ByteRange, ...]:
    """Merge the overlapping and adjacent `ranges` (§14.2 allows it), keeping the request's order: each merged range
    stands where the earliest range that went into it stood. RFC 9110 §15.3.7.2: a server "SHOULD send the parts
    in the same order that the corresponding range-spec appeared in the received Range header field, excluding
    those ranges that were deemed unsatisfiable or that were coalesced into other ranges"."""
    merged: list[tuple[int, int, int]] = []  # (first, last, position of the earliest range merged into it)
    for position, (first, last) in sorted(enumerate(ranges), key=lambda item: item[1]):
        if merged and first <= merged[-1][1] + 1:
            previous = merged[-1]
            merged[-1] = (previous[0], max(previous[1], last), min(previous[2], position))
        else:
            merged.append((first, last, position))
    return tuple((first, last) for first, last, _ in sorted(merged, key=lambda item: item[2]))


PART_END = b"\r\n"
"""Sent after each part's data; it is also the CRLF that opens the next delimiter (RFC 2046 §5.1.1)."""


@dataclass(frozen=True)
class MultipartLayout:
    """A multipart/byteranges body (§14.6): for each part, `head` then the part's bytes then PART_END; then
    `closing`. `content_length` is the exact body size in bytes; `content_type` the response's Content-Type."""

    parts: tuple[tuple[bytes, ByteRange], ...]
    closing: bytes
    content_length: int
    content_type: str


def multipart_byteranges(ranges: Iterable[ByteRange], size: int, content_type: str, boundary: str) -> MultipartLayout:
    """Lay out the multipart/byteranges body of `ranges` of a `size`-byte representation of `content_type`.

    Each part head is "--boundary CRLF Content-Type: … CRLF Content-Range: bytes a-b/size CRLF CRLF" and the body
    ends "--boundary-- CRLF" (§14.6). `boundary`: 1-70 of [0-9A-Za-z'+_.-] (RFC 2046 §5.1.1, and a token so it
    needs no quoting); it must not occur in the data, so pass a random one. `content_type` must be printable ASCII.
    """
    if not _BOUNDARY.fullmatch(boundary):
        raise ValueError(f"invalid multipart boundary {boundary!r}")
    if not _FIELD_VALUE.fullmatch(content_type):
        raise ValueError(f"invalid content type {content_type!r}")
    parts = tuple(
        (
            (
                f"--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: bytes {first}-{last}/{size}\r\n\r\n"
            ).encode("latin-1"),
            (first, last),
        )
        for first, last in ranges
    )
    closing = f"--{boundary}--\r\n".encode("latin-1")
    length = sum(len(head) + (last - first + 1) + len(PART_END) for head, (first, last) in parts) + len(closing)
    return MultipartLayout(parts, closing, length, f"multipart/byteranges; boundary={boundary}")
