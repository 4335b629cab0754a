"""RFC 9110 §13 (conditional) and §14 (range) decisions of `lebrq.http.conditional`, case by case."""

from email.utils import formatdate

import pytest
from django.utils.http import http_date

from lebrq.http.conditional import (
    MAX_RANGES,
    PART_END,
    Decision,
    Representation,
    evaluate,
    multipart_byteranges,
)

SIZE = 100
ETAG = '"v1"'
MODIFIED = 1_700_000_000.75  # a fraction of a second: validators compare whole seconds
MODIFIED_HTTP = http_date(MODIFIED)  # "Tue, 14 Nov 2023 22:13:20 GMT"
EARLIER_HTTP = http_date(MODIFIED - 1)
LATER_HTTP = http_date(MODIFIED + 1)
REPRESENTATION = Representation(size=SIZE, etag=ETAG, last_modified=MODIFIED)
EMPTY = Representation(size=0, etag=ETAG, last_modified=MODIFIED)
FULL = Decision(200, ((0, SIZE - 1),))


def decide(headers, method="GET", representation=REPRESENTATION):
    return evaluate(method, headers, representation)


def test_plain_get_is_the_whole_representation():
    assert decide({}) == FULL
    assert decide({}).length == SIZE
    assert decide({}).content_range is None
    assert decide({}, representation=EMPTY) == Decision(200, ())


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        # If-Match, strong comparison, "*" (§13.1.1)
        ({"If-Match": ETAG}, 200),
        ({"If-Match": "*"}, 200),
        ({"If-Match": ' "v0" , "v1" '}, 200),
        ({"If-Match": '"v0", ,"v1"'}, 200),  # empty list members are allowed
        ({"If-Match": '"v2"'}, 412),
        ({"If-Match": 'W/"v1"'}, 412),  # a weak tag never matches strongly
        ({"If-Match": "v1"}, 412),  # malformed: matches nothing
        ({"If-Match": '"v1" junk'}, 412),
        ({"If-Match": ""}, 412),
        # If-Unmodified-Since (§13.1.4)
        ({"If-Unmodified-Since": MODIFIED_HTTP}, 200),
        ({"If-Unmodified-Since": LATER_HTTP}, 200),
        ({"If-Unmodified-Since": EARLIER_HTTP}, 412),
        ({"If-Unmodified-Since": "yesterday"}, 200),  # invalid date ignored
        ({"If-Unmodified-Since": f"{EARLIER_HTTP}, {EARLIER_HTTP}"}, 200),  # a list is invalid
        ({"If-Match": ETAG, "If-Unmodified-Since": EARLIER_HTTP}, 200),  # ignored when If-Match is present
        ({"If-Match": '"v2"', "If-Unmodified-Since": LATER_HTTP}, 412),
        # If-None-Match, weak comparison, "*" (§13.1.2)
        ({"If-None-Match": ETAG}, 304),
        ({"If-None-Match": 'W/"v1"'}, 304),
        ({"If-None-Match": "*"}, 304),
        ({"If-None-Match": '"v0", W/"v1"'}, 304),
        ({"If-None-Match": '"v0"'}, 200),
        ({"If-None-Match": '"v1'}, 200),  # malformed: matches nothing
        ({"If-None-Match": '"v0"', "If-Modified-Since": LATER_HTTP}, 200),  # IMS ignored when INM is present
        # If-Modified-Since (§13.1.3), one-second resolution
        ({"If-Modified-Since": MODIFIED_HTTP}, 304),
        ({"If-Modified-Since": LATER_HTTP}, 304),
        ({"If-Modified-Since": EARLIER_HTTP}, 200),
        ({"If-Modified-Since": formatdate(int(MODIFIED), usegmt=False)}, 200),  # "-0000" is not an HTTP-date
        ({"If-Modified-Since": "Tuesday, 14-Nov-23 22:13:20 GMT"}, 304),  # RFC 850 form
        ({"If-Modified-Since": "Tue Nov 14 22:13:20 2023"}, 304),  # asctime form
        ({"If-Modified-Since": "not a date"}, 200),
        # §13.2.2 order
        ({"If-Match": '"v2"', "If-None-Match": ETAG}, 412),
        ({"If-Unmodified-Since": EARLIER_HTTP, "If-None-Match": ETAG}, 412),
        ({"If-Unmodified-Since": EARLIER_HTTP, "If-Modified-Since": MODIFIED_HTTP}, 412),
        ({"If-Match": ETAG, "If-None-Match": ETAG}, 304),
        ({"If-None-Match": ETAG, "Range": "bytes=0-0"}, 304),
        ({"If-Modified-Since": MODIFIED_HTTP, "Range": "bytes=0-0"}, 304),
        ({"If-Match": '"v2"', "Range": "bytes=500-"}, 412),
        ({"If-Match": ETAG, "Range": "bytes=0-0"}, 206),
        ({"If-None-Match": '"v0"', "Range": "bytes=500-"}, 416),
    ],
)
def test_preconditions(headers, status):
    assert decide(headers).status == status


