"""URL map. API paths keep the original app's, so its web and mobile clients keep working."""

from django.contrib import admin
from django.urls import include, path
from django.views import View
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView


class SwaggerView(SpectacularSwaggerView):
    """The docs page; ``OPTIONS`` answers 200 with ``Allow`` and no body, as Django's plain views do (DRF's would
    render its metadata through the page's HTML template, which has none: a 500)."""

    options = View.options


urlpatterns = [
    path("", include("accounts.admin_urls")),  # the admin's throttled login and its password reset, first
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SwaggerView.as_view(url_name="schema"), name="docs"),
    path("", include("health.urls")),
    path("", include("uploads.urls")),
    path("api/", include("accounts.urls")),
    path("api/", include("bookings.urls")),
]

handler400 = "lebrq.errors.handler400"
handler403 = "lebrq.errors.handler403"
handler404 = "lebrq.errors.handler404"
handler500 = "lebrq.errors.handler500"
