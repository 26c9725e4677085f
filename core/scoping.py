"""Department scoping: a department manager sees only their departments and sub-departments."""

from __future__ import annotations

from django.db.models import QuerySet

from . import directory
from .policy import is_department_scoped


def visible_department_ids(user) -> frozenset[int]:
    """Cached on the user object for the length of a request."""
    cached = getattr(user, "_tl_visible_department_ids", None)
    if cached is None:
        cached = directory.departments().visible_department_ids(user)
        user._tl_visible_department_ids = cached
    return cached


def scope_queryset(queryset: QuerySet, user, *, resource: str, department_field: str) -> QuerySet:
    """Restrict `queryset` to the user's departments when the policy scopes this user and resource.

    `department_field` is the lookup path from the model to its department's id ("id" for the
    department model itself, "department_id" or "department__parent_id" elsewhere).
    """
    if not is_department_scoped(user, resource):
        return queryset
    return queryset.filter(**{f"{department_field}__in": visible_department_ids(user)})
