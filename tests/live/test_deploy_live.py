"""uvicorn exactly as the seed guide runs it, TLS included: real HTTPS requests, the concurrency limit, and
`make smoke` (scripts/smoke.sh) against it."""

import io
import os
import socket
import ssl
import subprocess
import sys

import httpx
import pypdf
import pytest

from .conftest import ROOT, free_port
from .deploy_helpers import CommandServer, MiB, prepared_environment, self_signed_certificate

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def seed_uvicorn(tmp_path_factory):
    """`uvicorn lebrq.asgi:application --host 0.0.0.0 --port 8002 --ssl-keyfile=... --ssl-certfile=...
    --limit-concurrency 30 --timeout-keep-alive 5 --backlog 1024 --workers 1`, on 127.0.0.1 and a free port."""
    directory, env = prepared_environment(
        tmp_path_factory, "seed_tls", SECURE_SSL_REDIRECT="1", SECURE_HSTS_SECONDS="3600"
    )
    # As deploy/lebrq.env.example and the unit set them.
    env.update(UVICORN_HTTP="lebrq.http.protocols:AutoHTTPProtocol", UVICORN_LOOP="lebrq.http.loops:new_event_loop")
    cert, key = self_signed_certificate(directory)
    port = free_port()
    server = CommandServer(directory, env, url=f"https://127.0.0.1:{port}", ca_file=cert)
    server.command = [
        sys.executable, "-m", "uvicorn", "lebrq.asgi:application",
        "--host", "127.0.0.1", "--port", str(port),
        f"--ssl-keyfile={key}", f"--ssl-certfile={cert}",
        "--limit-concurrency", "30", "--timeout-keep-alive", "5", "--backlog", "1024", "--workers", "1",
    ]  # fmt: skip
    server.start()
    yield server
    server.stop()


def test_login_range_download_and_invoice_over_https(seed_uvicorn, shared_media):
    video = shared_media / "venue-tour.mp4"
    with seed_uvicorn.client() as client:
        with video.open("rb") as source:
            uploaded = client.post("/api/uploads/video", files={"file": ("venue-tour.mp4", source)})
        assert uploaded.status_code == 201, uploaded.text
        body = uploaded.json()

        ranged = client.get(body["url"], headers={"Range": "bytes=1048576-2097151"})
        assert ranged.status_code == 206
        assert ranged.headers["content-range"] == f"bytes 1048576-2097151/{video.stat().st_size}"
        with video.open("rb") as source:
            source.seek(MiB)
            assert ranged.content == source.read(MiB)
        assert ranged.headers["etag"] == body["etag"]
        # Django sees the request as secure (uvicorn's TLS): HSTS is only ever sent over HTTPS.
        assert ranged.headers["strict-transport-security"] == "max-age=3600"

        bookings = client.get("/api/bookings", params={"page_size": 100}).json()["items"]
        booking = next(b for b in bookings if b["booking_reference"] == "BK-00000DE001")
        invoice = client.get(f"/api/bookings/{booking['id']}/invoice")
        assert invoice.status_code == 200
        assert invoice.headers["content-type"] == "application/pdf"
        assert invoice.headers["content-disposition"] == 'attachment; filename="invoice-BK-00000DE001.pdf"'
        assert int(invoice.headers["content-length"]) == len(invoice.content)
        reader = pypdf.PdfReader(io.BytesIO(invoice.content))
        assert "BK-00000DE001" in reader.pages[0].extract_text()


def test_plain_http_on_the_tls_port_gets_no_answer(seed_uvicorn):
    with pytest.raises(httpx.TransportError):
        httpx.get(seed_uvicorn.url.replace("https://", "http://") + "/health", timeout=5)


def tls_connection(server: CommandServer) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=server.ca_file)
    port = int(server.url.rsplit(":", 1)[1])
    return context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="127.0.0.1")


def status_of(connection: ssl.SSLSocket) -> int:
    connection.sendall(b"GET /api/venues HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = connection.recv(65536)
        assert chunk, "connection closed"
        head += chunk
    return int(head.split(b" ", 2)[1])


def test_limit_concurrency_30_counts_requests_not_open_connections(seed_uvicorn):
    """With ``UVICORN_HTTP`` naming the project's protocol, --limit-concurrency 30 bounds requests in flight: 29
    open TLS connections (one having made a request and gone idle) plus 31 more leave a new request served."""
    held = [tls_connection(seed_uvicorn) for _ in range(60)]
    try:
        assert [status_of(connection) for connection in held[:1]] == [200]
        extra = tls_connection(seed_uvicorn)
        assert status_of(extra) == 200
        extra.close()
    finally:
        for connection in held:
            connection.close()


def test_make_smoke_passes_against_it(seed_uvicorn, shared_media):
    """scripts/smoke.sh (`make smoke`): curl trusts the test certificate through CURL_CA_BUNDLE."""
    env = {
        **os.environ,
        "BASE_URL": seed_uvicorn.url,
        "LEBRQ_SHARED_MEDIA": str(shared_media),
        "CURL_CA_BUNDLE": str(seed_uvicorn.ca_file),
        "PYTHON": sys.executable,
    }
    result = subprocess.run(
        ["bash", "scripts/smoke.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("smoke: all steps passed")
