"""commitment_statuses: hand-worked figures from daily rollups written with known values.

Every expected figure is worked out in the comment beside it."""

from datetime import date
from decimal import Decimal

import pytest

from billing.selectors import commitment_statuses, commitment_statuses_many
from contracts.models import Commitment
from procurement.tests.factories import DepartmentFactory, VendorFactory

from .factories import DailyRollupFactory, agreement, commitment

pytestmark = pytest.mark.django_db

D = Decimal


def status_of(agreement_, as_of):
    (status,) = commitment_statuses(agreement=agreement_, as_of=as_of)
    return status


@pytest.fixture
def quarterly_tokens():
    """900 M input+output tokens a quarter, take-or-pay at 0.50 per 1M short. Q1 2026 = 90 days."""
    fa = agreement()
    commitment(
        fa,
        amount="900000000",
        period=Commitment.Period.QUARTERLY,
        token_classes=["input", "output"],
        shortfall_price=D("0.50"),
    )
    a, b = DepartmentFactory(code="D-A"), DepartmentFactory(code="D-B")
    vendor = fa.vendor
    # counted: input + output only (cached and cache-write tokens are not in this commitment)
    DailyRollupFactory(
        day=date(2026, 1, 10),
        department=a,
        vendor=vendor,
        input_tokens=100_000_000,
        cached_input_tokens=50_000_000,
        output_tokens=20_000_000,
    )
    DailyRollupFactory(
        day=date(2026, 1, 20), department=b, vendor=vendor, input_tokens=80_000_000, cache_write_tokens=7
    )
    DailyRollupFactory(day=date(2026, 2, 5), department=a, vendor=vendor, model="model-b", input_tokens=100_000_000)
    DailyRollupFactory(day=date(2026, 3, 15), department=a, vendor=vendor, input_tokens=250_000_000)
    # another vendor's usage never counts
    DailyRollupFactory(
        day=date(2026, 1, 15), department=a, vendor=VendorFactory(slug="other"), input_tokens=500_000_000
    )
    return fa


def test_take_or_pay_tokens_while_the_quarter_runs(quarterly_tokens):
    s = status_of(quarterly_tokens, date(2026, 2, 14))
    assert (s.period_start, s.period_end) == (date(2026, 1, 1), date(2026, 3, 31))
    assert (s.period_days, s.elapsed_days) == (90, 45)  # 31 + 28 + 31; Jan 31 + Feb 14
    assert s.committed == D(900_000_000)
    assert s.consumed == D(300_000_000)  # 100 M + 20 M + 80 M + 100 M (the Mar 15 rollup is after as_of)
    assert s.expected_to_date == D(450_000_000)  # 900 M × 45 ÷ 90
    assert s.utilisation == D("33.33")  # 300 ÷ 900 × 100 = 33.333…
    assert s.projected_end == s.projected_low == s.projected_high == D(600_000_000)  # 300 M ÷ 45 × 90
    assert s.projected_shortfall == D(300_000_000)  # 900 M − 600 M
    assert s.shortfall_charge == D("150.000000000000")  # 300 000 000 × 0.50 ÷ 10⁶, projected
    assert s.final is False
    assert s.currency == "USD" and s.unit == "tokens"
    assert s.drawn is s.remaining is s.overage is s.expiring is None
    # the chart: cumulative consumption through as_of, nothing after; the pro-rata line every day
    assert len(s.series) == 90
    assert s.series[9].consumed == D(120_000_000) and s.series[8].consumed == D(0)  # Jan 10: 100 M + 20 M
    assert s.series[44].consumed == D(300_000_000) and s.series[45].consumed is None
    assert s.series[0].expected == D(10_000_000) and s.series[-1].expected == D(900_000_000)


def test_take_or_pay_tokens_charge_is_final_at_the_period_end(quarterly_tokens):
    s = status_of(quarterly_tokens, date(2026, 3, 31))
    assert s.final is True
    assert s.consumed == D(550_000_000)  # 300 M + 250 M on Mar 15
    assert s.expected_to_date == D(900_000_000)
    assert s.projected_end == D(550_000_000)  # the period has ended: the projection is the consumption
    assert s.projected_shortfall == D(350_000_000)  # max(0, 900 M − 550 M)
    assert s.shortfall_charge == D("175.000000000000")  # 350 000 000 × 0.50 ÷ 10⁶
    assert s.utilisation == D("61.11")  # 550 ÷ 900 = 61.111…


def test_the_next_quarter_starts_from_zero(quarterly_tokens):
    s = status_of(quarterly_tokens, date(2026, 4, 1))
    assert (s.period_start, s.period_end, s.elapsed_days) == (date(2026, 4, 1), date(2026, 6, 30), 1)
    assert s.consumed == 0 and s.expected_to_date == D(9_890_110)  # 900 M ÷ 91 = 9 890 109.89 → 9 890 110


