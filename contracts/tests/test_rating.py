"""The pure rating engine (contracts.rating): hand-worked examples and properties. No database.

Prices are per 1 000 000 tokens; a price of p is p × 10⁶ micro-units, and a cost in units of
10⁻¹² is tokens × micro-units. Every expected figure below is worked out by hand in its comment.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.models import PriceRule, PriceTier, TokenClass
from contracts.rating import (
    TOKEN_CLASSES,
    AgreementSpec,
    Charge,
    ChargePart,
    RuleSpec,
    Schedule,
    Tier,
    UsageInput,
    add_months,
    convert_units,
    decimal_to_units,
    period_true_ups,
    positions_after,
    price_to_micro,
    pricing_period,
    pricing_periods,
    rate_sequence,
    rate_tokens,
    select_rule,
    to_decimal,
    total_units,
    true_up,
    volume_final_units,
)
from core.fx import FxQuote

D = Decimal


def at(day: str, hour: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def test_token_classes_match_the_model_choices():
    assert tuple(TokenClass.values) == TOKEN_CLASSES


# Schedules and prices ----------------------------------------------------------------------------


def test_price_to_micro_is_exact_and_refuses_floats_and_seventh_decimals():
    assert price_to_micro("0.27") == 270_000
    assert price_to_micro(D("0.000001")) == 1
    assert price_to_micro(D("12.500000")) == 12_500_000
    assert Tier.from_price(0, "0.27").price == D("0.270000")
    with pytest.raises(TypeError):
        price_to_micro(0.27)
    with pytest.raises(ValueError, match="6 decimals"):
        price_to_micro("0.0000001")
    with pytest.raises(ValueError):
        price_to_micro("-1")


@pytest.mark.parametrize(
    ("kind", "tiers", "message"),
    [
        ("graduated", (), "at least one"),
        ("graduated", ((5, "1"),), "start at 0"),
        ("graduated", ((0, "1"), (10, "0.5"), (10, "0.4")), "ascend"),
        ("volume", ((0, "1"), (10, "0.5"), (5, "0.4")), "ascend"),
        ("flat", ((0, "1"), (10, "0.5")), "exactly one tier"),
        ("tiered", ((0, "1"),), "not a schedule"),
    ],
)
def test_schedule_validation(kind, tiers, message):
    with pytest.raises(ValueError, match=message):
        Schedule.of(kind, *tiers)


def test_tier_counts_are_ints_not_floats_or_bools():
    with pytest.raises(TypeError):
        Tier(0.0, 1)
    with pytest.raises(TypeError):
        Tier(0, True)
    with pytest.raises(TypeError):
        rate_tokens(Schedule.of("flat", (0, "1")), 0, 10.0)


# Hand-worked examples ----------------------------------------------------------------------------


def test_flat():
    # 0.27 per 1M → 270 000 micro; 1 234 567 tokens × 270 000 = 333 333 090 000 units = 0.333333090000
    schedule = Schedule.of("flat", (0, "0.27"))
    charge = rate_tokens(schedule, 5_000_000_000, 1_234_567)  # the position does not matter for flat
    assert charge.units == 333_333_090_000
    assert charge.cost == D("0.333333090000")
    assert charge.parts == (ChargePart(0, 1_234_567, 270_000),)
    assert (charge.tier_index, charge.rate_micro) == (0, 270_000)


def test_graduated_boundary_inside_one_record():
    # Tiers 0 → 0.27, 100 000 000 000 → 0.20. Position 99 999 000 000, a record of 3 000 000:
    #   tokens 99 999 000 000 … 99 999 999 999 (1 000 000) at 0.27 → 1 000 000 × 270 000 = 270 000 000 000
    #   tokens 100 000 000 000 … 100 001 999 999 (2 000 000) at 0.20 → 2 000 000 × 200 000 = 400 000 000 000
    #   total 670 000 000 000 units = 0.27 + 0.40 = 0.670000000000
    schedule = Schedule.of("graduated", (0, "0.27"), (100_000_000_000, "0.20"))
    charge = rate_tokens(schedule, 99_999_000_000, 3_000_000)
    assert charge.parts == (ChargePart(0, 1_000_000, 270_000), ChargePart(1, 2_000_000, 200_000))
    assert charge.units == 670_000_000_000
    assert charge.cost == D("0.670000000000")
    assert charge.tier_index == 1
    assert charge.rate_micro is None  # blended: 0.223333… is not a whole micro-unit; the parts are stored


def test_graduated_record_ending_exactly_on_a_boundary_stays_in_the_lower_tier():
    # Position 99 999 000 000 + 1 000 000 tokens = the last token is number 99 999 999 999 (0-based): tier 0.
    # 1 000 000 × 270 000 = 270 000 000 000 units; the next record starts in tier 1.
    schedule = Schedule.of("graduated", (0, "0.27"), (100_000_000_000, "0.20"))
    charge = rate_tokens(schedule, 99_999_000_000, 1_000_000)
    assert charge.parts == (ChargePart(0, 1_000_000, 270_000),)
    assert (charge.units, charge.tier_index) == (270_000_000_000, 0)
    following = rate_tokens(schedule, 100_000_000_000, 1)
    assert following.parts == (ChargePart(1, 1, 200_000),) and following.tier_index == 1


def test_graduated_record_spanning_three_tiers():
    # Tiers 0 → 2.00, 1 000 → 1.50, 3 000 → 1.000001. Position 400, a record of 5 000 (tokens 400 … 5 399):
    #   400 … 999     600 tokens × 2 000 000 = 1 200 000 000
    #   1 000 … 2 999 2 000 tokens × 1 500 000 = 3 000 000 000
    #   3 000 … 5 399 2 400 tokens × 1 000 001 = 2 400 002 400
    #   total 6 600 002 400 units = 0.006600002400
    schedule = Schedule.of("graduated", (0, "2.00"), (1_000, "1.50"), (3_000, "1.000001"))
    charge = rate_tokens(schedule, 400, 5_000)
    assert charge.parts == (
        ChargePart(0, 600, 2_000_000),
        ChargePart(1, 2_000, 1_500_000),
        ChargePart(2, 2_400, 1_000_001),
    )
    assert charge.units == 6_600_002_400
    assert charge.cost == D("0.006600002400")
    assert charge.tier_index == 2


def test_volume_provisional_then_true_up():
    # Tiers 0 → 0.30, 1 000 000 → 0.20 (volume). Records of one period, in order:
    #   A 600 000, counter ends at   600 000 → tier 0: 600 000 × 300 000 = 180 000 000 000 (0.18)
    #   B 300 000, counter ends at   900 000 → tier 0: 300 000 × 300 000 =  90 000 000 000 (0.09)
    #   C 400 000, counter ends at 1 300 000 → tier 1: 400 000 × 200 000 =  80 000 000 000 (0.08)
    #   provisional 350 000 000 000 (0.35); final 1 300 000 × 200 000 = 260 000 000 000 (0.26)
    #   true-up = 0.26 − 0.35 = −0.09 = A and B repriced by −0.10: 900 000 × −100 000 = −90 000 000 000
    schedule = Schedule.of("volume", (0, "0.30"), (1_000_000, "0.20"))
    a = rate_tokens(schedule, 0, 600_000)
    b = rate_tokens(schedule, 600_000, 300_000)
    c = rate_tokens(schedule, 900_000, 400_000)
    assert (a.units, a.tier_index, a.rate_micro) == (180_000_000_000, 0, 300_000)
    assert (b.units, b.tier_index, b.rate_micro) == (90_000_000_000, 0, 300_000)
    assert (c.units, c.tier_index, c.rate_micro) == (80_000_000_000, 1, 200_000)
    assert c.parts == (ChargePart(1, 400_000, 200_000),)  # the whole record at the tier reached at its end
    assert volume_final_units(schedule, 1_300_000) == 260_000_000_000
    adjustment = true_up(schedule, [600_000, 300_000, 400_000])
    assert adjustment == -90_000_000_000
    assert to_decimal(adjustment) == D("-0.090000000000")
    assert a.units + b.units + c.units + adjustment == volume_final_units(schedule, 1_300_000)


def test_volume_at_exactly_a_boundary_has_not_reached_the_next_tier():
    # 1 000 000 tokens: the last is number 999 999, in tier 0 → 1 000 000 × 300 000 = 300 000 000 000;
    # one token more reaches tier 1: 1 000 001 × 200 000 = 200 000 200 000.
    schedule = Schedule.of("volume", (0, "0.30"), (1_000_000, "0.20"))
    assert volume_final_units(schedule, 1_000_000) == 300_000_000_000
    assert volume_final_units(schedule, 1_000_001) == 200_000_200_000
    assert true_up(schedule, [1_000_000]) == 0  # a single record is rated at its final tier already


def test_true_up_is_zero_for_flat_and_graduated():
    assert true_up(Schedule.of("flat", (0, "1")), [5, 10]) == 0
    assert true_up(Schedule.of("graduated", (0, "1"), (7, "0.5")), [5, 10]) == 0


def test_six_decimal_prices_and_ten_to_the_thirteen_tokens_stay_exact():
    # 10¹³ tokens at 0.000001 per 1M: 10¹³ × 1 = 10¹³ units = 10.000000000000
    cheapest = rate_tokens(Schedule.of("flat", (0, "0.000001")), 0, 10**13)
    assert cheapest.units == 10**13 and cheapest.cost == D("10.000000000000")
    # 12 345 678 901 234 tokens at 123.456789 → 123 456 789 micro:
    #   12 345 678 901 234 × 123 456 789 = 1 524 157 875 171 397 777 626 units = 1 524 157 875.171397777626
    big = rate_tokens(Schedule.of("flat", (0, "123.456789")), 0, 12_345_678_901_234)
    assert big.units == 1_524_157_875_171_397_777_626
    assert big.cost == D("1524157875.171397777626")
    assert big.cost.as_tuple().exponent == -12
    assert decimal_to_units(big.cost) == big.units
    graduated = rate_tokens(Schedule.of("graduated", (0, "0.000003"), (10**13, "0.000001")), 10**13 - 1, 10**13)
    # 1 token × 3 + (10¹³ − 1) × 1 = 10¹³ + 2 units
    assert graduated.units == 10**13 + 2
    _assert_no_floats(graduated)
    _assert_no_floats(big)
    assert type(big.units) is int and isinstance(big.cost, Decimal)


def _assert_no_floats(value) -> None:
    assert not isinstance(value, float)
    if dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            _assert_no_floats(getattr(value, f.name))
    elif isinstance(value, (tuple, list)):
        for item in value:
            _assert_no_floats(item)


def test_to_decimal_has_twelve_places_and_round_trips():
    assert to_decimal(1) == D("0.000000000001")
    assert to_decimal(670_000_000_000).as_tuple().exponent == -12
    assert to_decimal(-5) == D("-0.000000000005")
    assert decimal_to_units(D("0.670000000000")) == 670_000_000_000
    with pytest.raises(ValueError):
        decimal_to_units(D("0.0000000000001"))
    with pytest.raises(TypeError):
        to_decimal(1.0)


# FX ----------------------------------------------------------------------------------------------


def test_convert_units_rounds_half_up_once():
    # 5 × 1/2 = 2.5 → 3 (half up); 4 × 1/3 = 1.33 → 1; 5 × 1/3 = 1.67 → 2; 7 × 3/2 = 10.5 → 11
    assert convert_units(5, 1, 2) == 3
    assert convert_units(4, 1, 3) == 1
    assert convert_units(5, 1, 3) == 2
    assert convert_units(7, 3, 2) == 11
    # a credit converts to minus the charge: −2.5 → −3 (half away from zero, as Decimal ROUND_HALF_UP)
    assert convert_units(-5, 1, 2) == -3
    assert convert_units(-4, 1, 3) == -1
    # CNY → USD at 1 USD = 7.1234 CNY, i.e. × 10 000/71 234: 0.670000000000 CNY = 670 000 000 000 units
    #   × 10 000 / 71 234 = 94 056 209 113.6255… → 94 056 209 114 units = 0.094056209114 USD
    rate = Fraction(1) / Fraction(D("7.1234"))
    assert convert_units(670_000_000_000, rate.numerator, rate.denominator) == 94_056_209_114
    with pytest.raises(ValueError):
        convert_units(1, 0, 1)
    with pytest.raises(TypeError):
        convert_units(1, 1.5, 1)


@given(
    units=st.integers(-(10**24), 10**24),
    multiplier=st.decimals(min_value=D("0.0001"), max_value=D("10000"), places=6),
    divisor=st.decimals(min_value=D("0.0001"), max_value=D("10000"), places=6),
)
def test_convert_units_agrees_with_core_fx(units, multiplier, divisor):
    rate = Fraction(multiplier) / Fraction(divisor)
    quote = FxQuote("CNY", "USD", date(2026, 1, 1), date(2026, 1, 1), multiplier, divisor, "cross")
    assert to_decimal(convert_units(units, rate.numerator, rate.denominator)) == quote.convert(to_decimal(units))


# Pricing periods ---------------------------------------------------------------------------------


def period(day, start, end, kind=None):
    return pricing_period(date.fromisoformat(day), agreement_start=start, agreement_end=end, commitment_period=kind)


def test_no_commitment_means_agreement_years_from_a_mid_year_start():
    start, end = date(2025, 7, 15), date(2027, 7, 14)
    assert period("2025-07-15", start, end) == (date(2025, 7, 15), date(2026, 7, 14))
    assert period("2026-07-14", start, end) == (date(2025, 7, 15), date(2026, 7, 14))
    assert period("2026-07-15", start, end) == (date(2026, 7, 15), date(2027, 7, 14))
    assert period("2026-07-15", start, end, "annual") == (date(2026, 7, 15), date(2027, 7, 14))


def test_last_period_is_clipped_at_the_agreement_end():
    start, end = date(2025, 7, 15), date(2026, 12, 31)
    assert period("2026-08-01", start, end) == (date(2026, 7, 15), date(2026, 12, 31))
    assert period("2026-12-15", start, end, "quarterly") == (date(2026, 10, 15), date(2026, 12, 31))
    with pytest.raises(ValueError, match="outside"):
        period("2027-01-01", start, end)
    with pytest.raises(ValueError, match="outside"):
        period("2025-07-14", start, end)


def test_quarterly_periods_step_three_months_from_the_start():
    start, end = date(2026, 2, 15), date(2027, 2, 14)
    assert pricing_periods(agreement_start=start, agreement_end=end, commitment_period="quarterly") == [
        (date(2026, 2, 15), date(2026, 5, 14)),
        (date(2026, 5, 15), date(2026, 8, 14)),
        (date(2026, 8, 15), date(2026, 11, 14)),
        (date(2026, 11, 15), date(2027, 2, 14)),
    ]
    assert period("2026-05-14", start, end, "quarterly") == (date(2026, 2, 15), date(2026, 5, 14))
    assert period("2026-05-15", start, end, "quarterly") == (date(2026, 5, 15), date(2026, 8, 14))


def test_monthly_from_january_31_keeps_the_month_end():
    # Each start is counted from Jan 31 itself (the day, or the month's last day): Jan 31 → Feb 29
    # (2024 is a leap year) → Mar 31 → Apr 30 → May 31; each period ends the day before the next starts.
    start, end = date(2024, 1, 31), date(2024, 6, 15)
    assert pricing_periods(agreement_start=start, agreement_end=end, commitment_period="monthly") == [
        (date(2024, 1, 31), date(2024, 2, 28)),
        (date(2024, 2, 29), date(2024, 3, 30)),
        (date(2024, 3, 31), date(2024, 4, 29)),
        (date(2024, 4, 30), date(2024, 5, 30)),
        (date(2024, 5, 31), date(2024, 6, 15)),
    ]
    # in a common year February's period starts on the 28th
    assert period("2025-02-27", date(2025, 1, 31), date(2025, 12, 31), "monthly") == (
        date(2025, 1, 31),
        date(2025, 2, 27),
    )
    assert period("2025-03-30", date(2025, 1, 31), date(2025, 12, 31), "monthly") == (
        date(2025, 2, 28),
        date(2025, 3, 30),
    )
    assert period("2025-03-31", date(2025, 1, 31), date(2025, 12, 31), "monthly") == (
        date(2025, 3, 31),
        date(2025, 4, 29),
    )


def test_leap_years():
    # a year from 2023-03-01 contains 2024-02-29: 366 days
    assert period("2024-02-29", date(2023, 3, 1), date(2025, 2, 28)) == (date(2023, 3, 1), date(2024, 2, 29))
    # from Feb 29: agreement years start Feb 28 in common years and Feb 29 again in 2028
    assert pricing_periods(agreement_start=date(2024, 2, 29), agreement_end=date(2028, 12, 31)) == [
        (date(2024, 2, 29), date(2025, 2, 27)),
        (date(2025, 2, 28), date(2026, 2, 27)),
        (date(2026, 2, 28), date(2027, 2, 27)),
        (date(2027, 2, 28), date(2028, 2, 28)),
        (date(2028, 2, 29), date(2028, 12, 31)),
    ]
    assert add_months(date(2024, 1, 31), 13) == date(2025, 2, 28)


def test_pricing_period_refuses_unknown_periods():
    with pytest.raises(ValueError, match="not a commitment period"):
        period("2026-01-01", date(2026, 1, 1), date(2026, 12, 31), "weekly")


@given(
    start=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
    length=st.integers(0, 1200),
    kind=st.sampled_from([None, "annual", "quarterly", "monthly"]),
    offset=st.integers(0, 1200),
)
def test_pricing_periods_tile_the_term(start, length, kind, offset):
    end = start + timedelta(days=length)
    periods = pricing_periods(agreement_start=start, agreement_end=end, commitment_period=kind)
    assert periods[0][0] == start and periods[-1][1] == end
    for (_, a_end), (b_start, _) in pairwise(periods):
        assert b_start == a_end + timedelta(days=1)
    months = {None: 12, "annual": 12, "quarterly": 3, "monthly": 1}[kind]
    for k, (p_start, _) in enumerate(periods):
        assert p_start == add_months(start, k * months)
    day = start + timedelta(days=offset % (length + 1))
    assert period(day.isoformat(), start, end, kind) in periods
    p_start, p_end = period(day.isoformat(), start, end, kind)
    assert p_start <= day <= p_end


# Rule selection ----------------------------------------------------------------------------------

FLAT = Schedule.of("flat", (0, "1"))


def rule(rule_id, pattern, token_class="input", effective_from=None, effective_to=None):
    return RuleSpec(rule_id, pattern, token_class, FLAT, effective_from, effective_to)


RULES = [
    rule(1, "deepseek-*"),
    rule(2, "deepseek-chat"),
    rule(3, "deepseek-c*"),
    rule(4, "*"),
    rule(5, "deepseek-chat", "output"),
    rule(6, "deepseek-reasoner", effective_from=date(2026, 3, 1), effective_to=date(2026, 3, 31)),
]


@pytest.mark.parametrize(
    ("model", "token_class", "day", "expected"),
    [
        ("deepseek-chat", "input", "2026-03-15", 2),  # an exact name beats every pattern
        ("deepseek-coder", "input", "2026-03-15", 3),  # "deepseek-c" is a longer prefix than "deepseek-"
        ("deepseek-v3", "input", "2026-03-15", 1),
        ("gpt-4o", "input", "2026-03-15", 4),
        ("deepseek-chat", "output", "2026-03-15", 5),  # the token class must match
        ("deepseek-chat", "cached_input", "2026-03-15", None),  # no rule for the class: off-contract
        ("gpt-4o", "output", "2026-03-15", None),
        ("deepseek-reasoner", "input", "2026-03-01", 6),  # effective from: inclusive
        ("deepseek-reasoner", "input", "2026-03-31", 6),  # effective to: inclusive
        ("deepseek-reasoner", "input", "2026-02-28", 1),  # before it: the pattern rule
        ("deepseek-reasoner", "input", "2026-04-01", 1),  # after it
    ],
)
def test_select_rule(model, token_class, day, expected):
    chosen = select_rule(RULES, model=model, token_class=token_class, day=date.fromisoformat(day))
    assert (chosen.id if chosen else None) == expected


def test_select_rule_with_nothing_matching_is_none():
    assert select_rule([rule(1, "qwen-*")], model="deepseek-chat", token_class="input", day=date(2026, 1, 1)) is None
    assert select_rule([], model="deepseek-chat", token_class="input", day=date(2026, 1, 1)) is None


def test_select_rule_tie_takes_the_lowest_id():
    # Validation refuses such a pair; if one slips through, the choice is still deterministic.
    tied = [rule(9, "deepseek-*"), rule(7, "deepseek-?hat*"), rule(8, "deepseek-*")]
    for order in (tied, tied[::-1]):
        assert select_rule(order, model="deepseek-chat", token_class="input", day=date(2026, 1, 1)).id == 7


def test_rule_spec_from_model():
    tiers = [PriceTier(from_tokens=100, price=D("0.200000")), PriceTier(from_tokens=0, price=D("0.270000"))]
    price_rule = SimpleNamespace(
        id=42,
        model_pattern="deepseek-*",
        token_class="input",
        schedule=PriceRule.Schedule.GRADUATED,
        effective_from=date(2026, 2, 1),
        effective_to=None,
        tiers=SimpleNamespace(all=lambda: tiers),  # as a prefetched related manager answers
    )
    assert RuleSpec.from_model(price_rule) == RuleSpec(
        42, "deepseek-*", "input", Schedule.of("graduated", (0, "0.27"), (100, "0.20")), date(2026, 2, 1), None
    )


def test_agreement_spec_from_model_takes_the_first_commitments_period():
    agreement = SimpleNamespace(
        id=3,
        start=date(2026, 1, 1),
        end=date(2026, 12, 31),
        price_rules=SimpleNamespace(all=lambda: []),
        commitments=SimpleNamespace(
            all=lambda: [SimpleNamespace(id=9, period="annual"), SimpleNamespace(id=4, period="quarterly")]
        ),
    )
    spec = AgreementSpec.from_model(agreement)
    assert spec.commitment_period == "quarterly" and spec.rules == ()
    agreement.commitments = SimpleNamespace(all=lambda: [])
    assert AgreementSpec.from_model(agreement).commitment_period is None  # agreement years


# rate_sequence: hand-worked -----------------------------------------------------------------------


def test_rate_sequence_orders_by_bucket_start_then_key_and_keeps_counters_per_rule_and_period():
    # Monthly pricing periods from 2026-01-01. Rule 1: deepseek-* input, graduated 0 → 1.00, 100 → 0.50.
    # Rule 2: deepseek-* output, flat 2.00. No rule for cached input.
    agreement = AgreementSpec(
        id=1,
        start=date(2026, 1, 1),
        end=date(2026, 12, 31),
        commitment_period="monthly",
        rules=(
            RuleSpec(1, "deepseek-*", "input", Schedule.of("graduated", (0, "1.00"), (100, "0.50"))),
            RuleSpec(2, "deepseek-*", "output", Schedule.of("flat", (0, "2.00"))),
        ),
    )
    records = [
        # given out of order; the counter order is (bucket_start, key): b"a", b"b", then Jan 2, then Feb 1
        UsageInput(b"c", at("2026-02-01"), "deepseek-chat", input_tokens=10),
        UsageInput(b"b", at("2026-01-01"), "deepseek-chat", input_tokens=70, cached_input_tokens=5),
        UsageInput(b"z", at("2026-01-02"), "deepseek-chat", input_tokens=50),
        UsageInput(b"a", at("2026-01-01"), "deepseek-chat", input_tokens=60, output_tokens=3),
    ]
    lines = rate_sequence(records, agreement.lookup)
    summary = [(line.key, line.token_class, line.position, line.tier_index, line.units) for line in lines]
    assert summary == [
        # a: input tokens 0 … 59 at 1.00 → 60 × 1 000 000 = 60 000 000
        (b"a", "input", 0, 0, 60_000_000),
        # a: output 3 × 2 000 000 = 6 000 000 (its own counter)
        (b"a", "output", 0, 0, 6_000_000),
        # b: input tokens 60 … 129: 40 at 1.00 + 30 at 0.50 = 40 000 000 + 15 000 000
        (b"b", "input", 60, 1, 55_000_000),
        # b: cached input has no rule → off-contract, no units
        (b"b", "cached_input", None, None, None),
        # z: input tokens 130 … 179 at 0.50 → 25 000 000
        (b"z", "input", 130, 1, 25_000_000),
        # c: February is a new pricing period: tokens 0 … 9 at 1.00 → 10 000 000
        (b"c", "input", 0, 0, 10_000_000),
    ]
    assert lines[3].off_contract and not lines[2].off_contract
    assert lines[2].parts == (ChargePart(0, 40, 1_000_000), ChargePart(1, 30, 500_000))
    assert lines[5].period == (date(2026, 2, 1), date(2026, 2, 28))
    assert total_units(lines) == 156_000_000
    assert positions_after(lines) == {(1, date(2026, 1, 1)): 180, (2, date(2026, 1, 1)): 3, (1, date(2026, 2, 1)): 10}
    assert rate_sequence(list(reversed(records)), agreement.lookup) == lines
    assert rate_sequence(records, agreement.lookup) == lines  # re-rating changes nothing


def test_rate_sequence_usage_date_is_the_utc_date():
    # 2026-01-31 23:30 at UTC−05:00 is 2026-02-01 04:30 UTC: February's period, and the February rule.
    agreement = AgreementSpec(
        1,
        date(2026, 1, 1),
        date(2026, 12, 31),
        (rule(1, "m", effective_to=date(2026, 1, 31)), rule(2, "m", effective_from=date(2026, 2, 1))),
        "monthly",
    )
    bucket = datetime(2026, 1, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    (line,) = rate_sequence([UsageInput(b"k", bucket, "m", input_tokens=1)], agreement.lookup)
    assert (line.rule_id, line.period[0]) == (2, date(2026, 2, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        UsageInput(b"k", datetime(2026, 1, 31, 23, 30), "m")


def test_rate_sequence_outside_the_term_is_off_contract_and_duplicates_are_refused():
    agreement = AgreementSpec(1, date(2026, 1, 1), date(2026, 12, 31), (rule(1, "*"),))
    (line,) = rate_sequence([UsageInput(b"k", at("2027-01-01"), "m", input_tokens=5)], agreement.lookup)
    assert line.off_contract and line.units is None and line.cost is None
    twice = [UsageInput(b"k", at("2026-01-01"), "m", input_tokens=5), UsageInput("k", at("2026-01-02"), "m")]
    with pytest.raises(ValueError, match="duplicate"):
        rate_sequence(twice, agreement.lookup)


def test_volume_lines_true_up_per_period():
    # Volume 0 → 0.30, 1 000 000 → 0.20, quarterly. Q1: 600 000 + 300 000 + 400 000 → true-up −0.09 (as
    # worked above); Q2: 500 000 at tier 0, final is tier 0 too → true-up 0.
    schedule = Schedule.of("volume", (0, "0.30"), (1_000_000, "0.20"))
    agreement = AgreementSpec(
        1, date(2026, 1, 1), date(2026, 12, 31), (RuleSpec(7, "*", "input", schedule),), "quarterly"
    )
    records = [
        UsageInput(b"1", at("2026-01-05"), "m", input_tokens=600_000),
        UsageInput(b"2", at("2026-02-05"), "m", input_tokens=300_000),
        UsageInput(b"3", at("2026-03-05"), "m", input_tokens=400_000),
        UsageInput(b"4", at("2026-04-05"), "m", input_tokens=500_000),
    ]
    lines = rate_sequence(records, agreement.lookup)
    assert [line.units for line in lines] == [180_000_000_000, 90_000_000_000, 80_000_000_000, 150_000_000_000]
    assert all(line.provisional for line in lines)
    assert period_true_ups(lines, {7: schedule}) == {(7, date(2026, 1, 1)): -90_000_000_000, (7, date(2026, 4, 1)): 0}


# Properties --------------------------------------------------------------------------------------

AGREEMENT_START, AGREEMENT_END = date(2026, 1, 1), date(2026, 12, 31)
MODELS = ["m-a", "m-b", "x"]  # "x" has no rule: off-contract
BUCKETS = [at("2026-01-01") + timedelta(hours=11 * i) for i in range(300)]  # Jan 1 … Mar 18, ties included


@st.composite
def schedules(draw, kind=None):
    kind = kind or draw(st.sampled_from(["flat", "graduated", "volume"]))
    if kind == "flat":
        starts = [0]
    else:
        scale = draw(st.sampled_from([10**3, 10**6, 10**12]))
        starts = [0, *sorted(draw(st.sets(st.integers(1, 5 * scale), max_size=4)))]
    prices = draw(st.lists(st.integers(0, 10**9), min_size=len(starts), max_size=len(starts)))
    return Schedule(kind, tuple(Tier(s, p) for s, p in zip(starts, prices, strict=True)))


token_counts = st.one_of(st.integers(0, 2_000), st.integers(0, 3 * 10**6), st.integers(0, 10**13))


@st.composite
def usage_inputs(draw):
    keys = draw(st.lists(st.binary(min_size=1, max_size=3), min_size=0, max_size=40, unique=True))
    return [
        UsageInput(
            key,
            draw(st.sampled_from(BUCKETS)),
            draw(st.sampled_from(MODELS)),
            input_tokens=draw(token_counts),
            cached_input_tokens=draw(token_counts),
            output_tokens=draw(token_counts),
        )
        for key in keys
    ]


@st.composite
def agreements(draw, kind=None):
    # cached_input and cache_write have no rule: off-contract lines in every example
    rules = (
        RuleSpec(1, "m-*", "input", draw(schedules(kind))),
        RuleSpec(2, "m-a", "input", draw(schedules(kind))),
        RuleSpec(3, "m-*", "output", draw(schedules(kind))),
    )
    period = draw(st.sampled_from([None, "quarterly", "monthly"]))
    return AgreementSpec(1, AGREEMENT_START, AGREEMENT_END, rules, period)


def _by_counter(lines):
    grouped = {}
    for line in lines:
        if line.counter is not None:
            grouped.setdefault(line.counter, []).append(line)
    return grouped


def _graduated_direct(schedule, total):
    """Σ over tiers of (the tokens that fall in the tier) × its price, from the total alone."""
    tiers = schedule.tiers
    units = 0
    for i, tier in enumerate(tiers):
        upper = tiers[i + 1].from_tokens if i + 1 < len(tiers) else None
        inside = max(0, (total if upper is None else min(total, upper)) - tier.from_tokens)
        units += inside * tier.price_micro
    return units


def _volume_direct(schedule, total):
    """The price of the last tier that the period's last token (number total − 1) reached."""
    price = schedule.tiers[0].price_micro
    for tier in schedule.tiers:
        if tier.from_tokens < total:
            price = tier.price_micro
    return total * price


