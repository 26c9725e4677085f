"""Template helpers for the page shell."""

from __future__ import annotations

from django import template
from django.templatetags.static import static
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def icon(name: str, css: str = "") -> str:
    """An inline Tabler icon from the npm sprite, hidden from screen readers."""
    href = static("vendor/tabler-icons/tabler-sprite.svg")
    return format_html(
        '<svg class="icon {}" aria-hidden="true" focusable="false"><use href="{}#tabler-{}"></use></svg>',
        css,
        href,
        name,
    )


@register.filter
def status_colour(status: str) -> str:
    return {
        "queued": "secondary",
        "running": "blue",
        "succeeded": "green",
        "failed": "red",
        "active": "green",
        "revoked": "red",
        "expired": "orange",
    }.get(str(status), "secondary")


HISTORY_IGNORED = {"updated_at", "created_at"}


@register.filter
def history_changes(record) -> list[dict]:
    """What a history row changed compared with the row before it: [{field, old, new}]."""
    previous = getattr(record, "prev_record", None)
    if previous is None:
        return []
    delta = record.diff_against(previous)
    changes = []
    for change in delta.changes:
        if change.field in HISTORY_IGNORED:
            continue
        field = record.instance_type._meta.get_field(change.field)
        changes.append({"field": field.verbose_name, "old": change.old, "new": change.new})
    return changes
