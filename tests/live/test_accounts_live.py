"""Accounts against two real uvicorn workers sharing one database and one cache: throttle counters and token
revocation hold across workers; CORS headers reach the browser on answers of every layer."""

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis

from .conftest import LiveServer, prepare_server
from .harness import stop_process

pytestmark = pytest.mark.live

ORIGIN = "http://localhost:3000"
WRONG = {"username": "customer", "password": "guess"}
RIGHT = {"username": "customer", "password": "lebrq-customer"}


@pytest.fixture(scope="module", params=["filecache", "redis"])
def workers(request, tmp_path_factory):
    """Two uvicorn workers (``a``, ``b``) on one database and one cache: the default file cache, or Redis on
    127.0.0.1:6379 under a key prefix of this run."""
    prefix = f"lebrq-live-{uuid.uuid4().hex}"
    cache = {"redis": f"redis://127.0.0.1:6379/0?key_prefix={prefix}"}.get(request.param)
    settings = {
        # Windows of an hour: a test straddling a window's end (which resets the counters) is very unlikely.
        "THROTTLE_ADDRESS_RATE": "100/hour",
        "THROTTLE_ACCOUNT_ADDRESS_RATE": "4/hour",
        "CORS_ALLOWED_ORIGINS": ORIGIN,
        "UPLOAD_MAX_IMAGE_BYTES": "1000",
    }
    first = prepare_server(
        tmp_path_factory, f"accounts-{request.param}", **settings, **({"CACHE_URL": cache} if cache else {})
    )
    second_directory = first.directory / "second"
    second_directory.mkdir()
    second = LiveServer(second_directory, first.env)
    first.start()
    try:
        second.start()
        yield first, second
    finally:
        stop_process(second.popen)
        first.stop()
        if cache:
            server = redis.Redis(host="127.0.0.1", port=6379, db=0)
            for key in server.scan_iter(f"{prefix}:*"):
                server.delete(key)


def test_throttle_is_shared_by_two_workers(workers):
    a, b = workers
    statuses = [httpx.post((a, b)[i % 2].url + "/api/auth/login", json=WRONG).status_code for i in range(4)]
    assert statuses == [401] * 4
    for server in (a, b):
        refused = httpx.post(server.url + "/api/auth/login", json=RIGHT)
        assert refused.status_code == 429
        assert refused.json()["code"] == "throttled"
        assert 0 < int(refused.headers["Retry-After"]) <= 3600
    if "key_prefix=" in a.env.get("CACHE_URL", ""):  # the counters really are in Redis, under this run's prefix
        prefix = a.env["CACHE_URL"].split("key_prefix=")[1]
        keys = redis.Redis(host="127.0.0.1", port=6379, db=0).keys(f"{prefix}:*")
        assert sorted(key.decode().split(":")[-3] for key in keys) == ["AccountAddressThrottle", "AddressThrottle"]
    # The same account from another address (through the trusted local proxy) is not refused.
    elsewhere = httpx.post(b.url + "/api/auth/login", json=RIGHT, headers={"X-Forwarded-For": "198.51.100.4"})
    assert elsewhere.status_code == 200


def test_a_concurrent_burst_over_both_workers_is_counted(workers):
    """20 wrong logins at once, alternating between the workers: Redis counts exactly (atomic INCR); the file
    cache is exact within a worker and may let a request or two more through across workers."""
    a, b = workers
    headers = {"X-Forwarded-For": "198.51.100.50"}

    def attempt(i: int) -> int:
        server = (a, b)[i % 2]
        return httpx.post(
            server.url + "/api/auth/login", json={"username": "ghost", "password": "x"}, headers=headers
        ).status_code

    with ThreadPoolExecutor(20) as pool:
        statuses = Counter(pool.map(attempt, range(20)))
    assert set(statuses) == {401, 429}
    if "redis" in a.env.get("CACHE_URL", ""):
        assert statuses[401] == 4
    else:
        assert 4 <= statuses[401] <= 6


def test_revocation_holds_on_every_worker(workers):
    a, b = workers
    tokens = httpx.post(a.url + "/api/auth/login", json=RIGHT, headers={"X-Forwarded-For": "198.51.100.5"}).json()
    auth = {"authorization": f"bearer {tokens['access_token']}"}
    assert httpx.get(b.url + "/api/auth/me", headers=auth).status_code == 200
    fresh = httpx.post(b.url + "/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).json()
    replay = httpx.post(a.url + "/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert (replay.status_code, replay.json()["code"]) == (401, "token_invalid")
    fresh_auth = {"authorization": f"Bearer {fresh['access_token']}"}
    assert httpx.post(a.url + "/api/auth/logout", headers=fresh_auth).status_code == 204
    revoked = httpx.get(b.url + "/api/auth/me", headers=fresh_auth)
    assert (revoked.status_code, revoked.json()["code"]) == (401, "token_revoked")
    again = httpx.post(b.url + "/api/auth/refresh", json={"refresh_token": fresh["refresh_token"]})
    assert again.status_code == 401


def test_cors_headers_on_every_layer(workers):
    a, _ = workers
    preflight = httpx.options(
        a.url + "/api/bookings",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in preflight.headers["access-control-allow-headers"]
    unauthorized = httpx.get(a.url + "/api/bookings", headers={"Origin": ORIGIN})
    assert unauthorized.status_code == 401
    assert unauthorized.headers["access-control-allow-origin"] == ORIGIN
    # 413 from the ASGI upload guard, before Django and before the body is read.
    too_big = httpx.post(
        a.url + "/api/uploads/image", headers={"Origin": ORIGIN, "Content-Length": "5000"}, content=b"x" * 5000
    )
    assert too_big.status_code == 413
    assert too_big.headers["access-control-allow-origin"] == ORIGIN
    assert "Retry-After" in too_big.headers["access-control-expose-headers"]
    other = httpx.post(a.url + "/api/uploads/image", headers={"Origin": "http://evil.example"}, content=b"x" * 5000)
    assert other.status_code == 413
    assert "access-control-allow-origin" not in other.headers
