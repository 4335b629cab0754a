"""Upload handler: Django's disk-backed handler plus a SHA-256 computed while the bytes stream past."""

import hashlib

from django.core.files.uploadhandler import TemporaryFileUploadHandler


class ChecksumTemporaryFileUploadHandler(TemporaryFileUploadHandler):
    """`TemporaryFileUploadHandler` that also hashes each chunk as it is written to the temporary file.

    The finished `TemporaryUploadedFile` gains ``sha256`` (hex digest, 64 characters), so no second pass over
    the file is needed. Chunks are Django's (64 KiB by default); nothing is held beyond the current chunk.
    """

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self._sha256 = hashlib.sha256()

    def receive_data_chunk(self, raw_data, start):
        self._sha256.update(raw_data)
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size):
        uploaded = super().file_complete(file_size)
        uploaded.sha256 = self._sha256.hexdigest()
        return uploaded
