"""Model fields for money, prices, token counts and currencies, so every app stores them alike."""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models

from .currencies import validate_currency
from .money import COST_PLACES, PRICE_PLACES


class CurrencyField(models.CharField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 3)
        kwargs.setdefault("validators", [validate_currency])
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("max_length", None)
        kwargs.pop("validators", None)
        return name, path, args, kwargs


class PriceField(models.DecimalField):
    """A price per 1 000 000 tokens: up to 6 decimals, never negative."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", 18)
        kwargs.setdefault("decimal_places", PRICE_PLACES)
        kwargs.setdefault("validators", [MinValueValidator(0)])
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        for key in ("max_digits", "decimal_places", "validators"):
            kwargs.pop(key, None)
        return name, path, args, kwargs


class CostField(models.DecimalField):
    """A computed cost, exact at 12 decimal places (token count × 6-place price ÷ 10⁶)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", 34)
        kwargs.setdefault("decimal_places", COST_PLACES)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("max_digits", None)
        kwargs.pop("decimal_places", None)
        return name, path, args, kwargs


class AmountField(models.DecimalField):
    """An amount people enter (a budget, a commitment, an invoice line): 6 decimal places of room;
    services check it against the currency's minor unit where it matters."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", 26)
        kwargs.setdefault("decimal_places", 6)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("max_digits", None)
        kwargs.pop("decimal_places", None)
        return name, path, args, kwargs
