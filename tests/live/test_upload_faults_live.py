"""Uploads that go wrong, through a real uvicorn worker: nothing may be left behind — no temporary file (in
FILE_UPLOAD_TEMP_DIR or the system temp dir), no file in MEDIA_ROOT, no row — and no answer is a 500.

Covers: a client that goes away mid-body (raw socket), a multipart body that ends before its closing boundary
(with a matching Content-Length), too many files or fields, hostile filenames, and a worker killed with SIGKILL
mid-upload, whose orphan `manage.py cleanup_upload_temp` then removes.
"""

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from .conftest import ROOT, LiveServer

pytestmark = pytest.mark.live

MiB = 1024 * 1024
BOUNDARY = "l1ve-b0undary"
CLOSING = f"\r\n--{BOUNDARY}--\r\n".encode()


def part_head(filename: bytes = b"tour.mp4", field: bytes = b"file") -> bytes:
    return (
        f"--{BOUNDARY}\r\n".encode()
        + b'Content-Disposition: form-data; name="' + field + b'"; filename="' + filename + b'"\r\n'
        + b"Content-Type: video/mp4\r\n\r\n"
    )  # fmt: skip


def upload_rows(server: LiveServer) -> int:
    """Rows in the live server's upload table, read from its own database."""
    url = server.env["DATABASE_URL"]
    if url.startswith("sqlite"):
        with sqlite3.connect(urlsplit(url).path) as conn:
            return conn.execute("SELECT COUNT(*) FROM uploads_upload").fetchone()[0]
    import MySQLdb

    parts = urlsplit(url)
    conn = MySQLdb.connect(
        host=parts.hostname,
        port=parts.port or 3306,
        user=parts.username or "root",
        passwd=parts.password or "",
        db=parts.path.lstrip("/"),
    )
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM uploads_upload")
            return cursor.fetchone()[0]
    finally:
        conn.close()


def open_files(pid: int) -> list[str]:
    """Targets of the process's open file descriptors (unnamed and deleted files included)."""
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
    return targets


def under(targets: list[str], directory: Path | str) -> list[str]:
    return [t for t in targets if t.startswith(str(directory).rstrip("/") + "/")]


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")


def media_files(server: LiveServer) -> set[Path]:
    return {p for p in server.media_root.rglob("*") if p.is_file()}


def post(server: LiveServer, token: str, body: bytes, kind: str = "video") -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/uploads/{kind}",
        content=body,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        },
        timeout=60,
    )


@pytest.fixture(scope="module")
def token(live_server_uvicorn) -> str:
    return live_server_uvicorn.token()


@pytest.fixture
def baseline(live_server_uvicorn):
    """Media files and rows before the test; after it, the test asserts nothing was added."""
    assert list(live_server_uvicorn.temp_dir.iterdir()) == []
    return media_files(live_server_uvicorn), upload_rows(live_server_uvicorn)


def assert_nothing_left(server: LiveServer, baseline) -> None:
    files, rows = baseline
    assert list(server.temp_dir.iterdir()) == []
    assert media_files(server) == files
    assert upload_rows(server) == rows


def test_client_gone_mid_body_leaves_nothing(live_server_uvicorn, token, shared_media, baseline):
    server = live_server_uvicorn
    pid = server.popen.pid
    system_tmp_before = set(under(open_files(pid), tempfile.gettempdir())) - set(
        under(open_files(pid), server.temp_dir)
    )
    data = (shared_media / "venue-tour.mp4").read_bytes()
    head = part_head()
    length = len(head) + 4 * len(data) + len(CLOSING)
    host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(
            f"POST /api/uploads/video HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {length}\r\n\r\n".encode()
        )
        sock.sendall(head + data + data[: len(data) // 2])  # about 3 MiB of the 8.5 MiB promised
        # Past FILE_UPLOAD_MAX_MEMORY_SIZE (64 KiB) the body spools to disk: in FILE_UPLOAD_TEMP_DIR, unnamed.
        spool = wait_for(lambda: under(open_files(pid), server.temp_dir))
        assert len(spool) == 1
        assert spool[0].endswith(" (deleted)")
        system_tmp = set(under(open_files(pid), tempfile.gettempdir())) - set(under(open_files(pid), server.temp_dir))
        assert system_tmp == system_tmp_before  # nothing spooled to /tmp
        assert list(server.temp_dir.iterdir()) == []  # no name in the directory, even while it is written
    # The client is gone: the spool is closed (so freed) and no view ran.
    wait_for(lambda: not under(open_files(pid), server.temp_dir))
    assert_nothing_left(server, baseline)
    assert httpx.get(server.url + "/health").status_code == 200


@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(len(CLOSING), id="no closing boundary"),
        pytest.param(len(b"--\r\n"), id="close delimiter without its dashes"),
        pytest.param(len(CLOSING) + MiB, id="cut mid-file"),
    ],
)
def test_body_ending_before_its_closing_boundary_is_400(live_server_uvicorn, token, shared_media, baseline, cut):
    data = (shared_media / "venue-tour.mp4").read_bytes()
    body = (part_head() + data + CLOSING)[:-cut]
    response = post(live_server_uvicorn, token, body)  # Content-Length is that of the truncated body
    assert response.status_code == 400
    assert response.json() == {
        "detail": "The request body ended before the multipart boundary that closes the file; nothing was stored.",
        "success": False,
        "message": "The request body ended before the multipart boundary that closes the file; nothing was stored.",
        "code": "incomplete_upload",
    }
    assert_nothing_left(live_server_uvicorn, baseline)


