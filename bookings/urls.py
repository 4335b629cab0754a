"""URLs of the bookings API (mounted under /api/); a trailing slash is optional."""

from rest_framework.routers import SimpleRouter

from .views import BookingViewSet, ItemViewSet, VenueViewSet

router = SimpleRouter()
router.trailing_slash = "/?"  # accept both /api/bookings and /api/bookings/ (the constructor takes only a bool)
router.register("venues", VenueViewSet, basename="venue")
router.register("items", ItemViewSet, basename="item")
router.register("bookings", BookingViewSet, basename="booking")

urlpatterns = [
    *router.urls,
]
