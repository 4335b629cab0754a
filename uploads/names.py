"""Filenames: sanitising the client's original name and generating storage names."""

import mimetypes
import re
import secrets
import unicodedata

from lebrq.upload_kinds import UPLOAD_KINDS

#: Longest original name kept, in UTF-8 bytes (common filesystem limit; the DB column holds 255 characters).
MAX_NAME_BYTES = 255

#: The storage directory of each upload kind: its plural ("images/...").
_KIND_DIRS = {kind: f"{kind}s" for kind in UPLOAD_KINDS}
_DOT_RUNS = re.compile(r"\.{2,}")


def sanitize_filename(name: str, max_bytes: int = MAX_NAME_BYTES) -> str:
    """Return a display-safe version of a client-supplied filename, at most ``max_bytes`` UTF-8 bytes.

    Normalises to NFKC first (UAX #15: fullwidth ``．．／`` becomes ``../``, so no compatibility character can
    turn into a separator later), then keeps only the last path component (``/`` and ``\\`` both separate), drops
    control and format characters (Unicode categories Cc, Cf, Cs: NUL, newlines, bidi overrides), collapses runs
    of dots to one (no ``..`` anywhere), strips leading and trailing dots and spaces, and truncates by bytes at a
    character boundary while keeping the extension when it is short. Returns ``"file"`` when nothing usable
    remains.
    """
    name = unicodedata.normalize("NFKC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    name = _DOT_RUNS.sub(".", name).strip(" .")
    if not name:
        return "file"
    if len(name.encode()) <= max_bytes:
        return name
    stem, dot, ext = name.rpartition(".")
    suffix = f".{ext}" if dot and stem and len(ext.encode()) <= 16 else ""
    stem = stem if suffix else name
    budget = max_bytes - len(suffix.encode())
    return stem.encode()[:budget].decode(errors="ignore").rstrip(" .") + suffix


def storage_name(kind: str, extension: str) -> str:
    """A fresh storage name for an upload of ``kind``: ``"<kind dir>/<32 hex>.<extension>"``."""
    return f"{_KIND_DIRS[kind]}/{secrets.token_hex(16)}.{extension}"


def download_name(client_name: str, mime: str, extension: str, max_bytes: int = MAX_NAME_BYTES) -> str:
    """The name a stored file is downloaded as: ``client_name`` sanitised (`sanitize_filename`) with the extension
    of the detected type ``mime``. The client's own extension is kept when it is one of ``mime``'s
    (``photo.jpeg`` stays), otherwise it is replaced by ``extension`` (a JPEG sent as ``a.html`` is ``a.jpg``).
    """
    name = sanitize_filename(client_name, max_bytes - len(extension) - 1)
    stem, dot, current = name.rpartition(".")
    if dot and stem and f".{current.lower()}" in [*mimetypes.guess_all_extensions(mime), f".{extension}"]:
        return name
    return f"{stem if dot and stem else name}.{extension}"
