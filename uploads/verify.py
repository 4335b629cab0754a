"""Verify that a stored-to-be file really is what its magic number says: decoded or parsed, not only sniffed.

- Images (JPEG, PNG, WebP, GIF, HEIC/HEIF) are decoded completely by libvips (pyvips) with ``fail_on="warning"``,
  so a decoder warning (libjpeg's "premature end of data segment", a truncated PNG) is a refusal, in sequential
  access (a few scanlines at a time). HEIC/HEIF, whose decoder (libheif) holds the whole image, are decoded in a
  child process (`verify_image_in_child`). The pixel count is read from the header first and refused above
  ``IMAGE_MAX_PIXELS`` before any pixel is decoded (decompression bombs).
- Videos: the container structure is walked by reading element headers only (seek, never the payload): ISO base
  media file format boxes (MP4, MOV, M4V; ISO/IEC 14496-12 §4.2) and EBML/Matroska elements (WebM, MKV;
  RFC 8794, RFC 9559).
- PDF documents are parsed with pypdf (cross-reference table and page tree); there must be at least one page.

A type with no verifier here is refused: `verify_file` raises `Unverifiable`.
"""

import os
import struct
import subprocess
import sys
from collections.abc import Callable
from typing import BinaryIO

import pyvips
from django.conf import settings

from lebrq.exceptions import ContentRejected, CorruptContent, TooManyPixels, Unverifiable

# A decoded image must not linger in libvips' operation cache (100 MiB by default), and one decode thread keeps
# the memory of a verification to a few scanlines' worth (the request already runs in a worker thread).
pyvips.cache_set_max(0)
pyvips.concurrency_set(1)

#: Top-level boxes or elements walked at most per file: a real video has a handful (MP4: ftyp, moov, mdat, free;
#: fragmented MP4: two per fragment); millions of tiny ones would only cost time.
MAX_CONTAINER_ELEMENTS = 100_000

ISO_BMFF_TYPES = frozenset({"video/mp4", "video/quicktime", "video/x-m4v"})
EBML_TYPES = frozenset({"video/webm", "video/x-matroska"})
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif", "image/heic", "image/heif"})
#: Image types that can hold several frames (animations): every frame is decoded and counted.
MULTI_FRAME_TYPES = frozenset({"image/gif", "image/webp"})


def verify_file(path: str | os.PathLike, mime: str) -> None:
    """Verify the file at ``path`` as ``mime`` (the sniffed type); returns None when it is acceptable.

    Raises `TooManyPixels`, `CorruptContent` or `Unverifiable`. Reads the file from disk; memory stays bounded by
    a few decoded scanlines (images) or a few header bytes (videos, PDF cross-references).
    """
    verifier = VERIFIERS.get(mime)
    if verifier is None:
        raise Unverifiable(f"{mime} files are not accepted: their content cannot be verified.")
    verifier(os.fspath(path), mime)


#: Types whose decoder holds the whole decoded image in memory (libheif): verified in a child process, so the
#: worker's memory does not grow by it (~84 MiB for a 12-megapixel iPhone photo), and returns when it exits.
WHOLE_IMAGE_DECODER_TYPES = frozenset({"image/heic", "image/heif"})
#: Seconds a child process may take to decode one image.
CHILD_DECODE_TIMEOUT = 120
_CHILD_EXIT_STATUS = {CorruptContent: 3, TooManyPixels: 4}
_CHILD_EXIT = {status: exception for exception, status in _CHILD_EXIT_STATUS.items()}


def verify_image_in_child(path: str, mime: str, max_pixels: int | None = None) -> None:
    """`verify_image` in a child Python process (this module run with ``-m``); same exceptions. A child that fails
    otherwise (killed, out of memory, timed out) is a `CorruptContent` naming that."""
    max_pixels = settings.IMAGE_MAX_PIXELS if max_pixels is None else max_pixels
    command = [sys.executable, "-m", __name__, os.fspath(path), mime, str(max_pixels)]
    try:
        completed = subprocess.run(  # noqa: S603
            command, capture_output=True, text=True, timeout=CHILD_DECODE_TIMEOUT, check=False, cwd=settings.BASE_DIR
        )
    except subprocess.TimeoutExpired as exc:
        raise CorruptContent(f"The image did not decode within {CHILD_DECODE_TIMEOUT} seconds.") from exc
    if completed.returncode == 0:
        return
    exception = _CHILD_EXIT.get(completed.returncode)
    if exception is None:
        raise CorruptContent(f"The image could not be decoded (decoder exit status {completed.returncode}).")
    raise exception(completed.stdout.strip())


