"""The profile (mobile number) inline on the admin's user page."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from .models import Profile


class ProfileInline(admin.StackedInline):
    model = Profile
    can_delete = False
    fields = ["mobile"]


class LebrqUserAdmin(UserAdmin):
    inlines = [ProfileInline]


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), LebrqUserAdmin)