def test_last_modified_is_compared_in_whole_seconds():
    assert MODIFIED_HTTP == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert REPRESENTATION.last_modified_seconds == 1_700_000_000
    assert decide({"If-Modified-Since": MODIFIED_HTTP}).status == 304
    assert decide({"If-Unmodified-Since": MODIFIED_HTTP}).status == 200


@pytest.mark.parametrize(
    ("method", "headers", "status"),
    [
        ("HEAD", {"If-None-Match": ETAG}, 304),
        ("HEAD", {"If-Modified-Since": MODIFIED_HTTP}, 304),
        ("HEAD", {"If-Match": '"v2"'}, 412),
        ("POST", {"If-None-Match": ETAG}, 412),  # not GET/HEAD: 412 instead of 304
        ("POST", {"If-None-Match": "*"}, 412),
        ("POST", {"If-Modified-Since": MODIFIED_HTTP}, 200),  # only GET/HEAD
        ("POST", {"If-Match": '"v2"'}, 412),
        ("get", {"If-Modified-Since": MODIFIED_HTTP}, 200),  # methods are case-sensitive
    ],
)
def test_preconditions_by_method(method, headers, status):
    assert decide(headers, method=method).status == status


@pytest.mark.parametrize("method", ["HEAD", "POST", "PUT", "get"])
def test_range_is_ignored_for_other_methods_than_get(method):
    assert decide({"Range": "bytes=0-0"}, method=method) == FULL


@pytest.mark.parametrize(
    "headers",
    [
        {"range": "bytes=0-0"},
        {"RANGE": "bytes=0-0"},
        {"Range": "bytes=0-0"},
        {"rAnGe": "bytes=0-0", "IF-RANGE": ETAG},
    ],
)
def test_header_names_are_case_insensitive(headers):
    assert decide(headers) == Decision(206, ((0, 0),), "bytes 0-0/100")


@pytest.mark.parametrize(
    ("if_range", "status"),
    [
        (ETAG, 206),
        (f" {ETAG} ", 206),
        ('W/"v1"', 200),  # weak: never
        ('"v2"', 200),
        ('"v1", "v2"', 200),  # one validator, not a list
        (MODIFIED_HTTP, 206),
        ("Tuesday, 14-Nov-23 22:13:20 GMT", 206),  # same date, RFC 850 form
        (EARLIER_HTTP, 200),
        (LATER_HTTP, 200),  # exactly equal, not "not modified since"
        ("garbage", 200),
        ("", 200),
    ],
)
def test_if_range(if_range, status):
    decision = decide({"Range": "bytes=10-19", "If-Range": if_range})
    assert decision.status == status
    assert decision.ranges == (((10, 19),) if status == 206 else ((0, SIZE - 1),))


def test_if_range_false_ignores_even_an_unsatisfiable_range():
    assert decide({"Range": "bytes=500-", "If-Range": '"v2"'}) == FULL


def test_if_range_without_range_is_ignored():
    assert decide({"If-Range": '"v2"'}) == FULL
    assert decide({"If-Range": ETAG}) == FULL


@pytest.mark.parametrize(
    ("header", "ranges"),
    [
        ("bytes=0-0", ((0, 0),)),  # whitenoise rejects this one
        ("bytes=0-99", ((0, 99),)),
        ("bytes=10-19", ((10, 19),)),
        ("bytes=99-99", ((99, 99),)),
        ("bytes=90-", ((90, 99),)),
        ("bytes=0-", ((0, 99),)),
        ("bytes=-10", ((90, 99),)),
        ("bytes=-1", ((99, 99),)),
        ("bytes=-100", ((0, 99),)),
        ("bytes=-1000", ((0, 99),)),  # suffix longer than the file: the whole file
        ("bytes=50-1000", ((50, 99),)),  # clipped to size - 1
        ("bytes=0-99999999999999999999999999", ((0, 99),)),
        ("BYTES=0-1", ((0, 1),)),
        ("Bytes=0-1", ((0, 1),)),
        (" bytes=0-1 ", ((0, 1),)),
        ("bytes=0-1,", ((0, 1),)),  # empty list member
        ("bytes=0-4,5-9", ((0, 9),)),  # adjacent: coalesced
        ("bytes=5-9,0-4", ((0, 9),)),
        ("bytes=0-5,3-9", ((0, 9),)),  # overlapping: coalesced
        ("bytes=3-4,0-9", ((0, 9),)),  # contained
        ("bytes=0-1,500-600", ((0, 1),)),  # the unsatisfiable one is dropped
        ("bytes=-0,0-1", ((0, 1),)),
    ],
)
def test_single_range(header, ranges):
    (first, last) = ranges[0]
    decision = decide({"Range": header})
    assert decision == Decision(206, ranges, f"bytes {first}-{last}/{SIZE}")
    assert not decision.multipart
    assert decision.length == last - first + 1


