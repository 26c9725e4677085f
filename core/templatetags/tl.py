"""Template helpers for the page shell."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

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
def textarea_rows(text, width: int = 90) -> int:
    """Rows enough to show `text` whole (wrapped at about `width` characters), 3 to 14."""
    text = str(text or "")
    wrapped = sum(1 + len(line) // width for line in text.splitlines() or [""])
    return max(3, min(14, wrapped))


NOT_FILTERS = {"page", "per_page", "sort", "_export"}


@register.simple_tag(takes_context=True)
def active_filters(context, *ignored: str) -> int:
    """How many filters the list's query string sets (paging, sorting and `ignored` are not filters)."""
    request = context.get("request")
    if request is None:
        return 0
    skip = NOT_FILTERS.union(ignored)
    return sum(1 for key, values in request.GET.lists() if key not in skip and any(v.strip() for v in values))


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
        changes.append(
            {
                "field": field.verbose_name,
                "old": history_value(field, change.old),
                "new": history_value(field, change.new),
            }
        )
    return changes


def history_value(field, value) -> str:
    """A changed value as people read it: a related object by its name (not its id), a choice by
    its label, a time in UTC as the rest of the page writes it, a decimal without trailing zeros."""
    if value in (None, ""):
        return ""
    if field.many_to_one or field.one_to_one:
        related = field.related_model._default_manager.filter(pk=value).first()
        return str(related) if related is not None else f"#{value} (deleted)"
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, dict):  # a JSON object (an invoice's issuer details): its filled-in entries
        return "; ".join(f"{key}: {item}" for key, item in value.items() if item not in (None, "", [], {})) or "—"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "—"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, Decimal):
        return figure(value)
    return str(value)


DECIMAL_TEXT = re.compile(r"^-?\d+\.\d+$")


@register.filter
def figure(value):
    """A decimal (or its text, as JSON keeps them) without the trailing zeros of its stored places
    but with at least two: 850.000000000000 → 850.00, 0.123400 → 0.1234. Anything else as it is."""
    if isinstance(value, str) and DECIMAL_TEXT.match(value):
        value = Decimal(value)
    if not isinstance(value, Decimal) or not value.is_finite():
        return value
    whole, _, places = format(value.normalize(), "f").partition(".")
    return f"{whole}.{places.ljust(2, '0')}"


@register.filter
def label(key) -> str:
    """A result key as a label: cost_lines → Cost lines."""
    return str(key).replace("_", " ").capitalize()