def test_as_of_before_the_term_counts_nothing(quarterly_tokens):
    s = status_of(quarterly_tokens, date(2025, 12, 1))
    assert (s.period_start, s.elapsed_days) == (date(2026, 1, 1), 0)
    assert s.consumed == s.expected_to_date == s.projected_end == 0
    assert s.projected_shortfall == D(900_000_000)
    assert s.series[0].consumed is None


def test_as_of_after_the_term_shows_the_last_period_final(quarterly_tokens):
    s = status_of(quarterly_tokens, date(2027, 6, 1))
    assert (s.period_start, s.period_end, s.final) == (date(2026, 10, 1), date(2026, 12, 31), True)
    assert s.shortfall_charge == D("450.000000000000")  # nothing consumed: 900 M × 0.50 ÷ 10⁶


def test_take_or_pay_money_monthly():
    """USD 1 000 a month of rated spend (agreement_cost)."""
    fa = agreement(currency="USD")
    commitment(fa, unit="USD", amount="1000.00", period=Commitment.Period.MONTHLY)
    dept = DepartmentFactory(code="D-M")
    DailyRollupFactory(day=date(2026, 1, 3), department=dept, vendor=fa.vendor, agreement_cost=D("123.456789012345"))
    DailyRollupFactory(day=date(2026, 1, 10), department=dept, vendor=fa.vendor, agreement_cost=D("76.543210987655"))
    # cost in the reporting currency is not what a money commitment counts
    DailyRollupFactory(day=date(2026, 1, 10), department=dept, vendor=fa.vendor, model="b", cost=D("999"))

    s = status_of(fa, date(2026, 1, 10))
    assert (s.period_days, s.elapsed_days) == (31, 10)
    assert s.committed == D("1000.000000000000")
    assert s.consumed == D("200.000000000000")  # 123.456789012345 + 76.543210987655
    assert s.expected_to_date == D("322.580645161290")  # 1000 × 10 ÷ 31 = 322.580645161290|32…
    assert s.utilisation == D("20.00")
    assert s.projected_end == D("620.000000000000")  # 200 ÷ 10 × 31
    assert s.projected_shortfall == D("380.000000000000")
    assert s.shortfall_charge == D("380.000000000000")  # a money shortfall is charged as money
    assert s.final is False

    s = status_of(fa, date(2026, 1, 31))
    assert s.final is True
    assert s.shortfall_charge == D("800.000000000000")  # 1000 − 200, due
    assert s.utilisation == D("20.00")


def test_prepaid_money_drawdown_and_projected_expiry():
    """USD 500 prepaid for the year (365 days), drawn down by rated spend."""
    fa = agreement()
    commitment(fa, unit="USD", amount="500", treatment=Commitment.Treatment.PREPAID)
    dept = DepartmentFactory(code="D-P")
    DailyRollupFactory(day=date(2026, 3, 1), department=dept, vendor=fa.vendor, agreement_cost=D("100"))

    s = status_of(fa, date(2026, 3, 31))
    assert s.elapsed_days == 90  # 31 + 28 + 31
    assert s.consumed == D("100.000000000000")
    assert s.drawn == D("100.000000000000")  # min(100, 500)
    assert s.remaining == D("400.000000000000")
    assert s.overage == D("0") and s.projected_overage == D("0")
    assert s.projected_end == D("405.555555555556")  # 100 × 365 ÷ 90 = 405.555555555555|5… half up
    assert s.expiring == D("94.444444444444")  # 500 − 405.555555555556, projected to expire
    assert s.shortfall_charge == D("0")  # prepaid: what is left expires, nothing is charged
    assert s.final is False

    DailyRollupFactory(day=date(2026, 6, 1), department=dept, vendor=fa.vendor, agreement_cost=D("450"))
    s = status_of(fa, date(2026, 12, 31))
    assert s.final is True
    assert s.consumed == D("550.000000000000")
    assert (s.drawn, s.remaining) == (D("500.000000000000"), D(0))
    assert s.overage == D("50.000000000000")  # beyond the prepaid amount: charged by the price rules
    assert s.expiring == 0