@pytest.mark.parametrize(
    ("header", "ranges"),
    [
        ("bytes=0-1,5-6", ((0, 1), (5, 6))),
        ("bytes=0-1, 5-6", ((0, 1), (5, 6))),
        ("bytes=0-1 ,\t5-6", ((0, 1), (5, 6))),
        ("bytes=5-6,0-1", ((5, 6), (0, 1))),  # in the request's order (§15.3.7.2)
        ("bytes=0-1,,5-6", ((0, 1), (5, 6))),
        ("bytes=-10,0-9", ((90, 99), (0, 9))),
        ("bytes=0-1,3-4,2-2,10-", ((0, 4), (10, 99))),  # 0-1 + 2-2 + 3-4 are adjacent
        ("bytes=20-29,0-9,10-14,50-", ((20, 29), (0, 14), (50, 99))),
    ],
)
def test_multiple_ranges(header, ranges):
    decision = decide({"Range": header})
    assert decision == Decision(206, ranges, None)
    assert decision.multipart
    assert decision.length == sum(last - first + 1 for first, last in ranges)


@pytest.mark.parametrize(
    ("header", "ranges"),
    [
        ("bytes=90-99,0-9,50-59", ((90, 99), (0, 9), (50, 59))),
        # 40-49 and 30-39 merge into 30-49, which stands where 40-49, the earlier of the two, stood.
        ("bytes=80-89,40-49,0-9,30-39", ((80, 89), (30, 49), (0, 9))),
        ("bytes=60-69,0-9,5-64", ((0, 69),)),  # all one range in the end: a single part
        ("bytes=200-,70-79,10-19", ((70, 79), (10, 19))),  # the unsatisfiable one is left out
    ],
)
def test_parts_keep_the_order_of_the_request(header, ranges):
    """RFC 9110 §15.3.7.2: parts in the order of their range-specs, less the unsatisfiable and the coalesced."""
    assert decide({"Range": header}).ranges == ranges


@pytest.mark.parametrize(
    "header",
    [
        "bytes=5-2",
        "bytes=1-0",
        "bytes=abc",
        "items=0-1",
        "bytes=",
        "bytes=,",
        "bytes=-",
        "bytes=1-2-3",
        "bytes 0-1",
        "=0-1",
        "bytes==0-1",
        "bytes=0x1-2",
        "bytes=+1-2",
        "bytes=-+1",
        "bytes=1.5-2",
        "bytes=١-٢",  # Arabic-Indic digits are not DIGIT
        "bytes=0-1,abc",  # one invalid range-spec invalidates the field
        "bytes=0-1,5-2",
        "bytes = 0-1",
        "bytes=0-" + "9" * 5000,  # more digits than int() parses
        "",
    ],
)
def test_invalid_range_is_ignored(header):
    assert decide({"Range": header}) == FULL


@pytest.mark.parametrize(
    "header",
    [
        "bytes=100-",
        "bytes=100-100",
        "bytes=100-200",
        "bytes=-0",
        "bytes=100-,200-",
        "bytes=-0,150-",
        "bytes=" + "9" * 30 + "-",
    ],
)
def test_unsatisfiable_range(header):
    assert decide({"Range": header}) == Decision(416, (), "bytes */100")


def test_range_count_is_capped():
    within = ",".join(f"{2 * i}-{2 * i}" for i in range(MAX_RANGES))
    beyond = ",".join(f"{2 * i}-{2 * i}" for i in range(MAX_RANGES + 1))
    assert MAX_RANGES == 16
    assert decide({"Range": f"bytes={within}"}) == Decision(206, tuple((2 * i, 2 * i) for i in range(MAX_RANGES)))
    assert decide({"Range": f"bytes={beyond}"}) == FULL
    # Capped before satisfiability: too many ranges is a 200 even when none is satisfiable.
    assert decide({"Range": "bytes=" + ",".join(["500-"] * (MAX_RANGES + 1))}) == FULL


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("bytes=0-,0-", 200),  # 200 bytes asked of 100
        ("bytes=0-99,0-0", 200),
        ("bytes=-60,0-59", 200),
        ("bytes=0-49,50-99", 206),  # exactly the size: allowed
        ("bytes=0-49,40-89", 206),  # overlapping but 100 bytes in all
        ("bytes=0-1000,0-0", 200),  # lengths count after clipping: 100 + 1
        ("bytes=0-1000", 206),
    ],
)
def test_ranges_never_amplify(header, status):
    assert decide({"Range": header}).status == status


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-0", Decision(416, (), "bytes */0")),
        ("bytes=0-", Decision(416, (), "bytes */0")),
        ("bytes=-0", Decision(416, (), "bytes */0")),
        ("bytes=-5", Decision(200, ())),  # satisfiable (§14.1.1) but no 206 can express it
        ("bytes=0-0,-5", Decision(200, ())),
        ("bytes=abc", Decision(200, ())),
        ("items=0-0", Decision(200, ())),
    ],
)
def test_zero_length_representation(header, expected):
    assert decide({"Range": header}, representation=EMPTY) == expected


