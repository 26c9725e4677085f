"""Figures on the status panels: short to read, exact in the title (hover)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django import template

from core.currencies import is_currency, minor_units

register = template.Library()

TOKEN_UNITS = ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K"))


@register.filter
def short_tokens(count) -> str:
    """1234567 → "1.23 M"; small counts keep their digits."""
    if count is None:
        return "—"
    count = Decimal(count)
    for size, unit in TOKEN_UNITS:
        if abs(count) >= size:
            text = format((count / size).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), "f")
            return f"{text.rstrip('0').rstrip('.')} {unit}"
    return f"{count.quantize(Decimal(1), rounding=ROUND_HALF_UP):,f}"


@register.filter
def money(value, currency: str) -> str:
    """A money figure at its currency's minor unit with thousands separators: "1,234.57"."""
    if value is None:
        return "—"
    digits = minor_units(currency) if is_currency(currency or "") else 2
    return f"{Decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP):,f}"


@register.filter
def figure(value, unit: str) -> str:
    """In a commitment's unit: "1.23 B tokens", or "USD 1,234.57"."""
    if value is None:
        return "—"
    if unit == "tokens":
        return f"{short_tokens(value)} tokens"
    return f"{unit} {money(value, unit)}"


@register.filter
def exact(value) -> str:
    return "" if value is None else format(value, "f")


@register.filter
def plain(value) -> str:
    """50.00 → "50", 12.50 → "12.5" (never "5E+1")."""
    return "" if value is None else format(Decimal(value).normalize(), "f")
