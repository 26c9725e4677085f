"""One FilterSet per model, shared by the UI lists and the API (NetBox's rule)."""

from __future__ import annotations

import django_filters
from django.db.models import Q
from django.utils import timezone

from core.roles import Role

from .models import ApiToken, User


class UserFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    role = django_filters.MultipleChoiceFilter(choices=Role.choices)
    department = django_filters.CharFilter(field_name="managed_departments__code", label="Department code")

    class Meta:
        model = User
        fields = ["username", "email", "role", "is_active", "department"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(username__icontains=value)
            | Q(email__icontains=value)
            | Q(first_name__icontains=value)
            | Q(last_name__icontains=value)
        )


class ApiTokenFilterSet(django_filters.FilterSet):
    user = django_filters.CharFilter(field_name="user__username", label="Username")
    status = django_filters.ChoiceFilter(
        label="Status",
        choices=[("active", "Active"), ("revoked", "Revoked"), ("expired", "Expired")],
        method="filter_status",
    )
    source = django_filters.CharFilter(label="Source", method="filter_source")

    class Meta:
        model = ApiToken
        fields = ["user", "scope", "name", "key_id", "status", "source"]

    def filter_status(self, queryset, name, value):
        now = timezone.now()
        if value == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if value == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        return queryset.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now), revoked_at__isnull=True)

    def filter_source(self, queryset, name, value):
        return queryset.filter(source_slugs__contains=[value])
