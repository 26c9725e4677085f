"""budget_phasing: twelve months from the fiscal year's start, always adding up to the amount."""

import datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procurement.models import Budget
from procurement.selectors import budget_phasing, current_fiscal_year, fiscal_year_bounds


def budget(amount: str, currency: str = "USD", fiscal_year: int = 2026, monthly=None) -> Budget:
    return Budget(
        fiscal_year=fiscal_year,
        amount=Decimal(amount),
        currency=currency,
        monthly_amounts=[Decimal(m) for m in monthly or []],
    )


def test_even_phasing_puts_the_rounding_remainder_in_the_last_month():
    phasing = budget_phasing(budget("1000.00"), start_month=1)
    assert [month for month, _ in phasing] == [datetime.date(2026, m, 1) for m in range(1, 13)]
    assert [amount for _, amount in phasing] == [Decimal("83.33")] * 11 + [Decimal("83.37")]
    assert sum(amount for _, amount in phasing) == Decimal("1000.00")


def test_a_fiscal_year_starting_in_april_runs_into_the_next_calendar_year():
    phasing = budget_phasing(budget("1200.00", fiscal_year=2026), start_month=4)
    assert phasing[0] == (datetime.date(2026, 4, 1), Decimal("100.00"))
    assert phasing[8][0] == datetime.date(2026, 12, 1) and phasing[9][0] == datetime.date(2027, 1, 1)
    assert phasing[-1] == (datetime.date(2027, 3, 1), Decimal("100.00"))
    assert fiscal_year_bounds(2026, 4) == (datetime.date(2026, 4, 1), datetime.date(2027, 3, 31))
    assert fiscal_year_bounds(2026, 1) == (datetime.date(2026, 1, 1), datetime.date(2026, 12, 31))


def test_minor_units_of_the_currency():
    assert [a for _, a in budget_phasing(budget("100", "JPY"), start_month=1)] == [Decimal(8)] * 11 + [Decimal(12)]
    bhd = [a for _, a in budget_phasing(budget("1.000", "BHD"), start_month=1)]  # three decimals
    assert bhd == [Decimal("0.083")] * 11 + [Decimal("0.087")]
    small = [a for _, a in budget_phasing(budget("0.06"), start_month=1)]  # never a negative month
    assert small == [Decimal("0.00")] * 11 + [Decimal("0.06")]


def test_explicit_monthly_amounts_are_used_as_given():
    months = ["0"] * 6 + ["200.00"] * 6
    phasing = budget_phasing(budget("1200.00", monthly=months), start_month=7)
    assert phasing[0] == (datetime.date(2026, 7, 1), Decimal("0.00"))
    assert [a for _, a in phasing][6:] == [Decimal("200.00")] * 6


@pytest.mark.django_db
def test_the_start_month_comes_from_the_organisation_settings():
    from core.services import organization_settings_update

    organization_settings_update(actor=None, fiscal_year_start_month=10)
    assert budget_phasing(budget("12.00"))[0][0] == datetime.date(2026, 10, 1)


def test_current_fiscal_year():
    assert current_fiscal_year(4, today=datetime.date(2026, 3, 31)) == 2025
    assert current_fiscal_year(4, today=datetime.date(2026, 4, 1)) == 2026
    assert current_fiscal_year(1, today=datetime.date(2026, 1, 1)) == 2026


@settings(max_examples=300, deadline=None)
@given(
    cents=st.integers(min_value=0, max_value=10**20),
    currency=st.sampled_from(["USD", "JPY", "BHD", "CNY"]),
    start_month=st.integers(min_value=1, max_value=12),
)
def test_even_phasing_always_adds_up_exactly(cents, currency, start_month):
    digits = {"USD": 2, "JPY": 0, "BHD": 3, "CNY": 2}[currency]
    amount = Decimal(cents).scaleb(-digits)
    phasing = budget_phasing(budget(str(amount), currency), start_month=start_month)
    amounts = [a for _, a in phasing]
    assert sum(amounts) == amount
    assert len(set(amounts[:11])) == 1 and amounts[-1] >= amounts[0] >= 0
    assert amounts[-1] - amounts[0] < 12 * Decimal(1).scaleb(-digits)
    assert all(-a.as_tuple().exponent <= digits for a in amounts)
    assert phasing[0][0] == datetime.date(2026, start_month, 1)
