"""URLs of the uploads app."""

urlpatterns = []
