"""URLs of uploads: one upload endpoint per kind, the caller's own uploads and the two download prefixes of the
original app.

Each route matches only what its view accepts, so anything else is a 404 whatever the method: an upload kind
that does not exist (``/api/uploads/audio``) matches no route, and ``/api/uploads/<name>`` serves only names
with a folder (every stored name has one: ``images/3f9c….jpg``), so it never takes a single segment.
"""

from django.urls import path, re_path, register_converter

from lebrq.upload_kinds import UPLOAD_KINDS

from .views import OwnUploadListView, OwnUploadView, ServeUploadView, UploadView


class StoredNameConverter:
    """A stored file's name under ``/api/uploads/``: a folder, then the rest (``images/3f9c….jpg``)."""

    regex = r"[^/]+/.+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(StoredNameConverter, "stored_name")

urlpatterns = [
    *(
        re_path(rf"^api/uploads/{kind}/?$", UploadView.as_view(kind=kind), name=f"upload-{kind}")
        for kind in UPLOAD_KINDS
    ),
    re_path(r"^api/uploads/?$", OwnUploadListView.as_view(), name="upload-list"),
    path("api/uploads/<int:pk>", OwnUploadView.as_view(), name="upload-detail"),
    path("api/uploads/<stored_name:name>", ServeUploadView.as_view(), name="upload-serve"),
    path("static/<path:name>", ServeUploadView.as_view(), name="static-serve"),
]
