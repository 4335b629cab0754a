"""The names of the project's temporary files, in one place: what each producer creates and what
``manage.py cleanup_upload_temp`` may remove.

Every name is `tempfile`'s: a prefix, 8 random characters of its alphabet ``[a-z0-9_]`` and a suffix.

- `REQUEST_SPOOL` ``spool-*.body``: a request body past FILE_UPLOAD_MAX_MEMORY_SIZE, in FILE_UPLOAD_TEMP_DIR
  (`lebrq.http.asgi_handler`);
- `RESPONSE_SPOOL` ``answer-*.body``: a rendered response body past `lebrq.http.asgi_handler.SPOOL_RESPONSE_OVER`
  while it is sent, in FILE_UPLOAD_TEMP_DIR (`lebrq.http.asgi_handler`);
- `MULTIPART_UPLOAD` ``tmp*.upload[.ext]``: a multipart file part, in FILE_UPLOAD_TEMP_DIR (Django's
  `TemporaryUploadedFile`, made by `uploads.handlers`);
- `INVOICE_RENDER` ``.render-*.pdf``: an invoice PDF being rendered (`bookings.invoicing.pdf.render_html_to_file`),
  in INVOICE_CACHE_DIR/<reference>/ (or FILE_UPLOAD_TEMP_DIR for `bookings.invoicing.pdf.render_invoice_pdf`);
- `INVOICES_ZIP` ``invoices-*.zip``: the admin's ZIP export (`bookings.invoicing.export.write_invoices_zip`), in
  FILE_UPLOAD_TEMP_DIR;
- `SCRUB_DERIVED`: beside a multipart upload while ExifTool strips its metadata (`uploads.scrub`), a hard link
  named ``<upload>.scrub.<type's extension>`` and ExifTool's own ``<that name>_exiftool_tmp``.

A request removes its files when it ends, however it ends; the request and response spools are even unnamed
(O_TMPFILE) or unlinked at once. Only a worker killed outright leaves one behind: `CLEANUP_NAMES` matches the names
above, removed by ``cleanup_upload_temp`` from FILE_UPLOAD_TEMP_DIR; partial renders in the invoice cache are removed by
`bookings.invoicing.cache.prune_revisions`.
"""

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: tempfile's random part: 8 characters of ``[a-z0-9_]`` (`tempfile._RandomNameSequence`).
RANDOM_PART = r"[a-z0-9_]{8}"


@dataclass(frozen=True)
class TempName:
    """A kind of temporary file: ``prefix`` + 8 random characters + ``suffix``; with ``extension``, the client's
    file extension as `os.path.splitext` gives it (one dot, no other) may follow (Django's upload files)."""

    prefix: str
    suffix: str
    extension: bool = False

    @property
    def pattern(self) -> str:
        """A regular expression (str) that matches the whole of such a name."""
        tail = r"(?:\.[^./]*)?" if self.extension else ""
        return re.escape(self.prefix) + RANDOM_PART + re.escape(self.suffix) + tail

    def matches(self, name: str) -> bool:
        """Whether ``name`` (a file name, no directory) is one of these."""
        return re.fullmatch(self.pattern, name) is not None

    def create(self, directory: str | Path):
        """A new ``NamedTemporaryFile(delete=False)`` of this name in ``directory`` (created if missing), open for
        binary writing; the caller removes the file."""
        Path(directory).mkdir(parents=True, exist_ok=True)
        return tempfile.NamedTemporaryFile(delete=False, prefix=self.prefix, suffix=self.suffix, dir=directory)


REQUEST_SPOOL = TempName("spool-", ".body")
RESPONSE_SPOOL = TempName("answer-", ".body")
MULTIPART_UPLOAD = TempName("tmp", ".upload", extension=True)
INVOICE_RENDER = TempName(".render-", ".pdf")
INVOICES_ZIP = TempName("invoices-", ".zip")

#: ExifTool's suffix for the copy it writes before replacing a file (``-overwrite_original_in_place``).
EXIFTOOL_TMP_SUFFIX = "_exiftool_tmp"
#: What `uploads.scrub` adds to a file's name for the hard link it gives ExifTool: ``.scrub.<extension>``.
SCRUB_LINK_INFIX = ".scrub."
#: A multipart upload's name with `SCRUB_LINK_INFIX` and an extension, then possibly `EXIFTOOL_TMP_SUFFIX` (a
#: regular expression, str).
SCRUB_DERIVED = (
    MULTIPART_UPLOAD.pattern + re.escape(SCRUB_LINK_INFIX) + r"[a-z0-9]+" + f"(?:{re.escape(EXIFTOOL_TMP_SUFFIX)})?"
)

#: Every kind above; `CLEANUP_NAMES` matches their names (``cleanup_upload_temp`` removes old ones).
ALL = (REQUEST_SPOOL, RESPONSE_SPOOL, MULTIPART_UPLOAD, INVOICE_RENDER, INVOICES_ZIP)
CLEANUP_NAMES = re.compile("|".join([*(name.pattern for name in ALL), SCRUB_DERIVED]))