def test_django_request_headers_are_accepted(rf):
    request = rf.get("/", HTTP_RANGE="bytes=-5", HTTP_IF_RANGE=ETAG)
    assert evaluate(request.method, request.headers, REPRESENTATION) == Decision(206, ((95, 99),), "bytes 95-99/100")


@pytest.mark.parametrize(
    ("decision", "length", "multipart"),
    [
        (FULL, SIZE, False),
        (Decision(206, ((95, 99),), "bytes 95-99/100"), 5, False),
        (Decision(206, ((0, 0),), "bytes 0-0/100"), 1, False),
        (Decision(206, ((0, 9), (50, 59), (99, 99))), 21, True),
        (Decision(304), 0, False),
        (Decision(416, (), "bytes */100"), 0, False),
        (Decision(200), 0, False),  # an empty representation
    ],
)
def test_decision_length_and_multipart(decision, length, multipart):
    assert decision.length == length  # inclusive ranges: last - first + 1 bytes each
    assert decision.multipart is multipart


@pytest.mark.parametrize(
    ("size", "etag"),
    [(-1, ETAG), (1, 'W/"v1"'), (1, "v1"), (1, '"v"1"'), (1, '"a b"'), (1, "")],
)
def test_representation_is_validated(size, etag):
    with pytest.raises(ValueError):
        Representation(size=size, etag=etag, last_modified=MODIFIED)


def test_representation_accepts_a_strong_etag():
    assert Representation(size=0, etag='""', last_modified=0).etag == '""'
    assert Representation(size=5, etag='"abc-123"', last_modified=0).size == 5


# --- multipart/byteranges (§14.6) ---------------------------------------------------------------------------

DATA = bytes(range(48, 48 + SIZE))  # 100 distinct bytes


def build_body(layout, data=DATA):
    return b"".join(head + data[first : last + 1] + PART_END for head, (first, last) in layout.parts) + layout.closing


def test_multipart_layout_is_exact():
    layout = multipart_byteranges(((0, 1), (5, 6)), SIZE, "text/plain", "B0undary")
    expected = (
        b"--B0undary\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/100\r\n\r\n01\r\n"
        b"--B0undary\r\nContent-Type: text/plain\r\nContent-Range: bytes 5-6/100\r\n\r\n56\r\n"
        b"--B0undary--\r\n"
    )
    assert build_body(layout) == expected
    assert layout.content_length == len(expected)
    assert layout.content_type == "multipart/byteranges; boundary=B0undary"
    assert [byte_range for _, byte_range in layout.parts] == [(0, 1), (5, 6)]
    assert layout.closing == b"--B0undary--\r\n"


@pytest.mark.parametrize(
    "ranges",
    [((0, 0), (99, 99)), ((0, 9), (20, 29), (90, 99)), ((3, 50), (52, 52)), tuple((i, i) for i in range(0, 100, 7))],
)
@pytest.mark.parametrize("boundary", ["x", "3d6b6a416f9b5" * 5, "a'b+c_d.e-f"])
def test_multipart_content_length_matches_the_body(ranges, boundary):
    layout = multipart_byteranges(ranges, SIZE, "application/pdf; charset=binary", boundary)
    body = build_body(layout)
    assert layout.content_length == len(body)
    assert body.startswith(f"--{boundary}\r\n".encode())
    assert body.endswith(f"\r\n--{boundary}--\r\n".encode())
    assert body.count(f"--{boundary}\r\n".encode()) == len(ranges)


@pytest.mark.parametrize("boundary", ["", "a" * 71, "has space", 'quo"te', "semi;colon", "ünï"])
def test_multipart_boundary_is_validated(boundary):
    with pytest.raises(ValueError):
        multipart_byteranges(((0, 1), (5, 6)), SIZE, "text/plain", boundary)


@pytest.mark.parametrize("content_type", ["text/plain\r\nX-Injected: 1", "text/plain\n", "text/pläin", "a\x00b"])
def test_multipart_content_type_is_validated(content_type):
    with pytest.raises(ValueError):
        multipart_byteranges(((0, 1), (5, 6)), SIZE, content_type, "B")
