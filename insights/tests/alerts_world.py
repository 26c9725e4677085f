"""Planted data for the alert tests: budgets with spend, agreements with commitments and tiers,
SLA credits, sources, and records ingested through the API."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from billing.models import SlaCredit
from billing.tests.factories import DailyRollupFactory, agreement
from contracts.models import Agreement, PriceRule, PriceTier, SlaClause
from insights.alerts.evaluate import Candidate
from insights.models import Alert, AlertRule
from insights.services.alerts import alert_rule_save
from procurement.tests.factories import BudgetFactory, VendorFactory

D = Decimal


def spend(department, vendor, day: date, cost: str, **fields):
    return DailyRollupFactory(day=day, department=department, vendor=vendor, cost=D(cost), **fields)


def budget_world(world, *, fiscal_year: int = 2026):
    """T-IN FY budget of USD 1 000 (block) with 600 spent by its child in March and 250 by itself
    in April: 85 % by May; T-OUT's budget (ignore) is overspent and never alerts."""
    vendor = VendorFactory(slug="budget-vendor", name="Budget Vendor")
    budget = BudgetFactory(department=world.inside, fiscal_year=fiscal_year, amount=D("1000.00"), action="block")
    ignored = BudgetFactory(department=world.outside, fiscal_year=fiscal_year, amount=D("10.00"), action="ignore")
    spend(world.inside_child, vendor, date(fiscal_year, 3, 10), "600")
    spend(world.inside, vendor, date(fiscal_year, 4, 2), "250")
    spend(world.outside, vendor, date(fiscal_year, 4, 2), "999")
    return budget, ignored


def tiered_agreement(reference: str, vendor_slug: str, *, tiers, start=date(2026, 1, 1), end=date(2026, 12, 31)):
    deal = agreement(reference, vendor=VendorFactory(slug=vendor_slug, billing_currency="USD"), start=start, end=end)
    rule = PriceRule.objects.create(
        agreement=deal, model_pattern="model-a", token_class="input", schedule=PriceRule.Schedule.GRADUATED
    )
    for from_tokens, price in tiers:
        PriceTier.objects.create(rule=rule, from_tokens=from_tokens, price=D(price))
    return deal, rule


def sla_credit(deal: Agreement, *, period: date, status=SlaCredit.Status.OWED, **fields) -> SlaCredit:
    clause = SlaClause.objects.create(agreement=deal, metric=SlaClause.Metric.LATENCY_P90, target=D("1500"))
    values = {
        "metric": clause.metric,
        "models_in_scope": ["model-a"],
        "target": D("1500"),
        "measured": D("2100"),
        "breach": D("600"),
        "credit_percent": D("5"),
        "in_scope_charges": D("246.80"),
        "credit": D("12.34"),
        "currency": deal.currency,
        "claim_by": period + timedelta(days=60),
    }
    values.update(fields)
    return SlaCredit.objects.create(agreement=deal, clause=clause, period=period, status=status, **values)


def webhook_rule(url: str, secret: str = "s3cret", **fields) -> AlertRule:
    values = {
        "name": "Ops webhook",
        "types": [],
        "roles": [],
        "addresses": [],
        "channels": ["webhook"],
        "webhook_url": url,
        "min_severity": "info",
        "thresholds": {},
        "is_active": True,
    }
    values.update(fields)
    return alert_rule_save(actor=None, webhook_secret=secret, **values)


def candidate(key: str = "1", **fields) -> Candidate:
    values = {
        "type": Alert.Type.BUDGET_THRESHOLD,
        "severity": Alert.Severity.WARNING,
        "subject": f"budget:test-{key}",
        "period": "FY2026",
        "title": f"Budget 80 % reached: TEST-{key}",
        "message": "Spent USD 800.00 of USD 1,000.00.",
        "subject_url": "/budgets/",
        "data": {"level": "80"},
    }
    values.update(fields)
    return Candidate(**values)
