"""The demo company loads completely, and loading it again changes nothing."""

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Sum

from contracts.models import Agreement, Commitment, PriceRule
from core.models import FxRate
from procurement.models import Budget, Department, Vendor, VendorCertification, VendorModel
from procurement.selectors import list_price_for
from usage.models import DailyRollup, RejectedRow, UsageRecord, VendorCostLine

pytestmark = pytest.mark.django_db


def test_load_demo_twice(tmp_path):
    logins = tmp_path / "logins.json"
    call_command("load_demo", "--logins-file", str(logins), "--no-forecasts", stdout=StringIO())
    records = UsageRecord.objects.count()
    cost_lines = VendorCostLine.objects.count()
    counts = [
        m.objects.count() for m in (Vendor, VendorModel, Budget, Agreement, FxRate, Department, VendorCertification)
    ]
    first = json.loads(logins.read_text())
    call_command("load_demo", "--logins-file", str(logins), "--no-forecasts", stdout=StringIO())
    assert [
        m.objects.count() for m in (Vendor, VendorModel, Budget, Agreement, FxRate, Department, VendorCertification)
    ] == counts
    assert json.loads(logins.read_text()) == first  # same passwords and token on every run
    # the month before last is closed and its invoices issued, once, with their PDFs
    from billing.models import GlAccount, Invoice, Period

    issued = Invoice.objects.filter(status="issued")
    assert issued.count() >= 5 and not issued.filter(pdf__isnull=True).exists()
    assert Period.objects.filter(status="closed").count() == 1
    assert GlAccount.objects.count() == 4
    assert UsageRecord.objects.count() == records > 10_000  # months of usage, loaded once
    assert VendorCostLine.objects.count() == cost_lines > 0  # the vendors' cost feeds, loaded once

    assert set(Vendor.objects.values_list("slug", flat=True)) == {
        "deepseek",
        "alibaba",
        "moonshot",
        "zhipu",
        "openai",
        "anthropic",
        "openrouter",
    }
    assert 12 <= Department.objects.filter(is_system=False).count() <= 14
    assert set(first) == {"admin", "procurement", "finance", "department_manager", "auditor", "service"}
    # list prices come from LiteLLM's table, per million tokens
    gpt4o = Vendor.objects.get(slug="openai")
    from datetime import date

    assert list_price_for(gpt4o, "gpt-4o", date(2026, 5, 1)).input_price == Decimal("2.5")
    assert list_price_for(gpt4o, "gpt-4o", date(2024, 6, 1)).input_price == Decimal("5")
    # three agreements in CNY and USD with graduated and volume tiers, take-or-pay and prepaid
    assert sorted(Agreement.objects.values_list("currency", flat=True)) == ["CNY", "CNY", "USD"]
    assert {"graduated", "volume", "flat"} <= set(PriceRule.objects.values_list("schedule", flat=True))
    assert {"take_or_pay", "prepaid"} == set(Commitment.objects.values_list("treatment", flat=True))
    assert any(c.status == "expiring" for c in VendorCertification.objects.all())
    # FX rates for every business day of the demo period
    assert FxRate.objects.filter(base="EUR", quote="CNY").count() > 400
    # usage in every demo department with a workload, some of it unattributed, none rejected
    by_department = dict(DailyRollup.objects.values_list("department__code").annotate(t=Sum("input_tokens")))
    assert {"ENG-AI-SEARCH", "ENG-AI-CODE", "CS", "DATA", "UNALLOCATED"} <= set(by_department)
    assert not RejectedRow.objects.exists()
    # weekly rhythm: an average weekday carries more than twice the requests of a weekend day
    weekday = DailyRollup.objects.filter(day__week_day__in=[2, 3, 4, 5, 6]).aggregate(r=Sum("requests"))["r"] / 5
    weekend = DailyRollup.objects.filter(day__week_day__in=[1, 7]).aggregate(r=Sum("requests"))["r"] / 2
    assert weekday > 2 * weekend


def test_demo_vendor_costs_state_the_usage_at_list_price(tmp_path):
    """The demo's OpenAI and Anthropic cost feeds charge the demo usage at list price, except on
    two overcharged days per vendor (4 %) for the reconciliation to find; amounts are exact."""
    call_command("load_demo", "--logins-file", str(tmp_path / "l.json"), "--no-forecasts", stdout=StringIO())
    for slug, unit in (("openai", "major"), ("anthropic", "cents")):
        lines = VendorCostLine.objects.filter(vendor__slug=slug)
        assert lines.exists() and set(lines.values_list("amount_unit", flat=True)) == {unit}
        by_day = dict(
            lines.values_list("period_start__date").annotate(a=Sum("amount")).values_list("period_start__date", "a")
        )
        expected = {}
        for record in UsageRecord.objects.filter(vendor__slug=slug).exclude(rating="unpriced"):
            expected[record.usage_date] = expected.get(record.usage_date, Decimal(0)) + record.list_cost
        assert set(by_day) == set(expected)
        ratios = sorted(by_day[day] / expected[day] for day in by_day)
        assert all(abs(r - 1) < Decimal("1e-6") for r in ratios[:-2])
        assert all(abs(r - Decimal("1.04")) < Decimal("1e-6") for r in ratios[-2:])
