"""The SLA evaluation pages: the list (figures of a real evaluated credit, filters, export, the
overdue claim, the month evaluated when filtered for), evaluating a month on demand, a person's
decision on a credit with its history, and who may open and change what.

The world (billing/tests/test_sla.py's): vendor `acme`, agreement FA-ACME (USD, active, 2026) with
an availability clause, target 99.9 %, bands over 0.1 pp → 10 %, over 0.2 pp → 25 %. March 2026:
1 000 requests, 3 failed → 99.7 %, breach 0.2 pp (not over 0.2) → 10 % of the in-scope charges
USD 400.00 = USD 40.00, to claim by 30 April. Vendor `beta`, agreement FA-BETA, a latency clause
with nothing measured: no breach, no credit."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import SlaCredit
from billing.services.sla import sla_evaluate
from contracts.models import Agreement
from core.roles import Role

from .reconciliation_world import vendor
from .test_sla import clause, rec

pytestmark = pytest.mark.django_db
D = Decimal
MARCH = date(2026, 3, 1)
FEBRUARY = date(2026, 2, 1)
LIST = "/reconciliation/sla/"
EVALUATE = "/reconciliation/sla/evaluate/"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def status_url(row: SlaCredit) -> str:
    return f"/reconciliation/sla/{row.pk}/status/"


def agreement(v, reference: str) -> Agreement:
    return Agreement.objects.create(
        reference=reference, vendor=v, start=date(2026, 1, 1), end=date(2026, 12, 31), currency="USD", status="active"
    )


@pytest.fixture
def world(role_world):
    acme, beta = vendor("acme", "Acme AI", "USD"), vendor("beta", "Beta AI", "USD")
    fa_acme, fa_beta = agreement(acme, "FA-ACME"), agreement(beta, "FA-BETA")
    rec(acme, 2, agreement=fa_acme, cost="300", requests=600, failed_requests=3)
    rec(acme, 20, agreement=fa_acme, cost="100", requests=400, failed_requests=0)
    clause(fa_acme, "availability", "99.9", bands=[("0.1", "10"), ("0.2", "25")])
    clause(fa_beta, "latency_p50", "500", bands=[("0", "50")])
    return SimpleNamespace(role_world=role_world, acme=acme, beta=beta, fa_acme=fa_acme, fa_beta=fa_beta)


@pytest.fixture
def evaluated(world):
    sla_evaluate(month=MARCH)
    world.credit = SlaCredit.objects.get(agreement=world.fa_acme, period=MARCH)
    assert (world.credit.credit, world.credit.status) == (D(40), "owed")
    return world


@pytest.fixture
def finance(role_world):
    return signed_in(role_world.user(Role.FINANCE))


# The list ----------------------------------------------------------------------------------------


def test_the_list_shows_an_evaluated_credit(evaluated, finance):
    html = finance.get(LIST).content.decode()
    assert "SLA evaluations" in html
    assert 'href="/agreements/FA-ACME/">FA-ACME</a>' in html and "Acme AI" in html
    assert "Availability (%)" in html and "all models" in html
    assert "99.9 %" in html and "99.7 %" in html and "0.2 pp" in html and "10 %" in html  # target, measured, breach
    assert "USD 400.00" in html and "USD 40.00" in html  # in-scope charges, credit
    assert "2026-04-30" in html and "overdue" in html and "1 owed credit is past its claim-by date" in html
    assert "Owed" in html and "Owed: 2 · USD 40.00" in html
    assert 'aria-current="page">SLA</a>' in html  # its tab among the reconciliation pages
    assert 'name="received_on"' in html and 'action="/reconciliation/sla/evaluate/"' in html  # finance changes
    assert "<script>" not in html.replace("<script src=", "")  # no inline scripts (CSP)


def test_the_list_filters_by_vendor_status_and_month(evaluated, finance):
    html = finance.get(LIST, {"vendor": "beta"}).content.decode()
    assert ">FA-BETA</a>" in html and ">FA-ACME</a>" not in html
    html = finance.get(LIST, {"vendor": "acme", "period": "2026-03", "status": "owed"}).content.decode()
    assert ">FA-ACME</a>" in html and ">FA-BETA</a>" not in html
    html = finance.get(LIST, {"status": "claimed"}).content.decode()
    assert ">FA-ACME</a>" not in html and "No SLA evaluations match." in html
    bad = finance.get(LIST, {"period": "March"}).content.decode()
    assert "is not a month" in bad


def test_filtering_for_an_ended_month_evaluates_it_once(world, finance):
    """As the API's list: February has ended and has no evaluation, so asking for it evaluates it
    (no usage: no breach); a month that has not ended is not evaluated."""
    html = finance.get(LIST, {"period": "2026-02"}).content.decode()
    assert ">FA-ACME</a>" in html and ">FA-BETA</a>" in html
    assert SlaCredit.objects.filter(period=FEBRUARY).count() == 2
    assert set(SlaCredit.objects.filter(period=FEBRUARY).values_list("credit", flat=True)) == {D(0)}
    current = timezone.now().date().replace(day=1)
    finance.get(LIST, {"period": f"{current:%Y-%m}"})
    assert not SlaCredit.objects.filter(period=current).exists()


def test_the_list_sorts_and_exports_exact_figures(evaluated, finance):
    html = finance.get(LIST, {"sort": "-credit"}).content.decode()
    assert html.index(">FA-ACME</a>") < html.index(">FA-BETA</a>")
    response = finance.get(LIST, {"_export": "csv", "vendor": "acme", "period": "2026-03"})
    assert response.status_code == 200 and "sla_evaluations-2026-03.csv" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 1
    row = rows[0]
    assert (row["Month"], row["Agreement"], row["Vendor"], row["Status"]) == ("2026-03", "FA-ACME", "Acme AI", "owed")
    assert D(row["Credit"]) == D(40) and D(row["In-scope charges"]) == D(400) and row["Currency"] == "USD"
    assert (D(row["Measured"]), D(row["Breach"]), row["Claim by"]) == (D("99.7"), D("0.2"), "2026-04-30")


def test_the_list_never_queries_per_row(evaluated, finance):
    finance.get(LIST)  # warm up (session, content types)
    with CaptureQueriesContext(connection) as few:
        finance.get(LIST)
    for n in range(5):
        clause(evaluated.fa_acme, "error_rate", str(n), bands=[("0", "5")])
    sla_evaluate(month=MARCH)
    assert SlaCredit.objects.count() == 7
    with CaptureQueriesContext(connection) as many:
        finance.get(LIST)
    assert len(many) == len(few)


def test_readers_see_no_forms(evaluated, role_world):
    html = signed_in(role_world.user(Role.AUDITOR)).get(LIST).content.decode()
    assert ">FA-ACME</a>" in html and "USD 40.00" in html
    assert 'name="received_on"' not in html and "/reconciliation/sla/evaluate/" not in html


def test_the_scorecard_links_to_the_vendors_evaluations(evaluated, finance):
    html = finance.get("/vendors/acme/scorecard/", {"start": "2026-03-01", "end": "2026-03-31"}).content.decode()
    assert 'href="/reconciliation/sla/?vendor=acme"' in html


# A person's decision -----------------------------------------------------------------------------


def test_finance_marks_a_credit_received_on_a_date(evaluated, finance, role_world):
    credit = evaluated.credit
    before = credit.history.count()
    back = f"{LIST}?vendor=acme"
    response = finance.post(
        status_url(credit), {"status": "received", "received_on": "2026-05-03", "note": " CM-7 ", "next": back}
    )
    assert response.status_code == 302 and response["Location"] == back
    credit.refresh_from_db()
    assert (credit.status, credit.received_on, credit.note) == ("received", date(2026, 5, 3), "CM-7")
    assert credit.credit == D(40)  # the figures stay as they were claimed
    assert credit.history.count() == before + 1
    latest = credit.history.first()
    assert latest.history_user == role_world.user(Role.FINANCE)
    assert (latest.status, latest.received_on, latest.history_change_reason) == (
        "received",
        date(2026, 5, 3),
        "status set to received",
    )
    html = finance.get(back).content.decode()
    assert "FA-ACME Availability (%) 2026-03: received on 2026-05-03." in html
    assert "Received" in html and "overdue" not in html


def test_procurement_claims_and_an_outside_next_is_ignored(evaluated, role_world):
    client = signed_in(role_world.user(Role.PROCUREMENT))
    response = client.post(
        status_url(evaluated.credit), {"status": "claimed", "note": "ticket 42", "next": "https://evil.example/"}
    )
    assert response["Location"] == f"{LIST}?period=2026-03"
    evaluated.credit.refresh_from_db()
    assert (evaluated.credit.status, evaluated.credit.note, evaluated.credit.received_on) == (
        "claimed",
        "ticket 42",
        None,
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"status": "received", "note": "no date"}, "Received on: Give the date the credit was received."),
        ({"status": "claimed", "received_on": "2026-05-03"}, "Only a received credit has a date received."),
        ({"status": "received", "received_on": "3 May"}, "Enter a valid date."),
        ({"status": "paid"}, "Select a valid choice."),
    ],
    ids=["received-without-date", "date-without-received", "bad-date", "unknown-status"],
)
def test_a_refused_decision_shows_why_and_changes_nothing(evaluated, finance, data, message):
    credit = evaluated.credit
    before = credit.history.count()
    response = finance.post(status_url(credit), data, follow=True)
    html = response.content.decode()
    assert response.status_code == 200 and "alert-danger" in html and message in html
    credit.refresh_from_db()
    assert (credit.status, credit.received_on, credit.note) == ("owed", None, "")
    assert credit.history.count() == before


# Evaluating a month ------------------------------------------------------------------------------


def test_evaluate_now_creates_the_months_rows(world, finance, role_world):
    assert not SlaCredit.objects.exists()
    response = finance.post(EVALUATE, {"period": "2026-03"})
    assert response.status_code == 302 and response["Location"] == f"{LIST}?period=2026-03"
    rows = {row.agreement.reference: row for row in SlaCredit.objects.select_related("agreement")}
    assert set(rows) == {"FA-ACME", "FA-BETA"}
    acme = rows["FA-ACME"]
    assert (acme.period, acme.measured, acme.breach, acme.credit_percent) == (MARCH, D("99.7"), D("0.2"), D(10))
    assert (acme.in_scope_charges, acme.credit, acme.currency, acme.status) == (D(400), D(40), "USD", "owed")
    assert acme.history.first().history_user == role_world.user(Role.FINANCE)
    assert rows["FA-BETA"].credit == D(0)
    html = finance.get(response["Location"]).content.decode()
    assert "2026-03 evaluated: 2 SLA clauses, 1 with a credit." in html and "USD 40.00" in html


def test_evaluate_one_agreement_keeps_decided_credits(evaluated, finance):
    """Re-evaluating after a claim keeps the claimed figures, even with late usage."""
    credit = evaluated.credit
    finance.post(status_url(credit), {"status": "claimed"})
    rec(evaluated.acme, 21, agreement=evaluated.fa_acme, cost="100", requests=100, failed_requests=50)
    response = finance.post(EVALUATE, {"period": "2026-03", "agreement": "FA-ACME"})
    assert response["Location"] == f"{LIST}?period=2026-03&agreement=FA-ACME"
    html = finance.get(response["Location"]).content.decode()
    assert "FA-ACME 2026-03 evaluated: 1 SLA clause, 1 with a credit." in html
    assert "1 already claimed, received or waived kept its figures." in html
    credit.refresh_from_db()
    assert (credit.status, credit.credit) == ("claimed", D(40))


@pytest.mark.parametrize(
    ("period", "message"),
    [
        ("this-month", "has not ended yet"),
        ("March", "is not a month"),
        ("", "This field is required."),
    ],
)
def test_evaluate_refuses_a_month_that_has_not_ended(world, finance, period, message):
    if period == "this-month":
        period = f"{timezone.now().date():%Y-%m}"
    response = finance.post(EVALUATE, {"period": period}, follow=True)
    assert message in response.content.decode()
    assert not SlaCredit.objects.exists()


def test_evaluate_a_month_without_agreements(world, finance):
    response = finance.post(EVALUATE, {"period": "2025-06"}, follow=True)
    assert "no active or expired agreement with SLA clauses covers the month" in response.content.decode()
    assert not SlaCredit.objects.exists()


# Who may open and change what --------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.ADMIN, Role.PROCUREMENT, Role.FINANCE, Role.AUDITOR])
def test_readers_open_the_list(role, evaluated, role_world):
    assert signed_in(role_world.user(role)).get(LIST).status_code == 200


@pytest.mark.parametrize("role", [Role.DEPARTMENT_MANAGER, Role.SERVICE])
def test_managers_and_services_may_not_open_the_list(role, evaluated, role_world):
    assert signed_in(role_world.user(role)).get(LIST).status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(evaluated):
    response = Client().get(LIST)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert Client().post(status_url(evaluated.credit), {"status": "waived"}).status_code == 302


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.DEPARTMENT_MANAGER, Role.ADMIN])
def test_only_procurement_and_finance_change(role, evaluated, role_world):
    client = signed_in(role_world.user(role))
    credit = evaluated.credit
    data = {"status": "received", "received_on": "2026-05-03"}
    assert client.post(status_url(credit), data).status_code == 403
    assert client.post(EVALUATE, {"period": "2026-02"}).status_code == 403
    credit.refresh_from_db()
    assert credit.status == "owed" and not SlaCredit.objects.filter(period=FEBRUARY).exists()


def test_the_actions_answer_post_only(evaluated, finance):
    assert finance.get(EVALUATE).status_code == 405
    assert finance.get(status_url(evaluated.credit)).status_code == 405
    assert finance.post("/reconciliation/sla/999999/status/", {"status": "waived"}).status_code == 404
