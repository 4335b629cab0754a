"""`manage.py cleanup_upload_temp`: removes only old files named like the project's temporary files."""

import os
import tempfile
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from bookings.invoicing.export import write_invoices_zip
from bookings.invoicing.pdf import render_html_to_file
from lebrq.tempfiles import CLEANUP_NAMES, EXIFTOOL_TMP_SUFFIX, REQUEST_SPOOL
from uploads import scrub
from uploads.handlers import ChecksumTemporaryFileUploadHandler

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


def upload_name(filename: str) -> str:
    """The name the upload handler gives the temporary file of a multipart part named ``filename``."""
    handler = ChecksumTemporaryFileUploadHandler()
    handler.new_file("file", filename, "application/octet-stream", None)
    name = os.path.basename(handler.file.temporary_file_path())
    handler.file.close()  # removes it
    return name


def produced_names(directory: Path) -> list[str]:
    """Names made by the real producers in ``directory`` (their files removed again): two multipart uploads,
    an invoice render, the admin's invoice ZIP, and a request spool (`TempDirASGIHandler`'s `SpooledTemporaryFile`
    rolls over to an unnamed `TemporaryFile`; where the system cannot make one unnamed, tempfile names it so)."""
    render = render_html_to_file("<p>Invoice</p>", directory)
    archive = write_invoices_zip([], directory)
    spool_fd, spool = tempfile.mkstemp(prefix=REQUEST_SPOOL.prefix, suffix=REQUEST_SPOOL.suffix, dir=directory)
    os.close(spool_fd)
    names = [upload_name("tour.MP4"), upload_name("README"), render.name, archive.path.name, os.path.basename(spool)]
    for path in (render, archive.path, Path(spool)):
        path.unlink()
    return names


def test_removes_old_orphans_and_nothing_else(temp_dir):
    orphans = [
        make(temp_dir, "tmpab_d5fgh.upload.jpg"),
        make(temp_dir, "tmp0123abce.upload.é"),  # Django keeps any extension
        *(make(temp_dir, name) for name in produced_names(temp_dir)),
    ]
    kept = [
        make(temp_dir, "tmpzzzzzzzz.upload.mp4", age=60),  # an upload still in progress
        make(temp_dir, "tmpABCDEFGH.upload"),  # not tempfile's alphabet
        make(temp_dir, "tmpabcdefgh.upload.jpg.bak"),
        make(temp_dir, "tmpabcdefg.upload"),  # 7 random characters
        make(temp_dir, "invoice-final.pdf"),
        make(temp_dir, "invoice-k2j4h5g6.pdf"),  # no producer makes such a name
        make(temp_dir, "invoices-export.zip"),  # 6 characters: not tempfile's
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
        f"Removed 7 orphan temporary file(s), 42 bytes, older than 3600 s from {temp_dir} (17 entries scanned)."
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


def test_names_the_producers_actually_make_are_matched(temp_dir):
    names = produced_names(temp_dir)
    assert [name[:3] for name in names[:2]] == ["tmp", "tmp"]
    for name in names:
        assert CLEANUP_NAMES.fullmatch(name), name
    assert names[0].endswith(".upload.MP4")
    assert names[2].startswith(".render-") and names[2].endswith(".pdf")
    assert names[3].startswith("invoices-") and names[3].endswith(".zip")
    assert names[4].startswith("spool-") and names[4].endswith(".body")
    assert list(temp_dir.iterdir()) == []


def test_names_left_by_exiftool_on_an_upload_are_matched(temp_dir):
    upload = temp_dir / upload_name("photo.JPG")
    upload.write_bytes(b"x")
    with scrub.typed_path(upload, "jpeg") as link:  # the hard link ExifTool is given
        names = [os.path.basename(link), os.path.basename(link) + EXIFTOOL_TMP_SUFFIX]
        Path(link + EXIFTOOL_TMP_SUFFIX).write_bytes(b"x")  # as ExifTool leaves it when it is killed
    assert names[0] == upload.name + ".scrub.jpeg"
    assert sorted(temp_dir.iterdir()) == [upload]  # the link and ExifTool's copy are removed with the request
    for name in [upload.name, *names]:
        assert CLEANUP_NAMES.fullmatch(name), name
    assert not CLEANUP_NAMES.fullmatch(upload.name + ".jpeg.bak")


@pytest.mark.parametrize(("args", "message"), [(["--older-than", "-1"], "--older-than must be >= 0 seconds.")])
def test_negative_age_is_refused(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_missing_directory_is_refused(settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "gone")
    with pytest.raises(CommandError, match="is not a directory"):
        run("--older-than", "60")
