"""The worker's long-lived ExifTool (uploads.exiftool): one process for many commands, replaced when it dies."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from uploads import exiftool
from uploads.exiftool import ExifToolTimeout, StayOpenExifTool


@pytest.fixture
def tool():
    exiftool = StayOpenExifTool(shutil.which("exiftool"))
    yield exiftool
    exiftool.close()


def test_commands_share_one_process_and_return_exiftools_status(tool, shared_media, tmp_path):
    photo = shutil.copy(shared_media / "camera-with-gps.jpg", tmp_path / "photo.jpg")
    first = tool.run("-s3", "-GPSLatitudeRef", str(photo), timeout=30)
    pid = tool.pid
    assert (first.returncode, first.stdout, first.stderr) == (0, "North\n", "")
    removed = tool.run("-overwrite_original_in_place", "-gps:all=", str(photo), timeout=30)
    assert (removed.returncode, removed.stdout.strip()) == (0, "1 image files updated")
    assert tool.run("-s3", "-GPSLatitudeRef", str(photo), timeout=30).stdout == ""
    missing = tool.run("-json", str(tmp_path / "missing.jpg"), timeout=30)
    assert missing.returncode == 1
    assert "File not found" in missing.stderr
    assert tool.pid == pid


def test_a_dead_process_is_replaced(tool, shared_media):
    tool.run("-ver", timeout=30)
    dead = tool.pid
    os.kill(dead, signal.SIGKILL)
    with contextlib.suppress(OSError):  # the command met the dying process: it fails, and the process is dropped
        tool.run("-ver", timeout=30)
    assert tool.run("-ver", timeout=30).returncode == 0
    assert tool.pid not in (None, dead)


def test_a_process_that_does_not_answer_in_time_is_killed(tool, shared_media):
    tool.run("-ver", timeout=30)
    slow = tool.pid
    with pytest.raises(ExifToolTimeout):
        tool.run("-ver", timeout=0)
    assert tool.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(slow, 0)


def test_arguments_with_line_breaks_are_refused(tool):
    with pytest.raises(ValueError, match="line breaks"):
        tool.run("-json", "/tmp/a\n-execute", timeout=30)


def test_an_idle_process_is_ended(tool, monkeypatch):
    monkeypatch.setattr(exiftool, "IDLE_SECONDS", 0.2)
    tool.run("-ver", timeout=30)
    idle = tool.pid
    for _ in range(50):
        if tool.pid is None:
            break
        time.sleep(0.05)
    assert tool.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(idle, 0)
    assert tool.run("-ver", timeout=30).returncode == 0  # started again


def test_the_process_ends_with_a_worker_killed_without_closing_it():
    """ExifTool keeps reading its closed standard input for ever (-stay_open): a worker killed by SIGKILL must not
    leave it running (75 MB each, one per restart)."""
    worker = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, shutil, signal; from uploads.exiftool import StayOpenExifTool; "
            "tool = StayOpenExifTool(shutil.which('exiftool')); tool.run('-ver', timeout=30); "
            "print(tool.pid, flush=True); os.kill(os.getpid(), signal.SIGKILL)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert worker.returncode == -signal.SIGKILL
    orphan = int(worker.stdout)
    for _ in range(50):
        try:
            os.kill(orphan, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(orphan, signal.SIGKILL)
        pytest.fail(f"ExifTool {orphan} outlived its worker")
