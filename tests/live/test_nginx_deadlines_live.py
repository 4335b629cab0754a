"""nginx's deadlines and sizes come from the app's own settings: deploy/nginx/render.py, run with the app's
environment (REQUEST_HEADER_TIMEOUT 2 s, REQUEST_BODY_RATE_WINDOW 2 s, SEND_TIMEOUT 3 s, REQUEST_HEADER_MAX_BYTES
20,000 here), renders them into the site file, and a real nginx then holds clients to them."""

import contextlib
import socket
import ssl
import time

import pytest

from .conftest import free_port, make_server
from .deploy_helpers import Nginx, nginx_binary, render_site

pytestmark = pytest.mark.live

SHORT = {
    "REQUEST_HEADER_TIMEOUT": "2",
    "REQUEST_BODY_RATE_WINDOW": "2",
    "SEND_TIMEOUT": "3",
    "REQUEST_HEADER_MAX_BYTES": "20000",
}


@pytest.fixture(scope="module")
def fronted(tmp_path_factory):
    """(nginx, https port, site text): nginx rendered from the short settings, in front of a uvicorn worker."""
    binary = nginx_binary()
    directory = tmp_path_factory.mktemp("nginx_deadlines")
    app = make_server(tmp_path_factory, "nginx_deadlines_app", INVOICE_CACHE_DIR=str(directory / "invoices"), **SHORT)
    https_port = free_port()
    site = render_site(app.env, directory, app.url.removeprefix("http://"), https_port, free_port())
    context = ssl.create_default_context(cafile=directory / "cert.pem")
    nginx = Nginx(binary, directory, site).start(f"https://127.0.0.1:{https_port}/health", context)
    yield nginx, https_port, site.read_text()
    nginx.stop()
    app.stop()


def tls_connection(port: int) -> ssl.SSLSocket:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    connection = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=15))
    return connection


def seconds_until_closed(connection: socket.socket) -> float:
    start = time.monotonic()
    with contextlib.suppress(ConnectionResetError, ssl.SSLError):
        while connection.recv(65536):
            pass
    return time.monotonic() - start


def test_site_file_carries_the_app_settings(fronted):
    _, _, site = fronted
    assert "    client_header_timeout 2000ms;\n" in site
    assert "    client_body_timeout 2000ms;\n" in site
    assert "    send_timeout 3000ms;\n" in site
    assert "    large_client_header_buffers 4 20k;\n" in site
    assert "    keepalive_timeout 4000ms;\n" in site  # UVICORN_TIMEOUT_KEEP_ALIVE (5) less a second


def test_half_sent_head_is_closed_after_the_app_header_timeout(fronted):
    _, port, _ = fronted
    with tls_connection(port) as connection:
        connection.sendall(b"GET /api/venues HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert 1.5 < seconds_until_closed(connection) < 5


def test_stalled_body_is_dropped_after_the_app_body_window(fronted):
    """nginx buffers a login body before passing it on: a body that stops arriving is dropped by nginx."""
    _, port, _ = fronted
    with tls_connection(port) as connection:
        head = b"POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        connection.sendall(head + b"Content-Length: 1000\r\n\r\n" + b'{"username": ')
        assert 1.5 < seconds_until_closed(connection) < 5
