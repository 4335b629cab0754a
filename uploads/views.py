"""Upload (``POST /api/uploads/<kind>``) and download (``GET``/``HEAD`` ``/static/<name>``, ``/api/uploads/<name>``)."""

import os

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import HttpResponseRedirect
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from bookings.filters import PagePagination
from lebrq import objectstore
from lebrq.http.conditional import Representation
from lebrq.http.deferred import DeferredResponse, can_defer
from lebrq.http.executor import request_threads
from lebrq.http.negotiation import IgnoreClientContentNegotiation
from lebrq.http.objects import stored_file_response
from lebrq.http.streaming import settled_mtime
from lebrq.schema import error_codes

from .checking import check_in_executor
from .models import Upload
from .parsers import UploadMultiPartParser
from .schema import UploadFileSerializer, UploadSchema
from .services import admit_upload, delete_upload, earlier_upload, idempotency_key, save_upload, store_upload

#: Shown inline (a browser renders them in place); every other stored file downloads as an attachment.
INLINE_TYPE_PREFIXES = ("image/", "video/")
IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="Optional, 1-64 visible ASCII characters (a UUID): a POST repeated with the same key by the same "
    "account answers the upload the first one created (201, same body) instead of storing a second one; 422 "
    "`idempotency_key_reused` when that upload is of another kind. Send a fresh key per upload and the same key "
    "when retrying after a connection error, 502 or 504.",
)
#: Public media never change behind their URL (a new upload gets a new generated name): cache for a year
#: (RFC 9111 §5.2.2.1, RFC 8246 immutable).
PUBLIC_CACHE_CONTROL = "public, max-age=31536000, immutable"


class UploadSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    path = serializers.CharField(source="name")
    name = serializers.CharField(source="original_name")

    class Meta:
        model = Upload
        fields = ["id", "url", "path", "name", "size", "content_type", "etag", "kind", "is_public"]

    def get_url(self, upload) -> str:
        return settings.MEDIA_URL + upload.name


class UploadView(APIView):
    """``POST /api/uploads/<kind>``, one route per kind (`uploads.urls`): multipart field ``file`` → 201 with the
    stored upload. 400 no file, several files, or a body that ends before its closing boundary; 413 too large;
    415 wrong type; 507 disk full; 503 ``upload_checks_busy`` when no upload-check thread came free in time. What
    the document says of each kind is `uploads.schema.UploadSchema`'s.

    Size and type are decided in the request thread (`services.admit_upload`); the content check (a full decode,
    ExifTool: up to seconds of CPU) then runs on the upload-check executor (`uploads.checking`) with the request
    thread given back (a `DeferredResponse`), and the upload is saved in a request thread again. Where the request
    cannot be deferred (the test client) all of it runs here (`services.store_upload`).

    With an ``Idempotency-Key`` header (draft-ietf-httpapi-idempotency-key-header) that the caller already used,
    the upload it created is answered (201, same body) before the body is parsed, and nothing new is stored; of two
    sent at once, the unique (owner, key) constraint keeps one and the other answers it (400 for a malformed key,
    422 for a key already used for another kind).
    """

    parser_classes = [UploadMultiPartParser]
    schema = UploadSchema()
    #: The upload kind of this route (`lebrq.upload_kinds.UPLOAD_KINDS`), given by `uploads.urls`.
    kind: str = ""

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request={"multipart/form-data": UploadFileSerializer},
        responses={201: UploadSerializer},
    )
    def post(self, request):
        kind = self.kind
        key = idempotency_key(request.headers.get("Idempotency-Key"))
        earlier = earlier_upload(request.user, key, kind) if key is not None else None
        if earlier is not None:
            return Response(UploadSerializer(earlier).data, status=status.HTTP_201_CREATED)
        parts = list(request.FILES.values())
        uploaded = request.FILES.get("file")
        if uploaded is None or not can_defer(request):
            try:
                if uploaded is None:
                    raise ValidationError({"file": ["No file was submitted in the multipart field 'file'."]})
                upload = store_upload(uploaded, kind=kind, owner=request.user, key=key)
            finally:
                close_parts(parts)  # removes the temporary file now (if it was not moved), before the response
            return Response(UploadSerializer(upload).data, status=status.HTTP_201_CREATED)
        try:
            detected = admit_upload(uploaded, kind=kind)
        except BaseException:
            close_parts(parts)
            raise
        owner = request.user

        async def check_then_store():
            try:
                await check_in_executor(uploaded, detected.mime)
                data = await request_threads().run(
                    self.saved, uploaded, detected, kind, owner, key, outlive_cancel=True
                )
                response = Response(data, status=status.HTTP_201_CREATED)
            except Exception as exc:  # as APIView.dispatch does: the API's error body, or Django's 500
                response = self.handle_exception(exc)
            finally:
                close_parts(parts)
            return self.finalize_response(request, response).render()

        return DeferredResponse(check_then_store)

    @staticmethod
    def saved(uploaded, detected, kind: str, owner, key: str | None) -> dict:
        """In a request thread: `services.save_upload`, then the upload as the response represents it."""
        return UploadSerializer(save_upload(uploaded, detected, kind=kind, owner=owner, key=key)).data