def test_prepaid_tokens_expire_at_the_period_end():
    fa = agreement()
    commitment(
        fa, amount="1000000", period=Commitment.Period.MONTHLY, treatment=Commitment.Treatment.PREPAID, token_classes=[]
    )
    dept = DepartmentFactory(code="D-T")
    # every class counts when the commitment names none: 100 000 + 50 000 + 25 000 + 225 000
    DailyRollupFactory(
        day=date(2026, 2, 3),
        department=dept,
        vendor=fa.vendor,
        input_tokens=100_000,
        cached_input_tokens=50_000,
        cache_write_tokens=25_000,
        output_tokens=225_000,
    )
    s = status_of(fa, date(2026, 2, 28))
    assert s.final is True and (s.period_start, s.period_end) == (date(2026, 2, 1), date(2026, 2, 28))
    assert s.consumed == D(400_000)
    assert (s.drawn, s.remaining, s.overage) == (D(400_000), D(600_000), D(0))
    assert s.expiring == D(600_000)  # written off
    assert s.shortfall_charge == 0


def test_expected_to_date_on_a_quarterly_period_starting_on_a_month_end():
    """From Jan 31 the quarters start Jan 31, Apr 30, Jul 31, Oct 31 (contracts.rating.pricing_period)."""
    fa = agreement(start=date(2026, 1, 31), end=date(2027, 1, 30))
    commitment(fa, amount="890000000", period=Commitment.Period.QUARTERLY)

    s = status_of(fa, date(2026, 3, 1))
    assert (s.period_start, s.period_end) == (date(2026, 1, 31), date(2026, 4, 29))
    assert s.period_days == 89  # Jan 31 + 28 (Feb) + 31 (Mar) + 29 (Apr)
    assert s.elapsed_days == 30  # Jan 31, 28 days of February, Mar 1
    assert s.expected_to_date == D(300_000_000)  # 890 M × 30 ÷ 89

    s = status_of(fa, date(2026, 5, 15))
    assert (s.period_start, s.period_end) == (date(2026, 4, 30), date(2026, 7, 30))
    assert (s.period_days, s.elapsed_days) == (92, 16)  # Apr 30 + 31 + 30 + 30; Apr 30 + 15 days of May
    assert s.expected_to_date == D(154_782_609)  # 890 M × 16 ÷ 92 = 154 782 608.69… → whole tokens


def test_several_commitments_each_in_its_own_period():
    fa = agreement()
    annual = commitment(fa, amount="365000000", token_classes=["output"])
    monthly = commitment(fa, unit="USD", amount="310", period=Commitment.Period.MONTHLY)
    dept = DepartmentFactory(code="D-S")
    DailyRollupFactory(day=date(2026, 1, 31), department=dept, vendor=fa.vendor, output_tokens=5, agreement_cost=D(1))
    DailyRollupFactory(day=date(2026, 2, 2), department=dept, vendor=fa.vendor, output_tokens=7, agreement_cost=D(2))
    first, second = commitment_statuses(agreement=fa, as_of=date(2026, 2, 2))
    assert first.id == annual.pk and first.consumed == D(12) and first.elapsed_days == 33
    assert first.expected_to_date == D(33_000_000)  # 365 M × 33 ÷ 365
    assert second.id == monthly.pk and second.consumed == D("2.000000000000") and second.elapsed_days == 2
    assert second.expected_to_date == D("22.142857142857")  # 310 × 2 ÷ 28 = 22.142857142857|14…


def test_no_commitments_no_rows():
    assert commitment_statuses(agreement=agreement(), as_of=date(2026, 5, 1)) == []


def test_many_agreements_answer_as_one_at_a_time_in_three_queries(quarterly_tokens, django_assert_num_queries):
    """GIVEN the quarterly agreement, an agreement of another vendor with two commitments, and one
    without commitments, WHEN their statuses are asked together (the quarterly one on two days),
    THEN each answer is what commitment_statuses gives alone, in three queries for all of them:
    the commitments, the vendors' daily sums and the forecasts."""
    other = agreement("FA-BILL-2", vendor=VendorFactory(slug="other-deal"))
    commitment(other, amount="1000000", token_classes=["input"])
    commitment(other, unit="USD", amount="50", period=Commitment.Period.MONTHLY)
    DailyRollupFactory(
        day=date(2026, 2, 1), department=DepartmentFactory(code="D-O"), vendor=other.vendor, input_tokens=400_000
    )
    bare = agreement("FA-BILL-3", vendor=VendorFactory(slug="bare"))
    asked = [
        (quarterly_tokens, date(2026, 2, 15)),
        (other, date(2026, 2, 10)),
        (bare, date(2026, 2, 10)),
        (quarterly_tokens, date(2026, 3, 31)),
    ]
    alone = [commitment_statuses(agreement=a, as_of=day) for a, day in asked]
    with django_assert_num_queries(3):
        together = commitment_statuses_many(asked)
    assert together == alone
    assert [len(statuses) for statuses in together] == [1, 2, 0, 1]
    assert together[1][0].consumed == D(400_000)