def verify_image(path: str, mime: str, max_pixels: int | None = None) -> None:
    """Decode the whole image with libvips, refusing on any decoder warning; ``max_pixels`` (default
    settings.IMAGE_MAX_PIXELS) bounds width × height × frames and is checked from the header before decoding."""
    max_pixels = settings.IMAGE_MAX_PIXELS if max_pixels is None else max_pixels
    options = {"n": -1} if mime in MULTI_FRAME_TYPES else {}
    try:
        image = pyvips.Image.new_from_file(path, access="sequential", fail_on="warning", **options)
    except pyvips.Error as exc:
        raise CorruptContent(f"The image cannot be read: {_vips_reason(exc)}.") from exc
    pixels = image.width * image.height
    if pixels > max_pixels:
        raise TooManyPixels(
            f"The image has {image.width} × {image.height} = {pixels} pixels; at most {max_pixels} are accepted."
        )
    try:
        image.avg()  # pulls every pixel through the decoder, a strip at a time
    except pyvips.Error as exc:
        raise CorruptContent(f"The image does not decode completely: {_vips_reason(exc)}.") from exc


def _vips_reason(exc: pyvips.Error) -> str:
    lines = [line.strip() for line in (exc.detail or exc.message or "").splitlines() if line.strip()]
    return "; ".join(lines[:3]).rstrip(".") or "unknown decoder error"


def verify_iso_bmff(path: str, mime: str = "video/mp4") -> None:
    """Walk the top-level boxes (ISO/IEC 14496-12 §4.2: 32-bit size, 4-character type, 64-bit ``largesize`` when
    size is 1, "to the end of the file" when 0) by seeking over their payloads. They must tile the file exactly
    (a truncated file ends inside a box), include ``moov``, and ``moov`` must hold ``mvhd`` and a ``trak``."""
    size = os.path.getsize(path)
    with open(path, "rb") as file:
        boxes = dict(_iso_boxes(file, 0, size, "file"))
        if "moov" not in boxes:
            raise CorruptContent("The video has no 'moov' box (its index of tracks).")
        start, end = boxes["moov"]
        children = dict(_iso_boxes(file, start, end, "'moov'"))
    if "mvhd" not in children or "trak" not in children:
        raise CorruptContent("The video's 'moov' box has no movie header or no track.")


def _iso_boxes(file: BinaryIO, start: int, end: int, where: str):
    """Yield (type, (payload start, box end)) for the boxes between byte offsets ``start`` and ``end``."""
    position, count = start, 0
    while position < end:
        count += 1
        if count > MAX_CONTAINER_ELEMENTS:
            raise CorruptContent(f"The video's {where} has more than {MAX_CONTAINER_ELEMENTS} boxes.")
        file.seek(position)
        header = file.read(8)
        if len(header) < 8 or end - position < 8:
            raise CorruptContent(f"The video's {where} ends inside a box header at byte {position}.")
        box_size, box_type = struct.unpack(">I4s", header)
        payload = position + 8
        if box_size == 1:
            large = file.read(8)
            if len(large) < 8:
                raise CorruptContent(f"The video's {where} ends inside a box header at byte {position}.")
            (box_size,) = struct.unpack(">Q", large)
            payload += 8
        elif box_size == 0:
            box_size = end - position
        if not all(0x20 <= byte <= 0x7E for byte in box_type):
            raise CorruptContent(f"The video's {where} has a box with an invalid type at byte {position}.")
        if box_size < payload - position or position + box_size > end:
            raise CorruptContent(
                f"The video's {where} has a box '{box_type.decode()}' at byte {position} of {box_size} bytes, "
                f"past its end at byte {end} (truncated or corrupt)."
            )
        yield box_type.decode("ascii"), (payload, position + box_size)
        position += box_size


EBML_HEADER_ID = 0x1A45DFA3
EBML_DOCTYPE_ID = 0x4282
MATROSKA_SEGMENT_ID = 0x18538067
MATROSKA_INFO_ID = 0x1549A966
MATROSKA_TRACKS_ID = 0x1654AE6B
MATROSKA_CLUSTER_ID = 0x1F43B675


def verify_ebml(path: str, mime: str = "video/webm") -> None:
    """Parse the EBML header (RFC 8794 §11.2: DocType ``webm`` or ``matroska``), then walk the Segment's
    top-level elements (RFC 9559 §5.1) by seeking over their data until the first Cluster: Info and Tracks must
    come first, and every element must end within the Segment (a truncated file ends inside one)."""
    size = os.path.getsize(path)
    with open(path, "rb") as file:
        element_id, data_start, data_end = _ebml_element(file, 0, size)
        if element_id != EBML_HEADER_ID:
            raise CorruptContent("The video does not start with an EBML header.")
        doctype = None
        for child_id, child_start, child_end in _ebml_children(file, data_start, data_end):
            if child_id == EBML_DOCTYPE_ID and child_end - child_start <= 16:
                file.seek(child_start)
                doctype = file.read(child_end - child_start).rstrip(b"\0")
        if doctype not in (b"webm", b"matroska"):
            raise CorruptContent(f"The video's EBML DocType is {doctype!r}, not webm or matroska.")
        segment_id, segment_start, segment_end = _ebml_element(file, data_end, size, unknown_size_ok=True)
        if segment_id != MATROSKA_SEGMENT_ID:
            raise CorruptContent("The video's EBML header is not followed by a Segment.")
        seen = set()
        for child_id, _, child_end in _ebml_children(file, segment_start, segment_end, unknown_size_ok=True):
            if child_id == MATROSKA_CLUSTER_ID or child_end is None:
                break
            seen.add(child_id)
    if not {MATROSKA_INFO_ID, MATROSKA_TRACKS_ID} <= seen:
        raise CorruptContent("The video's Segment has no Info or no Tracks element before its first Cluster.")


