"""Money rules of DESIGN.md: Decimal with a currency, 12-place costs, rounding only at the end."""

from decimal import Decimal, localcontext

import pytest

from core.currencies import minor_units
from core.money import Money, MoneyError, cost_of, round_to_minor_unit, to_decimal


@pytest.mark.parametrize("bad", [0.1, True, "NaN", "Infinity", "1e", "", "1,5"])
def test_money_is_never_a_float_nor_unparsable(bad):
    with pytest.raises(MoneyError):
        to_decimal(bad)


def test_text_is_parsed_exactly():
    assert to_decimal("0.1") + to_decimal("0.2") == Decimal("0.3")
    assert to_decimal(" 42 ") == Decimal(42)


@pytest.mark.parametrize(
    ("amount", "currency", "rounded"),
    [
        ("0.125", "USD", "0.13"),
        ("0.124999", "USD", "0.12"),
        ("2.5", "JPY", "3"),
        ("-0.125", "EUR", "-0.13"),
        ("1.0005", "BHD", "1.001"),
        ("7.005", "CNY", "7.01"),
    ],
)
def test_half_up_to_the_iso_minor_unit(amount, currency, rounded):
    assert round_to_minor_unit(Decimal(amount), currency) == Decimal(rounded)


def test_minor_units_from_iso_4217():
    assert (minor_units("USD"), minor_units("JPY"), minor_units("CNY"), minor_units("BHD")) == (2, 0, 2, 3)
    with pytest.raises(ValueError):
        minor_units("XAU")  # no minor unit: not money here


def test_cost_is_exact_at_twelve_places():
    # 10^13 tokens at 0.123457 per million, and one token at a 6-place price
    assert cost_of(10**13, Decimal("0.123457")) == Decimal("1234570.000000000000")
    assert cost_of(1, Decimal("0.000001")) == Decimal("0.000000000001")
    largest = 2**63 - 1  # a 64-bit token count at the largest 6-place price: N × (10⁶ − 10⁻⁶) ÷ 10⁶
    with localcontext() as ctx:
        ctx.prec = 60
        expected = Decimal(largest) - Decimal(largest).scaleb(-12)
    assert cost_of(largest, Decimal("999999.999999")) == expected


def test_money_refuses_mixing_currencies():
    assert Money(Decimal("1.10"), "USD") + Money(Decimal("2"), "USD") == Money(Decimal("3.10"), "USD")
    with pytest.raises(MoneyError):
        Money(Decimal(1), "USD") + Money(Decimal(1), "EUR")
    with pytest.raises(MoneyError):
        Money(Decimal(1), "USD") * 1.5
    assert Money(Decimal("10.005"), "USD").rounded() == Money(Decimal("10.01"), "USD")
