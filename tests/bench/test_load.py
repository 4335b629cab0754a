"""bench/load.py's client: a fresh Idempotency-Key per upload, sent once more with the same key after a 502, 504 or
a failed connection, and never more than twice; a read cut mid-answer sent once more, the same. The answers come
from an httpx transport that plays the proxy's part (what is tested is the client's decision, not a server)."""

import asyncio
import random
import sys
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.load import Fixture, request, upload_image  # noqa: E402

FIXTURE = Fixture(customers=[], video_url="/static/v.mp4", video_size=0, image=b"\xff\xd8\xff\xe0 jpeg")


def exchange(answers: list) -> tuple[list, list[httpx.Request]]:
    """Two uploads through a transport answering ``answers`` in turn (a status, or an exception to raise):
    ([(status or exception name, retried) of each upload], the requests sent)."""
    sent: list[httpx.Request] = []
    pending = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        answer = pending.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer, request=request)

    async def main():
        results = []
        async with httpx.AsyncClient(base_url="http://lb", transport=httpx.MockTransport(handle)) as client:
            for _ in range(2):
                try:
                    response, retried = await upload_image(client, FIXTURE)
                    results.append((response.status_code, retried))
                except httpx.HTTPError as exc:
                    results.append((type(exc).__name__, None))  # raised: no answer
        return results

    return asyncio.run(main()), sent


def keys(sent: list[httpx.Request]) -> list[str]:
    return [request.headers["Idempotency-Key"] for request in sent]


@pytest.mark.parametrize("failure", [502, 504, httpx.ReadError("reset"), httpx.ConnectError("refused")])
def test_a_failed_upload_is_sent_once_more_with_its_key(failure):
    results, sent = exchange([failure, 201, 201])
    assert results == [(201, True), (201, False)]
    first, retry, next_upload = keys(sent)
    assert first == retry != next_upload
    assert len(first) == 36  # a UUID
    assert [request.url.path for request in sent] == ["/api/uploads/image"] * 3


@pytest.mark.parametrize("status", [201, 400, 413, 429, 500, 503])
def test_other_answers_are_not_retried(status):
    results, sent = exchange([status, status])
    assert results == [(status, False), (status, False)]
    assert len(set(keys(sent))) == 2


def test_a_second_failure_is_the_answer():
    results, sent = exchange([502, 502, httpx.ReadError("reset"), httpx.ReadError("reset")])
    assert results == [(502, True), ("ReadError", None)]
    assert len(sent) == 4 and len(set(keys(sent))) == 2


def test_a_cut_read_is_sent_once_more_the_same_and_a_status_is_not():
    fixture = Fixture(customers=[], video_url="/static/v.mp4", video_size=10 * 1024 * 1024, image=b"")
    customer = SimpleNamespace(pages=3, booking_ids=[7], invoice_ids=[7])
    pending: list = [httpx.ReadError("cut"), 206, 502]
    sent: list[httpx.Request] = []

    def handle(request_: httpx.Request) -> httpx.Response:
        sent.append(request_)
        answer = pending.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer, request=request_)

    async def main():
        async with httpx.AsyncClient(base_url="http://lb", transport=httpx.MockTransport(handle)) as client:
            rng = random.Random(1)
            cut = await request(client, "video range", fixture, customer, rng)
            failed = await request(client, "booking detail", fixture, customer, rng)
            return [(response.status_code, retried) for response, retried in (cut, failed)]

    assert asyncio.run(main()) == [(206, True), (502, False)]
    assert [(r.url.path, r.headers.get("Range")) for r in sent[:2]] == [("/static/v.mp4", sent[0].headers["Range"])] * 2
    assert sent[0].headers["Range"].startswith("bytes=")
    assert sent[2].url.path == "/api/bookings/7"
