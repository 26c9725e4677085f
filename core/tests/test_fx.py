"""FX by DESIGN.md: direct, inverse, cross through a pivot; the day's rate or the latest earlier
one at most 7 days old; older or missing is flagged, never 1.0. ECB and pairs CSV import."""

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from core.fx import FxImportError, FxTable, FxUnavailable, fx_quote, fx_rates_import_csv
from core.models import FxRate

pytestmark = pytest.mark.django_db
SAMPLES = Path(__file__).parent / "samples"
D = date(2026, 3, 6)


def rate(day, base, quote, value):
    return FxRate.objects.create(date=day, base=base, quote=quote, rate=Decimal(value))


def test_direct_inverse_and_cross():
    rate(D, "EUR", "USD", "1.08")
    rate(D, "EUR", "CNY", "7.80")
    direct = fx_quote("EUR", "USD", D, reporting_currency="USD")
    assert (direct.method, direct.convert(Decimal("100"))) == ("direct", Decimal("108.000000000000"))
    inverse = fx_quote("USD", "EUR", D, reporting_currency="USD")
    assert inverse.method == "inverse" and inverse.convert(Decimal("108")) == Decimal("100.000000000000")
    cross = fx_quote("CNY", "USD", D, reporting_currency="USD")
    assert (cross.method, cross.via) == ("cross", "EUR")
    assert cross.convert(Decimal("780")) == Decimal("108.000000000000")  # 780 / 7.80 × 1.08, no rounding on the way
    assert fx_quote("USD", "USD", D).convert(Decimal("5")) == Decimal("5.000000000000")


def test_cross_prefers_the_reporting_currency():
    rate(D, "GBP", "CHF", "1.10")  # through CHF as reporting currency
    rate(D, "CHF", "JPY", "170")
    quote = fx_quote("GBP", "JPY", D, reporting_currency="CHF")
    assert quote.via == "CHF" and quote.convert(Decimal(1)) == Decimal("187.000000000000")


def test_latest_earlier_rate_up_to_seven_days():
    rate(D - timedelta(days=7), "EUR", "USD", "1.05")
    quote = fx_quote("EUR", "USD", D, reporting_currency="USD")
    assert quote.rate_date == D - timedelta(days=7) and quote.age_days == 7
    rate(D - timedelta(days=2), "EUR", "USD", "1.07")
    assert fx_quote("EUR", "USD", D, reporting_currency="USD").rate == Decimal("1.070000000000")


def test_older_than_seven_days_is_stale_and_missing_is_missing():
    rate(D - timedelta(days=8), "EUR", "USD", "1.05")
    with pytest.raises(FxUnavailable) as exc:
        fx_quote("EUR", "USD", D, reporting_currency="USD")
    assert exc.value.reason == "stale" and exc.value.latest == D - timedelta(days=8)
    with pytest.raises(FxUnavailable) as exc:
        fx_quote("EUR", "JPY", D, reporting_currency="USD")
    assert exc.value.reason == "missing"


def test_future_rates_are_not_used():
    rate(D + timedelta(days=1), "EUR", "USD", "1.05")
    with pytest.raises(FxUnavailable):
        fx_quote("EUR", "USD", D, reporting_currency="USD")


def test_table_answers_many_lookups_from_memory(django_assert_num_queries):
    for offset in range(10):
        rate(D - timedelta(days=offset), "EUR", "USD", f"1.0{offset}")
    with django_assert_num_queries(1):
        table = FxTable.load(D - timedelta(days=9), D, reporting_currency="USD")
        values = [table.quote("USD", "EUR", D - timedelta(days=i)).rate_date for i in range(10)]
    assert values == [D - timedelta(days=i) for i in range(10)]


def test_ecb_history_import():
    data = (SAMPLES / "eurofxref-hist-excerpt.csv").read_bytes()
    result = fx_rates_import_csv(data)
    assert result.layout == "ecb" and result.rows == 3 and result.errors == []
    # 30 currencies carry values (N/A cells skipped); BGN is no longer an ISO 4217 currency
    # since Bulgaria adopted the euro in 2026, so it is skipped and reported
    assert result.skipped_currencies == {"BGN"}
    assert result.created == 3 * 29
    assert FxRate.objects.get(date=D, base="EUR", quote="CNY").rate == Decimal("7.8031")
    assert FxRate.objects.filter(quote="CYP").count() == 0
    again = fx_rates_import_csv(data)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 87)
    changed = data.replace(b"2026-03-06,1.0844", b"2026-03-06,1.0850")
    assert fx_rates_import_csv(changed).updated == 1
    assert FxRate.objects.get(date=D, base="EUR", quote="USD").source == "ecb"


def test_pairs_import_keeps_good_rows_and_reports_bad_ones():
    data = (
        b"date,base,quote,rate\n2026-03-06,USD,CNY,7.2\n2026-03-06,usd,jpy,150\nnope,USD,EUR,1\n"
        b"2026-03-06,USD,XXX1,1\n2026-03-06,USD,USD,1\n2026-03-06,USD,EUR,-1\n"
    )
    result = fx_rates_import_csv(data)
    assert result.created == 2
    assert [e["row"] for e in result.errors] == [4, 5, 6, 7]
    assert "not an ISO 4217" in result.errors[1]["reasons"][0]


@pytest.mark.parametrize("data", [b"", b"\xff\xfe\x00", b"foo,bar\n1,2\n"])
def test_unreadable_tables_fail_clearly(data):
    with pytest.raises(FxImportError):
        fx_rates_import_csv(data)
