"""Two app processes sharing one database, one S3-compatible store (moto_server) and one Redis, as two hosts would:
each with its own MEDIA_ROOT, temp dir and invoice directory, so anything one serves of the other's work came
through the shared engines. Redis is the machine's (127.0.0.1:6379), in a database and key prefix of this run."""

import email
import hashlib
import os
import uuid

import httpx
import pytest

from tests.storage_server import keys, open_multipart_uploads

from .conftest import LiveServer, PeakRSS, prepare_server

REDIS_URL = "redis://127.0.0.1:6379/13"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def redis_prefix():
    """A key prefix of this run in Redis database 13; its keys are removed afterwards. Skips if Redis is down."""
    import redis

    prefix = f"lebrq-test-{uuid.uuid4().hex[:10]}"
    connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        connection.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis on {REDIS_URL}: {exc}")
    yield prefix
    for key in connection.scan_iter(f"{prefix}*"):
        connection.delete(key)


@pytest.fixture(scope="module")
def hosts(tmp_path_factory, s3_server, redis_prefix):
    """Hosts A and B: two uvicorn workers on one database, one bucket, one Redis key prefix."""
    bucket = s3_server.new_bucket()
    a = prepare_server(
        tmp_path_factory,
        "hosta",
        **s3_server.server_env(bucket),
        CACHE_URL=f"{REDIS_URL}?key_prefix={redis_prefix}",
        SECRET_KEY="two-hosts-one-key-" + "x" * 40,
        THROTTLE_ACCOUNT_ADDRESS_RATE="4/hour",  # a fixed window: an hour is not crossed during the test
    )
    directory = tmp_path_factory.mktemp("hostb")
    b = LiveServer(
        directory,
        {
            **a.env,
            "MEDIA_ROOT": str(directory / "media"),
            "FILE_UPLOAD_TEMP_DIR": str(directory / "tmp"),
            "INVOICE_CACHE_DIR": str(directory / "invoices"),
        },
    )
    a.start()
    b.start()
    a.bucket = b.bucket = bucket
    token = a.token()  # one login: THROTTLE_ACCOUNT_ADDRESS_RATE is 4/hour here; the token is good on both hosts
    a.client = lambda: httpx.Client(base_url=a.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    b.client = lambda: httpx.Client(base_url=b.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    yield a, b
    b.stop()  # drops the shared database
    a.stop()


def local_files(server: LiveServer) -> list[str]:
    found = []
    for name in ("MEDIA_ROOT", "INVOICE_CACHE_DIR"):
        for root, _, files in os.walk(server.env[name]):
            found += [os.path.join(root, file) for file in files]
    return found


def test_upload_through_a_is_read_with_ranges_through_b(hosts, s3_server, shared_media):
    a, b = hosts
    video = shared_media / "venue-tour.mp4"
    with a.client() as client, video.open("rb") as source:
        answer = client.post("/api/uploads/video", files={"file": ("tour.mp4", source, "video/mp4")})
    assert answer.status_code == 201, answer.text
    stored = answer.json()
    with b.client() as client:
        whole = client.get(stored["url"])
        assert whole.status_code == 200
        data = whole.content
        assert hashlib.sha256(data).hexdigest() == stored["etag"].strip('"')
        assert whole.headers["etag"] == stored["etag"]
        assert whole.headers["content-security-policy"] == "default-src 'none'; sandbox"
        assert whole.headers["x-content-type-options"] == "nosniff"
        one = client.get(stored["url"], headers={"Range": "bytes=100-1123"})
        assert (one.status_code, one.headers["content-range"]) == (206, f"bytes 100-1123/{len(data)}")
        assert one.content == data[100:1124]
        several = client.get(stored["url"], headers={"Range": "bytes=0-4,-6"})
        assert several.status_code == 206
        message = email.message_from_bytes(
            f"Content-Type: {several.headers['content-type']}\r\n\r\n".encode() + several.content
        )
        assert [part.get_payload(decode=True) for part in message.get_payload()] == [data[:5], data[-6:]]
        assert client.get(stored["url"], headers={"If-None-Match": stored["etag"]}).status_code == 304
    assert keys(s3_server.client(), a.bucket, "videos/") == [stored["path"]]
    assert local_files(a) == local_files(b) == []


def test_an_invoice_rendered_on_a_is_served_by_b(hosts, s3_server):
    a, b = hosts
    with a.client() as client:
        booking = client.get("/api/bookings").json()["items"][0]
        first = client.get(f"/api/bookings/{booking['id']}/invoice")
    assert first.status_code == 200
    with b.client() as client:
        second = client.get(f"/api/bookings/{booking['id']}/invoice")
        ranged = client.get(f"/api/bookings/{booking['id']}/invoice", headers={"Range": "bytes=0-7"})
    assert second.status_code == 200
    assert second.headers["etag"] == first.headers["etag"]
    assert second.content == first.content
    assert (ranged.status_code, ranged.content) == (206, first.content[:8])
    assert ranged.content.startswith(b"%PDF-")
    assert "Rendered invoice" in a.log.read_text()
    assert "Rendered invoice" not in b.log.read_text()  # B served A's render from the store
    revision = first.headers["etag"].strip('"')
    expected = f"invoices/{booking['booking_reference']}/{revision}.pdf"
    assert expected in keys(s3_server.client(), a.bucket, "invoices/")
    assert local_files(a) == local_files(b) == []


def test_throttle_counters_are_shared_through_redis(hosts):
    """THROTTLE_ACCOUNT_ADDRESS_RATE=4/hour for both: four wrong passwords spread over A and B, then both refuse."""
    a, b = hosts
    login = {"username": f"nobody-{uuid.uuid4().hex[:6]}", "password": "wrong-password"}
    statuses = [httpx.post(server.url + "/api/auth/login", json=login).status_code for server in (a, b, a, b, a, b)]
    assert statuses == [401, 401, 401, 401, 429, 429]


def test_upload_to_the_store_keeps_the_worker_flat(hosts, s3_server, tmp_path):
    """A 48 MiB video (six 8 MiB parts) through A: worker RSS growth ≤ 8 MiB, no multipart upload left open.
    (The 1 GiB figure: bench/files.py --servers s3.)"""
    from bench.files import generate

    a, _ = hosts
    warmup = generate(tmp_path / "warmup.mp4", 9 * MiB)  # the first multipart upload: threads, buffers
    video = generate(tmp_path / "video.mp4", 48 * MiB)
    with a.client() as client:
        with warmup.open("rb") as source:
            assert client.post("/api/uploads/video", files={"file": ("w.mp4", source)}).status_code == 201
        with PeakRSS(a.process) as rss, video.open("rb") as source:
            answer = client.post("/api/uploads/video", files={"file": ("v.mp4", source)})
    assert answer.status_code == 201, answer.text
    assert answer.json()["size"] == 48 * MiB
    assert rss.growth <= 8 * MiB, f"RSS grew {rss.growth / MiB:.1f} MiB"
    assert open_multipart_uploads(s3_server.client(), a.bucket) == []
