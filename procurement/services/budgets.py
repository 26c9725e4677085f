"""Budgets: per department and fiscal year (optionally per vendor), in the reporting currency."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from core.currencies import is_currency, minor_units
from core.exceptions import Conflict
from core.money import places
from core.selectors import organization_settings

from ..models import Budget
from ..models.budgets import default_thresholds
from ._common import clean_or_raise, refuse_unknown_fields

BUDGET_FIELDS = (
    "department",
    "fiscal_year",
    "amount",
    "currency",
    "monthly_amounts",
    "vendor",
    "thresholds",
    "action",
    "notes",
)


def _places_message(currency: str, digits: int) -> str:
    if digits == 0:
        return f"{currency} amounts are whole numbers (no decimal places)."
    return f"{currency} amounts have at most {digits} decimal place{'s' if digits != 1 else ''}."


def _shown(value: Decimal, digits: int) -> Decimal:
    """12000.000000 as the API parsed it → 12000.00, as people wrote it."""
    return value.quantize(Decimal(1).scaleb(-digits)) if places(value) <= digits else value.normalize()


def _amount_errors(budget: Budget, digits: int) -> list[str]:
    if budget.amount is None:
        return []
    if budget.amount < 0:
        return ["The amount cannot be negative."]
    if places(budget.amount) > digits:
        return [_places_message(budget.currency, digits)]
    return []


def _monthly_errors(budget: Budget, digits: int, *, check_sum: bool) -> list[str]:
    months = budget.monthly_amounts
    if not months:
        return []
    if len(months) != 12:
        return [
            f"Give twelve monthly amounts (the first month of the fiscal year first), or none to phase "
            f"the budget evenly; {len(months)} were given."
        ]
    negative = [str(i) for i, value in enumerate(months, start=1) if value < 0]
    if negative:
        return [f"Monthly amounts cannot be negative (month {', '.join(negative)})."]
    too_precise = [str(i) for i, value in enumerate(months, start=1) if places(value) > digits]
    if too_precise:
        return [f"{_places_message(budget.currency, digits)} See month {', '.join(too_precise)}."]
    total = sum(months, Decimal(0))
    if check_sum and budget.amount is not None and total != budget.amount:
        return [
            f"The monthly amounts add up to {_shown(total, digits)}, not to the budget amount "
            f"{_shown(budget.amount, digits)}; "
            "they must match exactly."
        ]
    return []


def _threshold_errors(thresholds: list[Decimal]) -> list[str]:
    if not thresholds:
        return ["Give at least one threshold (e.g. 50, 80, 100); use the action 'ignore' to silence alerts."]
    if any(t <= 0 for t in thresholds):
        return ["Thresholds are percentages of the budget greater than 0."]
    if any(later <= earlier for earlier, later in pairwise(thresholds)):
        return ["List the thresholds in strictly ascending order without repeats (e.g. 50, 80, 100)."]
    return []


def _duplicate(budget: Budget) -> Budget | None:
    if not (budget.department_id and budget.fiscal_year):
        return None
    others = Budget.objects.filter(
        department_id=budget.department_id, fiscal_year=budget.fiscal_year, vendor_id=budget.vendor_id
    )
    if budget.pk:
        others = others.exclude(pk=budget.pk)
    return others.first()


def _duplicate_message(budget: Budget) -> str:
    scope = f" for {budget.vendor.name}" if budget.vendor_id else ""
    return (
        f"{budget.department.code} already has a budget{scope} for fiscal year {budget.fiscal_year}; "
        "change that one instead."
    )


@transaction.atomic
def budget_save(*, budget: Budget | None = None, actor, **fields) -> Budget:
    """Create a budget (budget=None) or change one.

    The currency must be the reporting currency (it defaults to it); the amount is not negative
    and has no more decimals than the currency's minor unit; monthly amounts are twelve, first
    fiscal month first, and add up exactly to the amount — or none, for even phasing. Thresholds
    are ascending percentages above 0. One budget per department and fiscal year (per vendor when
    a vendor is set)."""
    refuse_unknown_fields(fields, BUDGET_FIELDS, "budget")
    budget = budget or Budget()
    for name, value in fields.items():
        setattr(budget, name, value)
    reporting_currency = organization_settings().reporting_currency
    budget.currency = (budget.currency or reporting_currency).strip().upper()
    budget.monthly_amounts = list(budget.monthly_amounts or [])
    budget.thresholds = default_thresholds() if budget.thresholds is None else list(budget.thresholds)

    errors: dict[str, list[str]] = {}
    if budget.currency != reporting_currency:
        errors["currency"] = [
            f"Budgets are kept in the reporting currency, {reporting_currency}; {budget.currency} is not it."
        ]
    digits = minor_units(budget.currency if is_currency(budget.currency) else reporting_currency)
    if amount_problems := _amount_errors(budget, digits):
        errors["amount"] = amount_problems
    # the sum is compared with a valid amount only
    if problems := _monthly_errors(budget, digits, check_sum=not amount_problems):
        errors["monthly_amounts"] = problems
    if problems := _threshold_errors(budget.thresholds):
        errors["thresholds"] = problems
    if _duplicate(budget):
        errors["fiscal_year"] = [_duplicate_message(budget)]
    clean_or_raise(budget, errors)

    budget._history_user = actor
    try:
        with transaction.atomic():
            budget.save()
    except IntegrityError as exc:  # the same budget created at the same moment
        raise ValidationError({"fiscal_year": [_duplicate_message(budget)]}) from exc
    return budget


def budget_delete(*, budget: Budget, actor) -> None:
    try:
        with transaction.atomic():
            budget._history_user = actor
            budget.delete()
    except ProtectedError as exc:
        raise Conflict(f"{budget} has alerts or other records and cannot be deleted.") from exc
