"""Upload checks (verification and metadata removal) run on their own executor, not in the request threads: while
they take every check thread, reads are answered, no request thread is busy, and an upload that finds no check
thread within DB_POOL_TIMEOUT gets the 503 ``upload_checks_busy`` with Retry-After. A client that leaves during its
check leaves nothing behind.

ExifTool is replaced by `slow_exiftool.py`, which takes ``SLOW_EXIFTOOL_SECONDS`` per command: the checks' length is
then known, not a guess about this machine's speed.
"""

import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from lebrq.errors import UPLOAD_CHECKS_BUSY_DETAIL
from lebrq.tempfiles import SCRUB_LINK_INFIX

pytestmark = pytest.mark.live

CHECK_SECONDS = 5  # each upload's ExifTool command; DB_POOL_TIMEOUT is 1


@pytest.fixture
def slow_checks(server_factory, tmp_path):
    """A worker with 2 request threads, 2 check threads, a 1 s wait for either, and ExifTool taking 5 s a file."""
    marks = tmp_path / "marks"
    marks.mkdir()
    wrapper = tmp_path / "exiftool"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} {Path(__file__).with_name("slow_exiftool.py")} "$@"\n')
    wrapper.chmod(0o755)
    server = server_factory(
        "upload-checks",
        DB_POOL_SIZE="1",
        DB_MAX_OVERFLOW="1",
        DB_POOL_TIMEOUT="1",
        UPLOAD_CHECK_THREADS="2",
        UPLOADS_PER_USER="3",
        EXIFTOOL_PATH=str(wrapper),
        SLOW_EXIFTOOL_SECONDS=str(CHECK_SECONDS),
        SLOW_EXIFTOOL_MARKS=str(marks),
    )
    server.marks = marks
    return server


def count(marks: Path, kind: str) -> int:
    return len(list(marks.glob(f"{kind}-*")))


def wait_for(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_reads_answer_while_checks_take_every_check_thread(slow_checks, shared_media):
    """Two uploads take both check threads for 5 s each (one after the other in ExifTool, which runs one command at
    a time); with the checks in the 2 request threads, reads would find none free and get 503 after 1 s."""
    photo = (shared_media / "camera-with-gps.jpg").read_bytes()
    with slow_checks.client() as client:
        uploads: dict[str, httpx.Response] = {}

        def upload(name: str):
            with httpx.Client(base_url=slow_checks.url, headers=client.headers, timeout=60) as own:
                uploads[name] = own.post("/api/uploads/image", files={"file": (f"{name}.jpg", photo)})

        first = [threading.Thread(target=upload, args=(name,)) for name in ("a", "b")]
        for thread in first:
            thread.start()
        wait_for(lambda: count(slow_checks.marks, "started") == 1)
        time.sleep(0.5)  # the other upload's check is waiting for ExifTool in the second check thread
        late = threading.Thread(target=upload, args=("c",))  # no check thread comes free for it within 1 s
        late.start()
        reads, pools = [], []
        for _ in range(5):
            reads.append(client.get("/api/venues", timeout=30))
            reads.append(client.get("/api/bookings", timeout=30))
            pools.append(httpx.get(slow_checks.url + "/api/health/pool").json()["in_use"])
        checks_done_meanwhile = count(slow_checks.marks, "done")
        for thread in [*first, late]:
            thread.join(60)

    assert [(read.url.path, read.status_code) for read in reads] == [("/api/venues", 200), ("/api/bookings", 200)] * 5
    assert pools == [0] * 5  # no request thread (nor its connection) is held by the checks
    assert checks_done_meanwhile == 0  # the reads were answered while the first check was still running
    assert (uploads["a"].status_code, uploads["b"].status_code) == (201, 201)
    busy = uploads["c"]
    assert busy.status_code == 503
    assert busy.headers["retry-after"] == "5"  # UPLOAD_RETRY_AFTER
    assert busy.json() == {
        "detail": UPLOAD_CHECKS_BUSY_DETAIL,
        "success": False,
        "message": UPLOAD_CHECKS_BUSY_DETAIL,
        "code": "upload_checks_busy",
    }
    assert count(slow_checks.marks, "done") == 2  # the refused upload was never checked
    stored = sorted(path.name for path in slow_checks.media_root.rglob("*") if path.is_file())
    assert len(stored) == 2
    assert {uploads[name].json()["name"] for name in "ab"} == {"a.jpg", "b.jpg"}
    assert list(slow_checks.temp_dir.iterdir()) == []


def test_a_client_that_leaves_during_its_check_leaves_nothing(slow_checks, shared_media):
    photo = (shared_media / "camera-with-gps.jpg").read_bytes()
    token_headers = {"Authorization": f"Bearer {slow_checks.token()}"}
    with (
        httpx.Client(base_url=slow_checks.url, headers=token_headers, timeout=1) as leaving,
        pytest.raises(httpx.ReadTimeout),  # gone 1 s into its 5 s check
    ):
        leaving.post("/api/uploads/image", files={"file": ("gone.jpg", photo)})
    assert count(slow_checks.marks, "started") == 1
    time.sleep(0.5)  # the server has seen the client go
    # The upload's temporary file is kept while the check still works on it (beside it, the check's hard link).
    assert len([path for path in slow_checks.temp_dir.iterdir() if SCRUB_LINK_INFIX not in path.name]) == 1
    wait_for(lambda: count(slow_checks.marks, "done") == 1)
    wait_for(lambda: list(slow_checks.temp_dir.iterdir()) == [], timeout=5)  # removed once the check ended
    assert [path for path in slow_checks.media_root.rglob("*") if path.is_file()] == []
    with httpx.Client(base_url=slow_checks.url, headers=token_headers, timeout=30) as client:
        assert client.get("/api/uploads").json()["items"] == []  # no row either
