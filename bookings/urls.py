"""URLs of the bookings API (mounted under /api/); a trailing slash is optional."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import BookingViewSet, ItemViewSet, SpaceAvailabilityView, VenueViewSet

router = SimpleRouter()
router.trailing_slash = "/?"  # accept both /api/bookings and /api/bookings/ (the constructor takes only a bool)
router.register("venues", VenueViewSet, basename="venue")
router.register("items", ItemViewSet, basename="item")
router.register("bookings", BookingViewSet, basename="booking")

urlpatterns = [
    path("spaces/<int:space_id>/availability", SpaceAvailabilityView.as_view(), name="space-availability"),
    *router.urls,
]