@settings(max_examples=100, deadline=None)
@given(agreement=agreements(), records=usage_inputs(), data=st.data())
def test_order_and_batches_do_not_change_the_rating(agreement, records, data):
    expected = rate_sequence(records, agreement.lookup)
    shuffled = data.draw(st.permutations(records))
    assert rate_sequence(shuffled, agreement.lookup) == expected
    # split into batches, each rated on its own as it arrives, then all re-rated together
    cuts = sorted(data.draw(st.lists(st.integers(0, len(records)), max_size=4)))
    batches = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(records)], strict=True)]
    for batch in batches:
        rate_sequence(batch, agreement.lookup)
    gathered = [record for batch in data.draw(st.permutations(batches)) for record in batch]
    again = rate_sequence(gathered, agreement.lookup)
    assert again == expected
    assert total_units(again) == total_units(expected)
    # rating only the newest records, from the counters the earlier ones reached, gives the same lines
    ordered = sorted(records, key=lambda r: r.sort_key)
    split = data.draw(st.integers(0, len(ordered)))
    earlier = rate_sequence(ordered[:split], agreement.lookup)
    later = rate_sequence(ordered[split:], agreement.lookup, start_positions=positions_after(earlier))
    assert earlier + later == expected


@settings(max_examples=100, deadline=None)
@given(agreement=agreements("graduated"), records=usage_inputs())
def test_graduated_total_equals_the_graduated_cost_of_the_total(agreement, records):
    lines = rate_sequence(records, agreement.lookup)
    schedules_by_id = {r.id: r.schedule for r in agreement.rules}
    for (rule_id, _), group in _by_counter(lines).items():
        total = sum(line.tokens for line in group)
        assert sum(line.units for line in group) == _graduated_direct(schedules_by_id[rule_id], total)
    assert period_true_ups(lines, schedules_by_id) == {}


