"""LeBRQ venue-booking backend: Django project package."""
