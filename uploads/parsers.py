"""The upload endpoints' multipart parser: DRF's, on a Django parser that keeps files with unusable names."""

from django.http import multipartparser
from rest_framework.exceptions import ParseError
from rest_framework.parsers import DataAndFiles, MultiPartParser, get_encoding

from .handlers import IncompleteUpload

#: Name given to a file part whose filename is nothing but separators and dots ("..", "a/..", "/").
FALLBACK_FILENAME = "file"


class _KeepUnnamedFilesParser(multipartparser.MultiPartParser):
    """Django's parser skips a file part whose sanitised name is empty, "." or ".." — and then reads its bytes
    as the next part's headers (a confusing 400). Such a part is kept under `FALLBACK_FILENAME` instead; an
    empty filename (a form sent with no file chosen) is still skipped, as Django does."""

    def sanitize_file_name(self, file_name):
        return super().sanitize_file_name(file_name) or FALLBACK_FILENAME


class UploadMultiPartParser(MultiPartParser):
    """DRF's `MultiPartParser` with two differences: a file part named ".." or the like is kept (see
    `_KeepUnnamedFilesParser`), and a body that ends inside a file part is a 400 with code
    ``incomplete_upload`` (see `uploads.handlers.IncompleteUpload`). Other malformed bodies are DRF's 400
    ``parse_error``; too many files or fields is Django's `SuspiciousOperation`, a 400 (`lebrq.errors`)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        request = parser_context["request"]
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        try:
            parser = _KeepUnnamedFilesParser(meta, stream, request.upload_handlers, get_encoding(parser_context))
            data, files = parser.parse()
        except IncompleteUpload as exc:
            raise ParseError(str(exc), code="incomplete_upload") from exc
        except multipartparser.MultiPartParserError as exc:
            raise ParseError(f"Multipart form parse error - {exc}") from exc
        return DataAndFiles(data, files)
