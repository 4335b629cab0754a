"""URLs of the bookings app."""

urlpatterns = []
