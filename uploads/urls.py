"""URLs of uploads: the upload endpoints and the two download prefixes of the original app."""

from django.urls import path, re_path

from lebrq.upload_kinds import KIND_ALTERNATION

from .views import OwnUploadListView, OwnUploadView, ServeUploadView, UploadView

urlpatterns = [
    re_path(rf"^api/uploads/(?P<kind>{KIND_ALTERNATION})/?$", UploadView.as_view(), name="upload"),
    re_path(r"^api/uploads/?$", OwnUploadListView.as_view(), name="upload-list"),
    path("api/uploads/<int:pk>", OwnUploadView.as_view(), name="upload-detail"),
    path("api/uploads/<path:name>", ServeUploadView.as_view(), name="upload-serve"),
    path("static/<path:name>", ServeUploadView.as_view(), name="static-serve"),
]