def test_too_many_files_or_fields_is_400(live_server_uvicorn, token, shared_media, baseline):
    photo = (shared_media / "camera-with-gps.jpg").read_bytes()
    two_files = part_head(b"a.jpg") + photo + b"\r\n" + part_head(b"b.jpg") + photo + CLOSING
    response = post(live_server_uvicorn, token, two_files, kind="image")
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["message"]) == (
        "too_many_files",
        "An upload carries one file only.",
    )

    fields = b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nx\r\n'.encode() for i in range(150)
    )
    response = post(live_server_uvicorn, token, fields + part_head(b"a.jpg") + photo + CLOSING, kind="image")
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["message"]) == (
        "too_many_fields",
        "A request may carry at most 100 fields.",
    )
    assert_nothing_left(live_server_uvicorn, baseline)


def test_hostile_filenames_stay_inside_media_root(live_server_uvicorn, token, scrubbed_photo):
    photo = scrubbed_photo.read_bytes()  # no private metadata: stored byte for byte
    cases = {  # download names end in the detected type's extension
        b"..": "file.jpg",
        b"../../../../etc/passwd": "passwd.jpg",
        b"..\\..\\x.jpg": "x.jpg",
        b"a\x00b.jpg": "ab.jpg",
        b"\x01\x1b[31mred\x7f.jpg": "[31mred.jpg",
        b"x." + b"e" * 300: "e" * 251 + ".jpg",
        "é".encode() * 150 + b".jpg": "é" * 123 + ".jpg",
        "．．／．．／passwd".encode(): "passwd.jpg",
    }
    media_root = live_server_uvicorn.media_root.resolve()
    for filename, stored in cases.items():
        response = post(live_server_uvicorn, token, part_head(filename) + photo + CLOSING, kind="image")
        assert response.status_code == 201, (filename, response.text)
        body = response.json()
        assert body["name"] == stored
        stored_path = (live_server_uvicorn.media_root / body["path"]).resolve()
        assert stored_path.parent == media_root / "images"
        assert stored_path.read_bytes() == photo
    assert list(live_server_uvicorn.temp_dir.iterdir()) == []


@pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith("mysql"),
    reason="orphan temporary files do not depend on the database: this runs in the SQLite pass",
)
def test_sigkill_mid_upload_leaves_an_orphan_that_cleanup_removes(server_factory):
    server = server_factory("sigkill")
    token = server.token()
    size = 128 * MiB  # Django's parser takes a good tenth of a second to copy it: time to see its file
    head = part_head()
    host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
    block = os.urandom(MiB)
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(
            f"POST /api/uploads/video HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {len(head) + size + len(CLOSING)}\r\n\r\n".encode()
        )
        sock.sendall(head)
        for _ in range(size // MiB):
            sock.sendall(block)
        sock.sendall(CLOSING)
        # The body is in; Django's parser now copies it into a named temporary file: kill the worker then.
        orphan = wait_for(lambda: [p for p in server.temp_dir.iterdir() if ".upload" in p.name], interval=0.001)
        os.kill(server.popen.pid, signal.SIGKILL)
        server.popen.wait(10)
    assert [p.name for p in server.temp_dir.iterdir()] == [orphan[0].name]
    assert orphan[0].name.startswith("tmp")
    assert orphan[0].name.endswith(".upload.mp4")
    assert media_files(server) == set()

    orphan_size = orphan[0].stat().st_size
    command = [sys.executable, "manage.py", "cleanup_upload_temp", "--older-than", "0"]
    run = subprocess.run(command, cwd=ROOT, env=server.env, check=True, capture_output=True, text=True)
    output = run.stdout.splitlines()
    assert output[0].startswith(f"removed {orphan[0]} ({orphan_size} bytes, ")
    assert output[-1] == (
        f"Removed 1 orphan temporary file(s), {orphan_size} bytes, older than 0 s from {server.temp_dir} "
        "(1 entries scanned)."
    )
    assert list(server.temp_dir.iterdir()) == []
