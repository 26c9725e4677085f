"""Months as billing counts them (a month is named by its first day): parsing `YYYY-MM`, and the
few date steps every part of billing needs."""

from __future__ import annotations

from datetime import date, timedelta

from django.utils import timezone

FIRST_YEAR, LAST_YEAR = 2000, 2100  # as budgets' fiscal years


class PeriodError(ValueError):
    pass


def parse_period(value) -> date:
    """`YYYY-MM` (or `YYYY-MM-DD` of its first day) → the month's first day; else PeriodError."""
    if isinstance(value, date):
        return value.replace(day=1)
    text = str(value or "").strip()
    try:
        if len(text) == 7:
            year, month = (int(part) for part in text.split("-"))
            day = date(year, month, 1)
        else:
            day = date.fromisoformat(text)
    except (TypeError, ValueError):
        raise PeriodError(f"“{text}” is not a month: give it as YYYY-MM (e.g. 2026-01).") from None
    if day.day != 1:
        raise PeriodError(f"“{text}” is not a month: give it as YYYY-MM (e.g. {day:%Y-%m}).")
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise PeriodError(f"“{text}” is out of range: give a month from {FIRST_YEAR} to {LAST_YEAR}.")
    return day


def next_month(month: date) -> date:
    """The first day of the month after `month`'s."""
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def month_last_day(month: date) -> date:
    return next_month(month) - timedelta(days=1)


def previous_month(today: date | None = None) -> date:
    today = today or timezone.now().date()
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)
