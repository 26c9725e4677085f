"""Template filters of the procurement pages."""

from __future__ import annotations

from decimal import Decimal

from django import template

from ..selectors import tidy_amount

register = template.Library()


@register.filter
def plain_decimal(value) -> str:
    """A price or percentage without trailing zeros and never in exponent form:
    0.270000 → 0.27, 10.000000 → 10 (Decimal.normalize alone would give 1E+1)."""
    if value is None or value == "":
        return ""
    if not isinstance(value, Decimal):
        value = Decimal(str(value))
    return format(value.normalize(), "f")


@register.filter
def indent_steps(depth) -> range:
    """range(depth), for drawing a tree level by level without inline styles."""
    return range(int(depth or 0))


@register.filter
def amount_in(value, currency: str) -> str:
    """An amount at its currency's minor unit: 1200.000000 → 1200.00 for USD, 1200 for JPY."""
    if value is None or value == "":
        return ""
    return str(tidy_amount(value, currency))