def close_parts(parts) -> None:
    """Close an upload request's files: each temporary file not moved into MEDIA_ROOT is removed."""
    for part in parts:
        part.close()


#: The path parameter of ``/static/{name}``: what ``<path:name>`` takes (any characters but a line feed).
STORED_NAME = OpenApiParameter(
    "name",
    {"type": "string", "pattern": r"^[^\n]+$"},
    OpenApiParameter.PATH,
    description="The stored file's `path`, as its upload answered it (`images/3f9c….jpg`).",
)


class ServeUploadView(APIView):
    """A stored file, with byte ranges (`Range`, `If-Range`) and validators (`ETag`, `If-None-Match` → 304).

    A public upload is served to anyone; a private one only to its owner and staff: anyone else gets 404, so its
    existence is not revealed.
    """

    # Served from disk by `lebrq.http.streaming` (or redirected to the object store's URL).

    permission_classes = [AllowAny]
    content_negotiation_class = IgnoreClientContentNegotiation  # the file whatever Accept says, never 406

    @extend_schema(
        parameters=[STORED_NAME],
        responses={
            (200, "*/*"): OpenApiResponse(OpenApiTypes.BINARY, description="The file."),
            (206, "*/*"): OpenApiResponse(OpenApiTypes.BINARY, description="One range, or multipart/byteranges."),
            304: OpenApiResponse(description="Not modified since the validator sent (If-None-Match)."),
        },
        extensions=error_codes("precondition_failed", "range_not_satisfiable"),
    )
    def get(self, request, name: str):
        upload = Upload.objects.filter(name=name).first()
        user = request.user
        visible = upload is not None and (
            upload.is_public or (user is not None and (user.is_staff or upload.owner_id == user.id))
        )
        if not visible:
            raise NotFound()
        path = objectstore.local_path(default_storage, upload.name)
        if path is None and settings.STORAGE_DOWNLOAD == "presigned":
            # Opt-in: the client, now authorised, is sent to a presigned URL of the object, and the store serves it
            # (its own ETag and headers, no multipart ranges: deploy/README.md, "Shared storage").
            return HttpResponseRedirect(
                default_storage.url(upload.name), headers={"Cache-Control": "private, no-store"}
            )
        if path is None:
            # On the object store: the row holds size and validators, so no request is made before the body's.
            modified = upload.created_at.timestamp()
        else:
            try:
                stat_result = os.stat(path)
            except FileNotFoundError:
                raise NotFound() from None
            modified = stat_result.st_mtime
        return stored_file_response(
            request,
            storage=default_storage,
            name=upload.name,
            representation=Representation(
                size=upload.size if path is None else stat_result.st_size,
                etag=upload.etag,
                last_modified=settled_mtime(modified),
            ),
            content_type=upload.content_type,
            filename=upload.original_name or None,
            as_attachment=not upload.content_type.startswith(INLINE_TYPE_PREFIXES),
            cache_control=PUBLIC_CACHE_CONTROL if upload.is_public else "private, no-cache",
        )


# --- The caller's own uploads: list and delete ---
class OwnUploadListView(ListAPIView):
    """The caller's uploads, newest first, paginated (``page``, ``page_size``)."""

    serializer_class = UploadSerializer
    permission_classes = [IsAuthenticated]
    pagination_class = PagePagination

    def get_queryset(self):
        return Upload.objects.filter(owner=self.request.user)


class OwnUploadView(APIView):
    """``GET``/``DELETE /api/uploads/{id}``: one of the caller's uploads (staff: anyone's). Another user's upload
    is 404, so its existence is not revealed. DELETE → 204: the row and the stored bytes are gone, and the file's
    URL answers 404."""

    permission_classes = [IsAuthenticated]

    def get_object(self, pk: int) -> Upload:
        uploads = Upload.objects.all() if self.request.user.is_staff else Upload.objects.filter(owner=self.request.user)
        upload = uploads.filter(pk=pk).first()
        if upload is None:
            raise NotFound()
        return upload

    @extend_schema(
        operation_id="api_uploads_own_retrieve",
        responses={200: UploadSerializer},
        description="One of the caller's uploads (staff: anyone's); another user's upload is 404.",
    )
    def get(self, request, pk: int):
        return Response(UploadSerializer(self.get_object(pk)).data)

    @extend_schema(
        operation_id="api_uploads_own_destroy",
        responses={204: None},
        description="Delete one of the caller's uploads (staff: anyone's): 204, the file is gone and its URL answers "
        "404. Another user's upload is 404.",
    )
    def delete(self, request, pk: int):
        delete_upload(self.get_object(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- end own uploads ---
