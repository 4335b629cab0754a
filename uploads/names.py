"""Filenames: sanitising the client's original name and generating storage names."""

import secrets
import unicodedata

from lebrq.upload_kinds import UPLOAD_KINDS

#: Longest original name kept, in UTF-8 bytes (common filesystem limit; the DB column holds 255 characters).
MAX_NAME_BYTES = 255

#: The storage directory of each upload kind: its plural ("images/...").
_KIND_DIRS = {kind: f"{kind}s" for kind in UPLOAD_KINDS}


def sanitize_filename(name: str, max_bytes: int = MAX_NAME_BYTES) -> str:
    """Return a display-safe version of a client-supplied filename, at most ``max_bytes`` UTF-8 bytes.

    Keeps only the last path component (``/`` and ``\\`` both separate), drops control and format characters
    (Unicode categories Cc, Cf, Cs: NUL, newlines, bidi overrides), normalises to NFC, strips leading and
    trailing dots and spaces, and truncates by bytes at a character boundary while keeping the extension when
    it is short. Returns ``"file"`` when nothing usable remains.
    """
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    name = name.strip(" .")
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
