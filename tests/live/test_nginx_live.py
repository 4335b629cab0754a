"""nginx in front of a live uvicorn, configured by the repo's deploy/nginx/lebrq.conf (rendered by
deploy/nginx/render.py with this test's ports and paths), with DOWNLOAD_OFFLOAD=x-accel: Django authorises and
answers with headers, nginx sends the bytes."""

import hashlib
import re
import socket
import ssl

import httpx
import pytest

from .conftest import free_port, make_server
from .deploy_helpers import MiB, Nginx, nginx_binary, render_site

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    """(app server, nginx base URL, nginx, CA context): nginx on loopback in front of a uvicorn worker."""
    binary = nginx_binary()
    directory = tmp_path_factory.mktemp("nginx")
    app = make_server(
        tmp_path_factory,
        "nginx_app",
        INVOICE_CACHE_DIR=str(directory / "invoices"),
        DOWNLOAD_OFFLOAD="x-accel",
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
        SECURE_HSTS_SECONDS="3600",
    )
    https_port, http_port = free_port(), free_port()
    site = render_site(app.env, directory, app.url.removeprefix("http://"), https_port, http_port)
    cert = directory / "cert.pem"
    context = ssl.create_default_context(cafile=cert)
    url = f"https://127.0.0.1:{https_port}"
    nginx = Nginx(binary, directory, site).start(url + "/health", context)
    yield app, url, nginx, context, http_port
    nginx.stop()
    app.stop()


def access_log_line(nginx: Nginx, path: str) -> str:
    lines = [line for line in (nginx.directory / "access.log").read_text().splitlines() if f" {path} " in line]
    return lines[-1]


def client(proxied, user: str | None = "customer") -> httpx.Client:
    app, url, _, context, _ = proxied
    headers = {"Authorization": f"Bearer {app.token(user, f'lebrq-{user}')}"} if user else {}
    return httpx.Client(base_url=url, headers=headers, verify=context, timeout=60)


def test_upload_streams_through_and_video_ranges_come_from_nginx(proxied, shared_media):
    _, _, nginx, _, _ = proxied
    video = shared_media / "venue-tour.mp4"
    size = video.stat().st_size
    with client(proxied) as customer, video.open("rb") as source:
        body = customer.post("/api/uploads/video", files={"file": ("venue-tour.mp4", source)}).json()
    # proxy_request_buffering off: nginx did not spool the 2 MiB body to a temporary file first.
    assert "buffered to a temporary file" not in nginx.error_log.read_text()

    with client(proxied, None) as anonymous:
        ranged = anonymous.get(body["url"], headers={"Range": "bytes=0-1048575"})
        assert ranged.status_code == 206
        assert ranged.headers["content-range"] == f"bytes 0-1048575/{size}"
        assert ranged.headers["etag"] == body["etag"]  # the SHA-256 of the upload API, not nginx's own
        assert ranged.headers["content-type"] == "video/mp4"
        assert ranged.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert ranged.headers["content-security-policy"] == "default-src 'none'; sandbox"
        assert ranged.headers["x-content-type-options"] == "nosniff"
        assert ranged.headers["strict-transport-security"] == "max-age=3600"
        assert "x-accel-redirect" not in ranged.headers
        with video.open("rb") as source:
            assert ranged.content == source.read(MiB)
        # Django answered with headers only; nginx sent the bytes from the internal location.
        assert f'offload="/_protected/media/{body["path"]}"' in access_log_line(nginx, body["url"])

        whole = anonymous.get(body["url"])
        assert whole.status_code == 200
        assert whole.headers["accept-ranges"] == "bytes"
        assert hashlib.sha256(whole.content).hexdigest() == body["etag"].strip('"')

        resumed = anonymous.get(body["url"], headers={"Range": "bytes=-100", "If-Range": body["etag"]})
        assert (resumed.status_code, len(resumed.content)) == (206, 100)
        changed = anonymous.get(body["url"], headers={"Range": "bytes=-100", "If-Range": '"other"'})
        assert (changed.status_code, len(changed.content)) == (200, size)

        several = anonymous.get(body["url"], headers={"Range": "bytes=0-9,100-109"})
        assert several.status_code == 206
        assert several.headers["content-type"].startswith("multipart/byteranges; boundary=")

        not_modified = anonymous.get(body["url"], headers={"If-None-Match": body["etag"]})
        assert (not_modified.status_code, not_modified.headers["etag"]) == (304, body["etag"])
        unsatisfiable = anonymous.get(body["url"], headers={"Range": f"bytes={size}-"})
        assert (unsatisfiable.status_code, unsatisfiable.headers["content-range"]) == (416, f"bytes */{size}")