def _read_vint(file: BinaryIO, keep_marker: bool) -> tuple[int | None, int]:
    """Read one EBML variable-size integer (RFC 8794 §4): (value, length in bytes). Value None: "unknown size"
    (all value bits set). Element IDs keep their length marker (``keep_marker``)."""
    first = file.read(1)
    if not first:
        raise CorruptContent("The video ends inside an EBML element header.")
    length = 9 - first[0].bit_length() if first[0] else 9
    if length > 8:
        raise CorruptContent("The video has an invalid EBML variable-size integer.")
    rest = file.read(length - 1)
    if len(rest) < length - 1:
        raise CorruptContent("The video ends inside an EBML element header.")
    value = int.from_bytes(first + rest, "big")
    if keep_marker:
        return value, length
    value &= (1 << (7 * length)) - 1
    return (None if value == (1 << (7 * length)) - 1 else value), length


def _ebml_header(file: BinaryIO, position: int, end: int, unknown_size_ok: bool):
    """(id, data start, data end) of the element at ``position``, data end None for an unknown size (refused
    unless ``unknown_size_ok``); `CorruptContent` for an element that runs past ``end``."""
    file.seek(position)
    element_id, id_length = _read_vint(file, keep_marker=True)
    data_size, size_length = _read_vint(file, keep_marker=False)
    data_start = position + id_length + size_length
    if data_size is None:
        if not unknown_size_ok:
            raise CorruptContent(f"The video has an EBML element of unknown size at byte {position}.")
        return element_id, data_start, None
    if data_start + data_size > end:
        raise CorruptContent(
            f"The video has an EBML element at byte {position} of {data_size} bytes, past its end at byte {end} "
            "(truncated or corrupt)."
        )
    return element_id, data_start, data_start + data_size


def _ebml_element(file: BinaryIO, position: int, end: int, unknown_size_ok: bool = False):
    """(id, data start, data end) of the element at ``position``; one of unknown size ends at ``end``."""
    element_id, data_start, data_end = _ebml_header(file, position, end, unknown_size_ok)
    return element_id, data_start, end if data_end is None else data_end


def _ebml_children(file: BinaryIO, start: int, end: int, unknown_size_ok: bool = False):
    """Yield (id, data start, data end or None) for the elements between ``start`` and ``end``; one of unknown
    size (live streams' Clusters) is yielded with data end None and ends the walk."""
    position, count = start, 0
    while position < end:
        count += 1
        if count > MAX_CONTAINER_ELEMENTS:
            raise CorruptContent(f"The video has more than {MAX_CONTAINER_ELEMENTS} EBML elements.")
        element_id, data_start, data_end = _ebml_header(file, position, end, unknown_size_ok)
        yield element_id, data_start, data_end
        if data_end is None:
            return
        position = data_end


def verify_pdf(path: str, mime: str = "application/pdf") -> None:
    """Parse the PDF with pypdf (strict: a damaged cross-reference table is an error, not repaired) and count its
    pages; at least one page. An encrypted PDF must open with an empty user password (else it is refused)."""
    import pypdf  # deferred: only PDF uploads need it
    from pypdf.errors import PyPdfError

    try:
        with open(path, "rb") as file:
            reader = pypdf.PdfReader(file, strict=True)
            if reader.is_encrypted and not reader.decrypt(""):
                raise CorruptContent("The PDF is encrypted with a password.")
            pages = len(reader.pages)
    except CorruptContent:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
        raise CorruptContent(f"The document does not parse as a PDF: {exc}.") from exc
    if pages < 1:
        raise CorruptContent("The PDF has no pages.")


VERIFIERS: dict[str, Callable[[str, str], None]] = {
    **dict.fromkeys(IMAGE_TYPES - WHOLE_IMAGE_DECODER_TYPES, verify_image),
    **dict.fromkeys(WHOLE_IMAGE_DECODER_TYPES, verify_image_in_child),
    **dict.fromkeys(ISO_BMFF_TYPES, verify_iso_bmff),
    **dict.fromkeys(EBML_TYPES, verify_ebml),
    "application/pdf": verify_pdf,
}
"""Detected MIME type → verifier(path, mime). Types not listed are not accepted (`Unverifiable`)."""


if __name__ == "__main__":  # the child of `verify_image_in_child`: PATH MIME MAX_PIXELS → exit 0, 3 or 4
    try:
        verify_image(sys.argv[1], sys.argv[2], int(sys.argv[3]))
    except ContentRejected as rejected:
        print(rejected)
        sys.exit(_CHILD_EXIT_STATUS[type(rejected)])
