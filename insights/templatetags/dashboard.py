"""Figures as people read them on the dashboard, and links from a figure to its detail."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import lru_cache
from urllib.parse import quote_plus, urlencode

from django import template
from django.urls import get_script_prefix, reverse

from usage.views.explorer import readable_cost, readable_tokens

register = template.Library()

MINUS = "\u2212"


@register.filter
def money(value: Decimal, currency: str) -> str:
    """1234.5678 → "1,234.57" (the currency's minor unit); the exact figure goes in a title."""
    return readable_cost(value or Decimal(0), currency)


@register.filter
def signed_money(value: Decimal, currency: str) -> str:
    """A change: "+1,234.57", "−12.00", "0.00"."""
    value = value or Decimal(0)
    text = readable_cost(abs(value), currency)
    if text.strip("0.,") == "":
        return text
    return f"+{text}" if value > 0 else f"{MINUS}{text}"


@register.filter
def tokens(value: int) -> str:
    """1234567 → "1.23 M"."""
    return readable_tokens(int(value or 0))


@register.filter
def signed_percent(value: Decimal | None) -> str:
    """+12.5 %, −3.0 %; "new" when there was nothing to compare with."""
    if value is None:
        return "new"
    if value > 0:
        return f"+{value} %"
    if value < 0:
        return f"{MINUS}{abs(value)} %"
    return f"{value} %"


@register.filter
def change_colour(value: Decimal | None) -> str:
    """Spend going up reads as a warning, going down as good news."""
    if value is None or value == 0:
        return "secondary"
    return "red" if value > 0 else "green"


_explorer_paths: dict[str, str] = {}


def explorer_path() -> str:
    """/usage/, looked up once per script prefix: the page links a hundred figures to it."""
    prefix = get_script_prefix()
    if prefix not in _explorer_paths:
        _explorer_paths[prefix] = reverse("usage:explorer")
    return _explorer_paths[prefix]


@lru_cache(maxsize=4096)
def _department_path(prefix: str, code: str) -> str:
    return reverse("procurement:department_detail", kwargs={"code": code})


@register.simple_tag
def department_url(code: str) -> str:
    """A department's page ({% url 'procurement:department_detail' code=… %}, looked up once per
    code: the page links every department twice)."""
    return _department_path(get_script_prefix(), code)


@lru_cache(maxsize=1024)
def _explorer_query(prefix: str, start: date, end: date, group_by: str, metric: str) -> str:
    """The explorer's address with the window, grouping and metric: the same for every figure
    of a panel, so built once (a page links a hundred figures)."""
    params: list[tuple[str, str]] = [("start", start.isoformat()), ("end", end.isoformat())]
    params += [("group_by", g) for g in group_by.split(",") if g]
    params.append(("metric", metric))
    return f"{explorer_path()}?{urlencode(params)}"


@register.simple_tag
def usage_url(window, group_by="", metric="cost", vendor="", department="", model="") -> str:
    """The usage explorer for the days of `window` (a selectors.Window), filtered and grouped."""
    url = _explorer_query(get_script_prefix(), window.start, window.end_exclusive, group_by, metric)
    for name, value in (("vendor", vendor), ("department", department), ("model", model)):
        if value:
            url += f"&{name}={quote_plus(str(value))}"
    return url
