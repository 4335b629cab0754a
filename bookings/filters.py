"""Query filters and pagination of ``GET /api/bookings``."""

import math
from datetime import datetime, time, timedelta

import django_filters
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response

from .models import Booking


def _local_midnight(day) -> datetime:
    """Midnight starting ``day`` in settings.TIME_ZONE; 400 for a date outside the years 2000–9998."""
    if not 2000 <= day.year <= 9998:
        raise ValidationError({"date": ["Dates must be between the years 2000 and 9998."]})
    return timezone.make_aware(datetime.combine(day, time.min))


class BookingFilter(django_filters.FilterSet):
    """``status``; ``from_date`` / ``to_date`` (YYYY-MM-DD, inclusive, in settings.TIME_ZONE) on the event start.

    Dates become datetime bounds here rather than ``__date`` lookups, which on MySQL need its time-zone tables.
    """

    status = django_filters.ChoiceFilter(choices=Booking.Status.choices)
    from_date = django_filters.DateFilter(method="filter_from_date")
    to_date = django_filters.DateFilter(method="filter_to_date")

    class Meta:
        model = Booking
        fields = ["status"]

    def filter_from_date(self, queryset, name, value):
        return queryset.filter(start_datetime__gte=_local_midnight(value))

    def filter_to_date(self, queryset, name, value):
        _local_midnight(value)  # the year check, before the day after can overflow
        return queryset.filter(start_datetime__lt=_local_midnight(value + timedelta(days=1)))


class PagePagination(BasePagination):
    """``?page=1&page_size=20`` (page_size 1–100) → ``{items, pagination: {page, page_size, total, total_pages,
    has_next, has_prev}}``, the original app's shape. A page past the end is empty, not an error."""

    default_page_size = 20
    max_page_size = 100

    def _positive_int(self, request, name: str, default: int, maximum: int | None = None) -> int:
        raw = request.query_params.get(name, default)
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise ValidationError({name: ["Must be a whole number."]}) from None
        if value < 1 or (maximum is not None and value > maximum):
            limit = f" and at most {maximum}" if maximum else ""
            raise ValidationError({name: [f"Must be at least 1{limit}."]})
        return value

    def paginate_queryset(self, queryset, request, view=None):
        self.page = self._positive_int(request, "page", 1, maximum=1_000_000)
        self.page_size = self._positive_int(request, "page_size", self.default_page_size, self.max_page_size)
        self.queryset, self.offset = queryset, (self.page - 1) * self.page_size
        return queryset[self.offset : self.offset + self.page_size]  # not evaluated: the view picks the columns

    def _total(self, rows_on_page: int) -> int:
        """The number of matching rows: counted (one more query) unless the page shows it: a short page that is
        not empty, or an empty first page, ends the list."""
        if 0 < rows_on_page < self.page_size or (rows_on_page == 0 and self.offset == 0):
            return self.offset + rows_on_page
        return self.queryset.count()

    def get_paginated_response(self, data):
        self.total = self._total(len(data))
        total_pages = math.ceil(self.total / self.page_size) if self.total else 0
        return Response(
            {
                "items": data,
                "pagination": {
                    "page": self.page,
                    "page_size": self.page_size,
                    "total": self.total,
                    "total_pages": total_pages,
                    "has_next": self.page < total_pages,
                    "has_prev": self.page > 1,
                },
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["items", "pagination"],
            "properties": {
                "items": schema,
                "pagination": {
                    "type": "object",
                    "properties": {
                        "page": {"type": "integer"},
                        "page_size": {"type": "integer"},
                        "total": {"type": "integer"},
                        "total_pages": {"type": "integer"},
                        "has_next": {"type": "boolean"},
                        "has_prev": {"type": "boolean"},
                    },
                },
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": "page", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
            {
                "name": "page_size",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
        ]
