"""Decide a file's type by its bytes (magic numbers), not by the client's Content-Type or filename.

Detection is the `filetype` library's, over the first `SNIFF_BYTES` bytes; this module only says which
detected types each upload kind accepts.
"""

from dataclasses import dataclass

import filetype

from lebrq.exceptions import UnsupportedType
from lebrq.upload_kinds import UPLOAD_KINDS

#: How many leading bytes are read to detect the type (filetype's own signature window).
SNIFF_BYTES = 8192

# Every accepted type has a content check in uploads/verify.py (AVI and MPEG, which have none, are refused).
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif", "image/heic", "image/heif"})
VIDEO_TYPES = frozenset(
    {
        "video/mp4",
        "video/quicktime",
        "video/webm",
        "video/x-matroska",
        "video/x-m4v",
    }
)
DOCUMENT_TYPES = frozenset({"application/pdf"}) | IMAGE_TYPES

#: The types each upload kind (`lebrq.upload_kinds.UPLOAD_KINDS`) accepts.
ACCEPTED = dict(zip(UPLOAD_KINDS, (IMAGE_TYPES, VIDEO_TYPES, DOCUMENT_TYPES), strict=True))


@dataclass(frozen=True)
class DetectedType:
    mime: str
    extension: str


def detect(head: bytes, kind: str) -> DetectedType:
    """Detect the type of a file from its first bytes and check that ``kind`` accepts it.

    ``head`` is at most `SNIFF_BYTES` bytes from the start of the file; ``kind`` is ``"image"``, ``"video"`` or
    ``"document"``. Raises `lebrq.exceptions.UnsupportedType` with a message naming what was found and what
    is accepted.
    """
    guess = filetype.guess(head)
    accepted = ACCEPTED[kind]
    if guess is None or guess.mime not in accepted:
        found = guess.mime if guess else "an unrecognised type"
        names = ", ".join(sorted(accepted))
        article = "an" if kind[0] in "aeiou" else "a"
        raise UnsupportedType(f"The file's content is {found}; {article} {kind} upload accepts {names}.")
    return DetectedType(mime=guess.mime, extension=guess.extension)
