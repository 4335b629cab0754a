"""Remove location and device-identifying metadata from images and videos, without re-encoding them.

ExifTool (https://exiftool.org, Debian's ``libimage-exiftool-perl``) rewrites only the metadata blocks of the
file; pixels and audio/video streams are copied byte for byte. It runs as a subprocess on the file on disk, so
the file never passes through this process's memory.

Removed (`DELETE_ARGUMENTS`, and the tags found by `LOCATION_ARGUMENT`): the whole EXIF GPS block; every tag in
ExifTool's "Location" group (XMP and IPTC city, sub-location, country, QuickTime/MP4 ``©xyz`` and ``GPSCoordinates``
in UserData, Keys and ItemList, Keys' location name and body); maker notes (vendor blocks that hold serial numbers,
and sometimes location and owner); all of XMP and IPTC (and the Photoshop block that carries IPTC); camera, lens and
internal serial numbers, the owner's name and the unique image ID. Kept: orientation, the ICC colour profile,
dimensions, exposure settings, capture date, camera make and model (a product, not a person or a single device).
Files ExifTool cannot write (WebM/Matroska) are only read: if they carry any of those tags they are refused
(`MetadataNotRemovable`).
"""

import contextlib
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from lebrq.exceptions import MetadataNotRemovable
from lebrq.tempfiles import EXIFTOOL_TMP_SUFFIX, SCRUB_LINK_INFIX

from .exiftool import ExifToolTimeout, Result, StayOpenExifTool

#: ExifTool arguments that delete the private metadata (see the module docstring). "-TAG=" deletes TAG.
DELETE_ARGUMENTS = (
    "-gps:all=",
    "-GPSCoordinates=",
    "-makernotes:all=",
    "-xmp:all=",
    "-iptc:all=",
    "-photoshop:all=",
    "-SerialNumber=",
    "-InternalSerialNumber=",
    "-LensSerialNumber=",
    "-OwnerName=",
    "-ImageUniqueID=",
    # Data after a JPEG's end marker (a phone's depth map or motion clip, or HTML/script of a polyglot): removed.
    "-trailer:all=",
)
#: Every tag of ExifTool's "Location" group (family 2): read (`private_metadata`), then deleted by name. Deleted
#: as a group ("-location:all="), ExifTool loads every writable tag table to find them: 280 ms of its CPU a file,
#: against ~15 ms to read which are there — and one ExifTool serves all of a worker's uploads in turn.
LOCATION_ARGUMENT = "-location:all"
#: The tags `private_metadata` looks for: the deleted ones but whole XMP and IPTC (an HEIC's HDR gain map XMP
#: cannot be deleted and is not private; their location tags are in the "Location" group), and the Location group.
_WHOLE_BLOCKS = ("-xmp", "-iptc", "-photoshop")
READ_ARGUMENTS = (
    *(argument.rstrip("=") for argument in DELETE_ARGUMENTS if argument.split(":")[0] not in _WHOLE_BLOCKS),
    LOCATION_ARGUMENT,
)
_IGNORED_TAGS = frozenset({"SourceFile", "ExifTool:Warning", "ExifTool:Error"})

#: Types ExifTool can rewrite in place (JPEG, PNG, WebP, GIF, HEIC/HEIF, ISO base media video) → the file name
#: extension ExifTool needs to see (it picks the file format by extension, and refuses a mismatch).
WRITABLE_TYPES = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
    "image/heic": "heic",
    "image/heif": "heif",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/x-m4v": "m4v",
}
#: Types only read: refused when they carry private metadata.
READ_ONLY_TYPES = {"video/webm": "webm", "video/x-matroska": "mkv"}

#: Seconds ExifTool may run on one file (it copies a video's media data: ~2 GiB at disk speed at most).
EXIFTOOL_TIMEOUT = 600


@dataclass(frozen=True)
class ScrubResult:
    """What `scrub_file` did: ``changed`` whether the file was rewritten, ``size`` in bytes and ``sha256`` (hex)
    of the file as it is now (None when unchanged: the caller's values still hold)."""

    changed: bool
    size: int | None = None
    sha256: str | None = None


def applies_to(mime: str) -> bool:
    """Whether files of ``mime`` are scrubbed or checked (images and videos; documents are private and kept)."""
    return mime in WRITABLE_TYPES or mime in READ_ONLY_TYPES


