"""`manage.py cleanup_upload_temp`: removes only old files named like the project's temporary files."""

import os
import tempfile
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.core.management import CommandError, call_command

from uploads.management.commands.cleanup_upload_temp import TEMP_FILE_NAME

DAY = 86400


def make(directory: Path, name: str, age: float = 2 * DAY, content: bytes = b"orphan") -> Path:
    path = directory / name
    path.write_bytes(content)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("cleanup_upload_temp", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def temp_dir(settings) -> Path:
    return Path(settings.FILE_UPLOAD_TEMP_DIR)


def test_removes_old_orphans_and_nothing_else(temp_dir):
    orphans = [
        make(temp_dir, "tmpab_d5fgh.upload.jpg"),
        make(temp_dir, "tmp0123abcd.upload"),
        make(temp_dir, "tmp0123abce.upload.é"),  # Django keeps any extension
        make(temp_dir, "invoice-k2j4h5g6.pdf"),
    ]
    kept = [
        make(temp_dir, "tmpzzzzzzzz.upload.mp4", age=60),  # an upload still in progress
        make(temp_dir, "tmpABCDEFGH.upload"),  # not tempfile's alphabet
        make(temp_dir, "tmpabcdefgh.upload.jpg.bak"),
        make(temp_dir, "tmpabcdefg.upload"),  # 7 random characters
        make(temp_dir, "invoice-final.pdf"),
        make(temp_dir, "notes.txt"),
    ]
    (temp_dir / "tmpdirector.upload").mkdir()
    (temp_dir / "tmpsymlinks.upload").symlink_to(kept[-1])
    os.utime(temp_dir / "tmpsymlinks.upload", (0, 0), follow_symlinks=False)

    out, err = run("--older-than", "3600")

    assert sorted(p.name for p in temp_dir.iterdir()) == sorted(
        [p.name for p in kept] + ["tmpdirector.upload", "tmpsymlinks.upload"]
    )
    lines = out.splitlines()
    assert sorted(line.split(" (")[0] for line in lines[:-1]) == sorted(f"removed {p}" for p in orphans)
    assert all(line.endswith((f"(6 bytes, {2 * DAY} s old)", f"(6 bytes, {2 * DAY + 1} s old)")) for line in lines[:-1])
    assert lines[-1] == (
        f"Removed 4 orphan temporary file(s), 24 bytes, older than 3600 s from {temp_dir} (12 entries scanned)."
    )
    assert err == ""  # no progress bar when stderr is not a terminal


def test_dry_run_removes_nothing(temp_dir):
    orphan = make(temp_dir, "tmpab_d5fgh.upload.jpg")
    out, _ = run("--older-than", "0", "--dry-run")
    assert orphan.exists()
    assert out.splitlines()[0].startswith(f"would remove {orphan} (6 bytes, ")
    assert out.splitlines()[-1] == (
        f"Would remove 1 orphan temporary file(s), 6 bytes, older than 0 s from {temp_dir} (1 entries scanned)."
    )


def test_age_is_strictly_older_than(temp_dir):
    young = make(temp_dir, "tmpab_d5fgh.upload.jpg", age=100)
    out, _ = run("--older-than", "200")
    assert young.exists()
    assert (
        out == f"Removed 0 orphan temporary file(s), 0 bytes, older than 200 s from {temp_dir} (1 entries scanned).\n"
    )


def test_progress_bar_counts_every_entry(temp_dir):
    for index in range(2000):
        make(temp_dir, f"tmp{index:08d}.upload.jpg", content=b"")
    make(temp_dir, "keep-me.txt")
    out, err = run("--older-than", "60", "--progress")
    assert list(temp_dir.iterdir()) == [temp_dir / "keep-me.txt"]
    assert out.splitlines()[-1].startswith("Removed 2000 orphan temporary file(s), 0 bytes")
    assert "2001/2001" in err
    assert "100%" in err


def test_names_django_actually_makes_are_matched(settings):
    upload = TemporaryUploadedFile("tour.MP4", "video/mp4", 0, None)
    plain = TemporaryUploadedFile("README", "text/plain", 0, None)
    with tempfile.NamedTemporaryFile(prefix="invoice-", suffix=".pdf", dir=settings.FILE_UPLOAD_TEMP_DIR) as pdf:
        for path in (upload.temporary_file_path(), plain.temporary_file_path(), pdf.name):
            assert TEMP_FILE_NAME.fullmatch(os.path.basename(path)), path
    upload.close()
    plain.close()


@pytest.mark.parametrize(("args", "message"), [(["--older-than", "-1"], "--older-than must be >= 0 seconds.")])
def test_negative_age_is_refused(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_missing_directory_is_refused(settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "gone")
    with pytest.raises(CommandError, match="is not a directory"):
        run("--older-than", "60")
