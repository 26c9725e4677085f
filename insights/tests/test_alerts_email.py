"""Alert emails through Django's SMTP backend to a real SMTP server on loopback (aiosmtpd).

GIVEN the default rules (finance: every budget alert; managers: their departments' budget alerts)
and budgets over a threshold in the manager's department and outside it WHEN alerts are evaluated
THEN finance receives both, with a text and an HTML part linking to the alert's page, and the
manager only theirs."""

from __future__ import annotations

from datetime import date
from email.message import Message

import pytest

from core.roles import Role
from insights.models import Alert, AlertDelivery, AlertRule
from insights.services.alerts import alert_rule_save, alerts_evaluate
from procurement.tests.factories import BudgetFactory, VendorFactory

from .alerts_world import D, spend

pytestmark = pytest.mark.django_db


def parts(message: Message) -> dict[str, str]:
    return {
        part.get_content_type(): part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
        for part in message.walk()
        if not part.is_multipart()
    }


@pytest.fixture
def two_budgets(role_world):
    """T-IN-SUB (in the manager's subtree) and T-OUT each at 60 % of their FY2026 budget."""
    vendor = VendorFactory(slug="mail-vendor")
    mine = BudgetFactory(department=role_world.inside_child, fiscal_year=2026, amount=D("1000.00"))
    theirs = BudgetFactory(department=role_world.outside, fiscal_year=2026, amount=D("1000.00"))
    spend(role_world.inside_child, vendor, date(2026, 3, 2), "600")
    spend(role_world.outside, vendor, date(2026, 3, 2), "600")
    return mine, theirs


def test_finance_gets_every_budget_alert_and_the_manager_only_theirs(
    smtp, role_world, two_budgets, django_capture_on_commit_callbacks
):
    mine, _ = two_budgets
    with django_capture_on_commit_callbacks(execute=True):
        summary = alerts_evaluate(today=date(2026, 12, 20), types=[Alert.Type.BUDGET_THRESHOLD])
    assert summary["raised"] == 2, summary

    finance = smtp.to("t-finance@example.com")
    manager = smtp.to("t-department_manager@example.com")
    assert sorted(m["Subject"] for m in finance) == [
        "[TokenLedger] [Info] Budget 50 % reached: T-IN-SUB FY2026",
        "[TokenLedger] [Info] Budget 50 % reached: T-OUT FY2026",
    ]
    assert [m["Subject"] for m in manager] == ["[TokenLedger] [Info] Budget 50 % reached: T-IN-SUB FY2026"]
    for address in ("t-admin@example.com", "t-procurement@example.com", "t-auditor@example.com"):
        assert smtp.to(address) == []  # no default rule sends them budget alerts

    message = manager[0]
    assert message.get_content_type() == "multipart/alternative" and message["To"] == "t-department_manager@example.com"
    body = parts(message)
    alert = Alert.objects.get(department=role_world.inside_child)
    assert alert.data["budget"] == mine.pk
    link = f"https://tokenledger.example.com/alerts/{alert.pk}/"
    assert set(body) == {"text/plain", "text/html"}
    assert link in body["text/plain"] and f'href="{link}"' in body["text/html"]
    assert "USD 600.00 of its FY2026 budget of USD 1,000.00" in body["text/plain"]
    assert "Department: T-IN-SUB — Managed child" in body["text/plain"]
    assert "<h1" in body["text/html"] and "Budget 50 % reached: T-IN-SUB FY2026" in body["text/html"]
    assert message["X-TokenLedger-Alert"] == str(alert.pk)

    sent = AlertDelivery.objects.filter(channel="email")
    assert sent.count() == 3 and set(sent.values_list("status", "attempts")) == {("sent", 1)}
    assert AlertDelivery.objects.filter(channel="inbox", recipient="t-department_manager").count() == 1


def test_a_rule_with_addresses_and_a_minimum_severity(
    smtp, role_world, two_budgets, django_capture_on_commit_callbacks
):
    AlertRule.objects.all().delete()
    alert_rule_save(
        actor=None,
        name="CFO office, warnings and worse",
        types=[],
        roles=[],
        addresses=["CFO@Example.com"],
        channels=["email"],
        webhook_url="",
        min_severity="warning",
        thresholds={},
        is_active=True,
    )
    with django_capture_on_commit_callbacks(execute=True):
        alerts_evaluate(today=date(2026, 12, 20), types=[Alert.Type.BUDGET_THRESHOLD, Alert.Type.BUDGET_OVERRUN])
    # 60 % is info (not sent); spending 600 in 353 days does not project past 1 000 either
    assert smtp.messages == []
    spend(role_world.outside, VendorFactory(slug="mail-vendor"), date(2026, 12, 1), "300")
    with django_capture_on_commit_callbacks(execute=True):
        alerts_evaluate(today=date(2026, 12, 20), types=[Alert.Type.BUDGET_THRESHOLD])
    assert [m["Subject"] for m in smtp.to("cfo@example.com")] == [
        "[TokenLedger] [Warning] Budget 80 % reached: T-OUT FY2026"
    ]
    assert smtp.to(role_world.user(Role.FINANCE).email) == []  # the default rules are gone: only the address
