"""URLs of the accounts API (mounted under /api/)."""

from django.urls import path

from . import views

urlpatterns = [
    path("users/register", views.RegisterView.as_view(), name="register"),
    path("auth/login", views.LoginView.as_view(), name="login"),
    path("auth/refresh", views.RefreshView.as_view(), name="token-refresh"),
    path("auth/logout", views.LogoutView.as_view(), name="logout"),
    path("auth/me", views.MeView.as_view(), name="me"),
    path("auth/change-password", views.ChangePasswordView.as_view(), name="change-password"),
    path("auth/password-reset", views.PasswordResetView.as_view(), name="password-reset"),
    path("auth/password-reset/confirm", views.PasswordResetConfirmView.as_view(), name="password-reset-confirm"),
]
