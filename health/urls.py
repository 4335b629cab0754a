"""URLs of the health endpoints."""

from django.urls import path

from . import views

urlpatterns = [
    path("health", views.liveness, name="health"),
    path("api/health", views.liveness, name="api-health"),
    path("api/health/detailed", views.detailed, name="health-detailed"),
    path("api/health/memory", views.memory, name="health-memory"),
    path("api/health/pool", views.pool, name="health-pool"),
]