@settings(max_examples=100, deadline=None)
@given(agreement=agreements("volume"), records=usage_inputs())
def test_volume_provisional_plus_true_up_is_the_final_total(agreement, records):
    lines = rate_sequence(records, agreement.lookup)
    schedules_by_id = {r.id: r.schedule for r in agreement.rules}
    true_ups = period_true_ups(lines, schedules_by_id)
    for counter, group in _by_counter(lines).items():
        schedule = schedules_by_id[counter[0]]
        total = sum(line.tokens for line in group)
        provisional = sum(line.units for line in group)
        adjustment = true_up(schedule, [line.tokens for line in group])
        assert adjustment == true_ups[counter]
        assert provisional + adjustment == volume_final_units(schedule, total) == _volume_direct(schedule, total)


@given(schedule=schedules("graduated"), position=token_counts, tokens=token_counts, more=token_counts)
def test_graduated_parts_sum_to_the_record_and_split_additively(schedule, position, tokens, more):
    charge = rate_tokens(schedule, position, tokens)
    assert sum(part.tokens for part in charge.parts) == tokens
    assert sum(part.units for part in charge.parts) == charge.units
    assert all(part.tokens > 0 for part in charge.parts)
    if charge.parts:  # consecutive tiers, ending at the tier reached
        first = charge.parts[0].tier_index
        assert [p.tier_index for p in charge.parts] == list(range(first, first + len(charge.parts)))
        assert charge.parts[-1].tier_index == charge.tier_index
    # one record of tokens + more costs the same as two records in a row
    whole = rate_tokens(schedule, position, tokens + more)
    assert whole.units == charge.units + rate_tokens(schedule, position + tokens, more).units
    assert _graduated_direct(schedule, position + tokens) - _graduated_direct(schedule, position) == charge.units
    assert isinstance(charge, Charge) and type(charge.units) is int
