"""ISO 4217 currencies and their minor units (from the `iso4217` package, which follows the
official list maintained by SIX). Only currencies with a defined minor unit can carry money."""

from __future__ import annotations

from functools import cache

import iso4217
from django.core.exceptions import ValidationError


@cache
def _table() -> dict[str, tuple[int, str]]:
    return {c.code: (c.exponent, c.currency_name) for c in iso4217.Currency if c.exponent is not None}


def is_currency(code: str) -> bool:
    return code in _table()


def minor_units(code: str) -> int:
    """Digits after the decimal point on invoices: 2 for USD, EUR and CNY, 0 for JPY, 3 for BHD."""
    try:
        return _table()[code][0]
    except KeyError:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code") from None


def currency_name(code: str) -> str:
    return _table()[code][1]


def currency_choices() -> list[tuple[str, str]]:
    return sorted((code, f"{code} — {name}") for code, (_, name) in _table().items())


CURRENCY_CHOICES = currency_choices()  # one list, so the OpenAPI schema has one CurrencyEnum


def validate_currency(value: str) -> None:
    if not is_currency(value):
        raise ValidationError(
            "%(value)s is not an ISO 4217 currency code (for example USD, EUR, CNY).",
            code="invalid_currency",
            params={"value": value},
        )
