"""A download in progress holds no request thread, so no database connection (MariaDB: one thread, one pooled
connection in all)."""

import os

import httpx
import pytest

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("mysql"), reason="MariaDB run only"),
]


def test_slow_downloads_leave_the_pool_to_other_requests(server_factory, shared_media, tmp_path):
    server = server_factory("release", DB_POOL_SIZE="1", DB_MAX_OVERFLOW="0", DB_POOL_TIMEOUT="2")
    # Large enough (64 MiB) that the bodies cannot all sit in the sockets' buffers: the responses stay open.
    big = tmp_path / "tour-x30.mp4"
    chunk = (shared_media / "venue-tour.mp4").read_bytes()
    with big.open("wb") as target:
        for _ in range(30):
            target.write(chunk)
    with server.client() as client, big.open("rb") as video:
        url = client.post("/api/uploads/video", files={"file": ("tour.mp4", video)}).json()["url"]
        streams = [httpx.stream("GET", server.url + url, timeout=30) for _ in range(3)]
        opened = [stream.__enter__() for stream in streams]
        try:
            for response in opened:
                assert response.status_code == 200
                next(response.iter_bytes(1024))  # the body has started; the rest waits in the socket
            listing = client.get("/api/bookings")
            assert listing.status_code == 200, listing.text
            pool = httpx.get(server.url + "/api/health/pool").json()
            assert pool["in_use"] == 0  # the one thread is free while three bodies are being sent
            assert pool["checked_out"] == 1  # and keeps its connection for the next request
        finally:
            for stream in streams:
                stream.__exit__(None, None, None)


def test_readers_that_never_read_a_large_json_list_hold_no_connection(server_factory):
    """Four clients ask for the customer's booking list (made ~10 MB here) and never read it; with one pooled
    connection in all, other requests, readiness included, are still served and no request thread is busy."""
    import socket
    import time

    server = server_factory(
        "release_json", DB_POOL_SIZE="1", DB_MAX_OVERFLOW="0", DB_POOL_TIMEOUT="2", SEND_TIMEOUT="60"
    )
    server.manage(
        "shell",
        "-c",
        "from bookings.models import Booking; Booking.objects.filter(customer__username='customer')"
        ".update(customer_note='n' * 2_000_000)",
    )
    token = server.token()
    host, port = server.url.removeprefix("http://").split(":")
    request = (
        f"GET /api/bookings?page_size=100 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()
    readers = []
    try:
        for _ in range(4):
            reader = socket.socket()
            reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            reader.connect((host, int(port)))
            reader.sendall(request)
            readers.append(reader)
        time.sleep(2)
        assert httpx.get(server.url + "/api/venues", timeout=10).status_code == 200
        assert httpx.get(server.url + "/api/health/detailed", timeout=10).status_code == 200
        # The request thread that built each list is free again (it keeps its one connection for the next request).
        assert httpx.get(server.url + "/api/health/pool", timeout=10).json()["in_use"] == 0
        with server.client() as client:
            assert client.get("/api/auth/me").status_code == 200
    finally:
        for reader in readers:
            reader.close()
