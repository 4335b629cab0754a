"""URLs of uploads: the upload endpoints and the two download prefixes of the original app."""

from django.urls import path, re_path

from lebrq.upload_kinds import KIND_ALTERNATION

from .views import ServeUploadView, UploadView

urlpatterns = [
    re_path(rf"^api/uploads/(?P<kind>{KIND_ALTERNATION})/?$", UploadView.as_view(), name="upload"),
    path("api/uploads/<path:name>", ServeUploadView.as_view(), name="upload-serve"),
    path("static/<path:name>", ServeUploadView.as_view(), name="static-serve"),
]
