"""Reads of alerts: the unread count of a user's inbox (the sidebar badge)."""

from __future__ import annotations

from core.policy import can
from core.scoping import scope_queryset

from ..models import InboxItem


def inbox_items(user):
    """The user's inbox items they may still see (a manager moved off a department no longer sees
    its alerts)."""
    items = InboxItem.objects.filter(user=user)
    return scope_queryset(items, user, resource="alert", department_field="alert__department_id")


def inbox_unread_count(user, *, fresh: bool = False) -> int:
    """The sidebar badge. Kept on the user object for the rest of the request: a page's context
    processors run again for every template a table renders. `fresh` counts again (after a change)."""
    if not can(user, "alert", "view"):
        return 0
    cached = None if fresh else getattr(user, "_tl_inbox_unread", None)
    if cached is None:
        cached = inbox_items(user).filter(read_at__isnull=True).count()
        user._tl_inbox_unread = cached
    return cached
