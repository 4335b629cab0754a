"""Upload handler: Django's disk-backed handler plus a SHA-256 computed while the bytes stream past, a bounded
temporary file name, and refusal of an upload whose multipart body ended early."""

import errno
import hashlib
import os
import re

from django.core.files.uploadedfile import TemporaryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, TemporaryFileUploadHandler
from django.http.multipartparser import MultiPartParserError

from lebrq.exceptions import InsufficientStorage

#: An extension kept in the temporary file's name: a dot and 1-16 ASCII letters or digits. Any other (a
#: 300-byte one would make the name longer than the filesystem's 255-byte limit) is left out of it.
TEMP_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,16}")


class IncompleteUpload(MultiPartParserError):
    """The request body ended inside a file part, before the boundary that closes it (the API answers 400)."""


class ChecksumTemporaryFileUploadHandler(TemporaryFileUploadHandler):
    """`TemporaryFileUploadHandler` that also hashes each chunk as it is written to the temporary file.

    - The finished `TemporaryUploadedFile` gains ``sha256`` (hex digest, 64 characters), so no second pass over
      the file is needed. Chunks are Django's (64 KiB by default); nothing is held beyond the current chunk.
    - The temporary file is named like Django's (``tmp<8 random>.upload[.ext]`` in FILE_UPLOAD_TEMP_DIR:
      `lebrq.tempfiles.MULTIPART_UPLOAD`), but the client's extension is kept only when it matches
      `TEMP_EXTENSION`; the file's ``name`` is still the client's (as sanitised by Django's parser).
    - A file part that the body ends in (no closing boundary: a truncated request with a matching
      Content-Length) is removed and `IncompleteUpload` raised. Django's parser would silently drop it.
    - A write failing with ENOSPC removes the partial file and raises `lebrq.exceptions.InsufficientStorage`;
      any other write error removes it too and propagates.
    """

    def new_file(self, field_name, file_name, content_type, content_length, charset=None, content_type_extra=None):
        FileUploadHandler.new_file(
            self, field_name, file_name, content_type, content_length, charset, content_type_extra
        )
        extension = os.path.splitext(file_name)[1]
        self.file = TemporaryUploadedFile(
            "upload" + (extension if TEMP_EXTENSION.fullmatch(extension) else ""),
            content_type,
            0,
            charset,
            content_type_extra,
        )
        self.file.name = file_name
        self._sha256 = hashlib.sha256()

    def receive_data_chunk(self, raw_data, start):
        self._sha256.update(raw_data)
        try:
            self.file.write(raw_data)
        except OSError as exc:
            self._discard()
            if exc.errno == errno.ENOSPC:
                raise InsufficientStorage() from exc
            raise

    def file_complete(self, file_size):
        uploaded = super().file_complete(file_size)
        uploaded.sha256 = self._sha256.hexdigest()
        return uploaded

    def upload_interrupted(self):
        """Called by Django's parser when the body ended inside a file part: remove it and refuse the request."""
        self._discard()
        raise IncompleteUpload(
            "The request body ended before the multipart boundary that closes the file; nothing was stored."
        )

    def _discard(self) -> None:
        super().upload_interrupted()  # closes and removes the temporary file, if there is one