def scrub_file(path: str | os.PathLike, mime: str) -> ScrubResult:
    """Strip private metadata from the file at ``path`` in place (same inode: open handles see the new bytes):
    `DELETE_ARGUMENTS`, and the Location group's tags found in the file, by name (composite tags are computed from
    others, not stored).

    Raises `MetadataNotRemovable` when ExifTool fails, when a private tag is still there afterwards (one ExifTool
    reads but cannot delete by its name, such as a track-level ``©xyz``), or when a read-only type carries private
    metadata. Returns a `ScrubResult` with the new size and SHA-256 (computed by streaming the file) when it changed.
    Types neither writable nor read-only are left alone (``changed=False``).
    """
    if mime in READ_ONLY_TYPES:
        found = private_metadata(path, mime)
        if found:
            raise MetadataNotRemovable(
                f"The file carries private metadata ({', '.join(found[:5])}) that cannot be removed from {mime}."
            )
        return ScrubResult(changed=False)
    if mime not in WRITABLE_TYPES:
        return ScrubResult(changed=False)
    with typed_path(path, WRITABLE_TYPES[mime]) as named:
        located = (f"-{tag}=" for tag in _read_tags(named, "-e", LOCATION_ARGUMENT))  # -e: no composite tags
        completed = _exiftool("-overwrite_original_in_place", *DELETE_ARGUMENTS, *located, os.path.abspath(named))
        if completed.returncode != 0:
            raise MetadataNotRemovable(f"The file's metadata cannot be rewritten: {_first_error(completed)}.")
        left = _read_tags(named, "-e", *READ_ARGUMENTS)  # checked, not assumed: a tag read but not deletable
    if left:
        raise MetadataNotRemovable(f"The file's private metadata ({', '.join(left[:5])}) cannot be removed.")
    if "1 image files updated" not in completed.stdout:
        return ScrubResult(changed=False)
    return ScrubResult(changed=True, size=os.path.getsize(path), sha256=file_sha256(path))


def private_metadata(path: str | os.PathLike, mime: str) -> list[str]:
    """The private tags (``"Group:Tag"``, ExifTool's family-1 groups) present in the file at ``path`` of type
    ``mime``; [] if none. Raises `MetadataNotRemovable` if ExifTool cannot read the file."""
    with typed_path(path, {**WRITABLE_TYPES, **READ_ONLY_TYPES}.get(mime, "")) as named:
        return _read_tags(named, *READ_ARGUMENTS)


def _read_tags(path: str, *arguments: str) -> list[str]:
    """The tags (``"Group:Tag"``, family-1 groups) that ExifTool's read ``arguments`` find in the file at ``path``
    (named with its type's extension), sorted. Raises `MetadataNotRemovable` if ExifTool cannot read it."""
    completed = _exiftool("-json", "-G1", "-a", *arguments, os.path.abspath(path))
    if completed.returncode not in (0, 1) or not completed.stdout.strip():  # 1 with a record: tags not found
        raise MetadataNotRemovable(f"The file's metadata cannot be read: {_first_error(completed)}.")
    try:
        records = json.loads(completed.stdout or "[{}]")
    except ValueError as exc:
        raise MetadataNotRemovable("ExifTool's answer could not be read.") from exc
    return sorted(tag for tag in (records[0] if records else {}) if tag not in _IGNORED_TAGS)


@contextlib.contextmanager
def typed_path(path: str | os.PathLike, extension: str):
    """A name of the file at ``path`` that ends in ``.extension`` (ExifTool picks the format by extension): the
    path itself when it does, else a hard link beside it (``<path>.scrub.<extension>``, `lebrq.tempfiles`'s name;
    same inode: a write in place changes the file), removed on exit, and with it the copy ExifTool leaves when it
    is stopped (``<name>_exiftool_tmp``)."""
    path = os.fspath(path)
    if not extension or path.lower().endswith(f".{extension}"):
        try:
            yield path
        finally:
            Path(path + EXIFTOOL_TMP_SUFFIX).unlink(missing_ok=True)
        return
    link = f"{path}{SCRUB_LINK_INFIX}{extension}"
    os.link(path, link)
    try:
        yield link
    finally:
        os.unlink(link)
        Path(link + EXIFTOOL_TMP_SUFFIX).unlink(missing_ok=True)


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of the file at ``path``, read in fixed-size chunks (hashlib.file_digest)."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


_exiftools: dict[str, StayOpenExifTool] = {}
_exiftools_guard = threading.Lock()


def _exiftool(*arguments: str) -> Result:
    """One ExifTool command on this worker's long-lived ExifTool (`uploads.exiftool`), with ``-m`` (minor errors,
    e.g. a non-standard maker note, are warnings) and UTF-8 file names; the last argument is an absolute path.
    Raises `MetadataNotRemovable` after `EXIFTOOL_TIMEOUT` seconds or when ExifTool cannot be run."""
    with _exiftools_guard:
        tool = _exiftools.setdefault(settings.EXIFTOOL_PATH, StayOpenExifTool(settings.EXIFTOOL_PATH))
    try:
        return tool.run(*arguments, timeout=EXIFTOOL_TIMEOUT)
    except ExifToolTimeout as exc:
        raise MetadataNotRemovable(f"ExifTool took longer than {EXIFTOOL_TIMEOUT} seconds.") from exc
    except OSError as exc:
        raise MetadataNotRemovable(f"ExifTool could not be run: {exc}.") from exc


def _first_error(completed: Result) -> str:
    lines = [line.strip() for line in completed.stderr.splitlines() if line.strip()]
    return lines[0] if lines else f"exit status {completed.returncode}"