def test_private_document_is_404_to_others_and_internal_paths_are_unreachable(proxied, shared_media):
    with client(proxied) as owner:
        with (shared_media / "document.pdf").open("rb") as source:
            body = owner.post("/api/uploads/document", files={"file": ("document.pdf", source)}).json()
        mine = owner.get(body["url"])
        assert mine.status_code == 200
        assert mine.content == (shared_media / "document.pdf").read_bytes()
        assert mine.headers["cache-control"] == "private, no-cache"
    with client(proxied, None) as anonymous:
        assert anonymous.get(body["url"]).status_code == 404
        assert anonymous.get(f"/_protected/media/{body['path']}").status_code == 404
    with client(proxied, "admin") as staff:
        assert staff.get(body["url"]).status_code == 200


def test_cached_invoice_is_served_by_nginx(proxied):
    _, _, nginx, _, _ = proxied
    with client(proxied) as customer:
        bookings = customer.get("/api/bookings", params={"page_size": 100}).json()["items"]
        booking = next(b for b in bookings if b["booking_reference"] == "BK-00000DE001")
        invoice = customer.get(f"/api/bookings/{booking['id']}/invoice")
    assert invoice.status_code == 200
    assert invoice.headers["content-type"] == "application/pdf"
    assert invoice.headers["content-disposition"] == 'attachment; filename="invoice-BK-00000DE001.pdf"'
    assert invoice.content.startswith(b"%PDF-")
    assert int(invoice.headers["content-length"]) == len(invoice.content)
    assert re.search(
        r'offload="/_protected/invoices/BK-00000DE001/[0-9a-f]+\.pdf"',
        access_log_line(nginx, f"/api/bookings/{booking['id']}/invoice"),
    )


def test_oversized_body_gets_the_json_error_from_nginx_and_http_redirects(proxied):
    _, url, _, context, http_port = proxied
    port = int(url.rsplit(":", 1)[1])
    with context.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1") as sock:
        sock.sendall(
            b"POST /api/uploads/video HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            + f"Content-Length: {2048 * MiB + 1}\r\n\r\n".encode()
        )
        answer = b""
        while b'"}' not in answer and (chunk := sock.recv(65536)):  # up to the end of the JSON body
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b'"code": "payload_too_large"' in answer
    assert re.search(rb"(?i)content-type: application/json", answer)

    redirect = httpx.get(f"http://127.0.0.1:{http_port}/api/venues", follow_redirects=False)
    assert redirect.status_code == 301
    assert redirect.headers["location"] == "https://127.0.0.1/api/venues"


def test_logins_past_the_per_address_rate_get_429_json_even_with_a_forged_forwarded_for(proxied):
    """nginx's login zone (30/min, burst 20) is keyed by the TCP peer: X-Forwarded-For sent by a client changes
    nothing. (Runs last in this module: the zone refills at one login every 2 s.)"""
    from concurrent.futures import ThreadPoolExecutor

    _, url, _, context, _ = proxied
    body = {"username": "customer", "password": "wrong"}

    def login(n: int) -> httpx.Response:
        headers = {"X-Forwarded-For": f"10.0.0.{n}"}
        return httpx.post(url + "/api/auth/login", json=body, headers=headers, verify=context, timeout=60)

    with ThreadPoolExecutor(40) as pool:  # all within a second or so: the zone cannot refill meanwhile
        responses = list(pool.map(login, range(40)))
    statuses = [response.status_code for response in responses]
    refused = next(response for response in responses if response.status_code == 429)
    # The burst of 20, plus one refill per 2 s while 40 TLS clients start (a few seconds on a busy machine).
    assert statuses.count(401) + statuses.count(429) == 40
    assert statuses.count(429) >= 10
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "5"
    assert refused.json() == {
        "detail": "Too many requests from this address; retry shortly.",
        "success": False,
        "message": "Too many requests from this address; retry shortly.",
        "code": "too_many_requests",
        "retry_after": 5,
    }
