"""Reconciliation per vendor and month: hand-worked figures (reconciliation_world's docstring),
the tolerance, statuses a person sets and the history, the drill-down, FX, and the API with its
role matrix."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from billing.models import Reconciliation, VendorInvoice
from billing.selectors.reconciliation import reconciliation_drilldown, vendor_month_figures
from billing.services.reconciliation import (
    reconciliation_compute,
    reconciliation_status_set,
    reconciliations_compute_month,
)
from billing.services.vendor_invoices import vendor_invoice_create, vendor_invoice_update
from core.models import FxRate
from core.roles import Role
from core.testing import ALL_ROLES, assert_error_shape, expected_status, token_client

from .reconciliation_world import JANUARY, build, cost_line

pytestmark = pytest.mark.django_db
D = Decimal
FEBRUARY = date(2026, 2, 1)


@pytest.fixture
def month(role_world, django_capture_on_commit_callbacks):
    return build(role_world, django_capture_on_commit_callbacks)


def rows_by_vendor(rows) -> dict[str, Reconciliation]:
    return {row.vendor.slug: row for row in rows}


def codes(row) -> list[str]:
    return [w["code"] for w in row.warnings]


def test_hand_worked_month(month, role_world):
    rows = rows_by_vendor(reconciliations_compute_month(month=JANUARY, actor=role_world.user(Role.FINANCE)))
    assert set(rows) == {"anthropic", "openai", "deepseek", "qwen"}

    anthropic = rows["anthropic"]
    assert anthropic.currency == "USD"
    assert anthropic.expected_usage == D("60")  # 20.00 + 40.00
    assert anthropic.expected_shortfall == D("164")  # (100 M − 18 M) × 2.00 ÷ 10⁶
    assert anthropic.expected_sla_credits == D("6")  # the waived credit of 100.00 does not count
    assert anthropic.expected == D("218")  # 60 + 164 − 6
    assert anthropic.invoiced == D("219")  # the subtotal, before the 21.90 tax
    assert anthropic.vendor_reported == D("60.125")  # 2000 + 4012.5 cents
    assert anthropic.variance == D("1")  # 219 − 218
    assert anthropic.variance_percent == D("0.4587")  # 1 ÷ 218 × 100 = 0.45871…
    assert anthropic.tolerance_percent == D("1")
    assert anthropic.status == Reconciliation.Status.MATCHED
    assert codes(anthropic) == []

    openai = rows["openai"]
    assert (openai.expected, openai.invoiced, openai.vendor_reported) == (D("10"), None, D("10.5"))
    assert openai.variance == D("0.5") and openai.variance_percent == D("5")  # against the cost feed
    assert openai.status == Reconciliation.Status.NEEDS_REVIEW

    deepseek = rows["deepseek"]
    assert deepseek.currency == "CNY"
    assert deepseek.expected == D("31.85")  # 28.00 + 3.85 (the list price converted by the pipeline)
    assert deepseek.invoiced == D("31.85") and deepseek.variance == 0
    assert deepseek.status == Reconciliation.Status.NEEDS_REVIEW  # the unpriced record of 25 Jan
    assert codes(deepseek) == ["unpriced"]

    qwen = rows["qwen"]
    assert qwen.currency == "CNY"
    assert qwen.expected == D("22.4")  # 3.20 USD × 7.00 on 6 Jan; 25 Jan's 1.60 USD left out
    assert qwen.invoiced is None and qwen.vendor_reported is None and qwen.variance is None
    assert qwen.status == Reconciliation.Status.NEEDS_REVIEW
    assert codes(qwen) == ["fx_stale", "nothing_to_compare"]
    stale = qwen.warnings[0]
    assert stale["severity"] == "warning"
    assert (
        "1.6 USD could not be converted to CNY (latest rate 2026-01-06, older than 7 days, 2026-01-25)"
        in (stale["message"])
    )


def test_drilldown_by_model_and_by_day(month):
    figures = vendor_month_figures(month=JANUARY, vendor_ids=[month["anthropic"].pk])[month["anthropic"].pk]
    drill = reconciliation_drilldown(figures)
    by_model = {row.model: (row.tokens, row.expected, row.vendor_reported, row.invoiced) for row in drill.by_model}
    assert by_model == {
        "claude-haiku": (12_000_000, D("40"), D("40.125"), D("40")),
        "claude-sonnet-4": (6_000_000, D("20"), D("20"), D("20")),
        "": (0, D("0"), None, D("159")),  # invoice lines without a model: 164 − 6 + 1
    }
    assert [row.model for row in drill.by_model][:2] == ["claude-haiku", "claude-sonnet-4"]  # biggest first
    by_day = {row.day: (row.expected, row.vendor_reported, row.difference) for row in drill.by_day}
    assert by_day == {
        date(2026, 1, 10): (D("20"), D("20"), D("0")),
        date(2026, 1, 20): (D("40"), D("40.125"), D("0.125")),
    }
    assert [(s.agreement, s.period_end, s.charge, s.final) for s in figures.shortfalls] == [
        ("FA-ANTH", date(2026, 1, 31), D("164"), True)
    ]
    assert [(c.metric, c.converted) for c in figures.credits] == [("latency_p90", D("6"))]
    assert drill.invoice_lines_missing is False


@pytest.mark.parametrize(
    ("tolerance", "status"), [("0.4", "needs_review"), ("0.4587", "needs_review"), ("0.46", "matched")]
)
def test_the_tolerance_comes_from_the_setting(tolerance, status, month, settings):
    settings.RECONCILIATION_TOLERANCE_PERCENT = tolerance
    row = reconciliation_compute(vendor=month["anthropic"], month=JANUARY)
    assert row.status == status and row.tolerance_percent == D(tolerance)


def test_a_persons_status_stays_through_recomputations_and_the_history_keeps_everything(month, role_world):
    finance = role_world.user(Role.FINANCE)
    row = reconciliation_compute(vendor=month["anthropic"], month=JANUARY, actor=finance)
    assert row.status == "matched"
    reconciliation_status_set(
        reconciliation=row, status="disputed", note="Support fee not in the contract", actor=finance
    )

    # the vendor sends a corrected invoice: the figures move, the person's status stays
    vendor_invoice_update(
        invoice=month["anthropic_invoice"],
        actor=finance,
        lines=[
            {"description": "Claude usage", "amount": D("60.00")},
            {"description": "Commitment shortfall", "amount": D("164.00")},
            {"description": "SLA credit", "amount": D("-6.00")},
        ],
    )
    row = reconciliation_compute(vendor=month["anthropic"], month=JANUARY, actor=finance)
    assert (row.invoiced, row.variance, row.status, row.note) == (
        D("218"),
        D("0"),
        "disputed",
        "Support fee not in the contract",
    )

    reconciliation_status_set(reconciliation=row, status="accepted", note="Credited on the next invoice", actor=finance)
    history = list(row.history.order_by("history_date", "pk"))
    assert [(h.status, h.note, h.invoiced, h.history_change_reason) for h in history] == [
        ("matched", "", D("219"), "computed"),
        ("disputed", "Support fee not in the contract", D("219"), "status set to disputed"),
        ("disputed", "Support fee not in the contract", D("218"), "recomputed"),
        ("accepted", "Credited on the next invoice", D("218"), "status set to accepted"),
    ]
    assert {h.history_user for h in history} == {finance}

    # handing the status back to the figures: the next computation decides
    reconciliation_status_set(reconciliation=row, status="needs_review", note="", actor=finance)
    assert reconciliation_compute(vendor=month["anthropic"], month=JANUARY).status == "matched"


def test_an_unchanged_recomputation_writes_nothing(month):
    reconciliations_compute_month(month=JANUARY)
    before = Reconciliation.history.count()
    rows = reconciliations_compute_month(month=JANUARY)
    assert len(rows) == 4 and Reconciliation.history.count() == before


def test_an_unknown_status_is_refused(month):
    from django.core.exceptions import ValidationError

    row = reconciliation_compute(vendor=month["anthropic"], month=JANUARY)
    with pytest.raises(ValidationError, match="not a reconciliation status"):
        reconciliation_status_set(reconciliation=row, status="paid", note="", actor=None)


def test_a_shortfall_alone_makes_a_row(month):
    """GIVEN no Anthropic usage in February WHEN February is computed THEN its whole monthly
    commitment is short: 100 M × 2.00 ÷ 10⁶ = 200.00, expected and nothing to compare."""
    rows = rows_by_vendor(reconciliations_compute_month(month=FEBRUARY))
    assert set(rows) == {"anthropic"}
    row = rows["anthropic"]
    assert (row.expected_usage, row.expected_shortfall, row.expected) == (D("0"), D("200"), D("200"))
    assert row.status == "needs_review" and codes(row) == ["nothing_to_compare"]


def test_an_invoice_in_another_currency_is_converted_at_its_date(month, role_world):
    """GIVEN an OpenAI invoice in EUR dated 30 Jan (EUR/USD 1.10) THEN 10.00 EUR count 11.00 USD."""
    vendor_invoice_create(
        actor=role_world.user(Role.FINANCE),
        vendor=month["openai"],
        number="EU-7",
        invoice_date=date(2026, 1, 30),
        period=JANUARY,
        currency="EUR",
        subtotal=D("10.00"),
    )
    row = reconciliation_compute(vendor=month["openai"], month=JANUARY)
    assert row.invoiced == D("11") and row.variance == D("1") and row.variance_percent == D("10")
    # dated where no rate is usable: left out, with a warning
    VendorInvoice.objects.filter(number="EU-7").update(invoice_date=date(2026, 3, 1))
    row = reconciliation_compute(vendor=month["openai"], month=JANUARY)
    assert row.invoiced == D("0") and codes(row)[0] == "fx_stale" and row.status == "needs_review"


def test_vendor_reported_in_another_currency_and_tax_lines_left_out(month):
    """A FOCUS-style cost line in USD for the CNY vendor DeepSeek is converted at its day's rate;
    a Tax line is not a charge for the service."""
    cost_line(month["deepseek"], date(2026, 1, 5), "4.55", "USD", model="deepseek-chat")
    cost_line(month["deepseek"], date(2026, 1, 5), "0.50", "USD", charge_category="Tax")
    row = reconciliation_compute(vendor=month["deepseek"], month=JANUARY)
    assert row.vendor_reported == D("31.85")  # 4.55 USD × 7.00 on 5 Jan


# The API ---------------------------------------------------------------------------------------------------------

URL = "/api/v1/reconciliations/"


def test_listing_a_month_computes_it(month, role_world):
    client = token_client(role_world.user(Role.AUDITOR))
    assert client.get(URL).json()["count"] == 0
    body = client.get(URL, {"period": "2026-01"}).json()
    assert body["count"] == 4
    anthropic = next(r for r in body["results"] if r["vendor"] == "anthropic")
    assert anthropic["period"] == "2026-01"
    assert anthropic["expected"] == "218.000000000000"
    assert anthropic["invoiced"] == "219.000000000000"
    assert anthropic["variance"] == "1.000000000000" and anthropic["variance_percent"] == "0.4587"
    assert anthropic["basis"] == "invoice" and anthropic["feed_variance"] == "-157.875000000000"
    assert anthropic["status"] == "matched"
    openai = next(r for r in body["results"] if r["vendor"] == "openai")
    assert openai["basis"] == "vendor_feed" and openai["variance"] == "0.500000000000"
    filtered = client.get(URL, {"period": "2026-01", "status": "needs_review"}).json()
    assert {r["vendor"] for r in filtered["results"]} == {"openai", "deepseek", "qwen"}
    by_vendor = client.get(URL, {"vendor": "qwen"}).json()
    assert [r["vendor"] for r in by_vendor["results"]] == ["qwen"]


@pytest.mark.parametrize("period", ["2026-13", "january", "2026-01-15"])
def test_a_bad_period_is_400(period, role_world):
    response = token_client(role_world.user(Role.FINANCE)).get(URL, {"period": period})
    assert response.status_code == 400
    assert_error_shape(response)
    assert "period" in response.json()["extra"]["fields"]


def test_the_detail_has_the_drilldown_and_the_history(month, role_world):
    client = token_client(role_world.user(Role.FINANCE))
    row = reconciliation_compute(vendor=month["anthropic"], month=JANUARY)
    body = client.get(f"{URL}{row.pk}/").json()
    drill = body["drilldown"]
    assert drill["by_model"][0] == {
        "model": "claude-haiku",
        "tokens": 12000000,
        "expected": "40.000000000000",
        "vendor_reported": "40.125000000000",
        "invoiced": "40.000000000000",
        "difference": "0.125000000000",
    }
    assert [d["date"] for d in drill["by_day"]] == ["2026-01-10", "2026-01-20"]
    assert drill["shortfalls"][0]["charge"] == "164.000000000000"
    assert drill["invoices"] == [
        {
            "id": month["anthropic_invoice"].pk,
            "number": "ANT-2026-01",
            "invoice_date": "2026-02-03",
            "status": "received",
            "currency": "USD",
            "subtotal": "219.000000",
            "converted": "219.000000000000",
        }
    ]
    assert body["history"][0]["status"] == "matched"


def test_setting_a_status(month, role_world):
    row = reconciliation_compute(vendor=month["openai"], month=JANUARY)
    client = token_client(role_world.user(Role.FINANCE))
    response = client.post(f"{URL}{row.pk}/status", {"status": "accepted", "note": "Rounding"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "accepted" and response.json()["note"] == "Rounding"
    unknown = client.post(f"{URL}{row.pk}/status", {"status": "paid"}, format="json")
    assert unknown.status_code == 400
    assert_error_shape(unknown)
    assert "status" in unknown.json()["extra"]["fields"]
    assert client.post(f"{URL}{row.pk}/status/", {"status": "disputed"}, format="json").status_code == 200
    assert client.post(f"{URL}99999/status", {"status": "disputed"}, format="json").status_code == 404


def test_compute_endpoint(month, role_world):
    client = token_client(role_world.user(Role.FINANCE))
    response = client.post(f"{URL}compute", {"period": "2026-01"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["count"] == 4 and response.json()["period"] == "2026-01"
    one = client.post(f"{URL}compute/", {"period": "2026-01", "vendor": "openai"}, format="json").json()
    assert [r["vendor"] for r in one["results"]] == ["openai"]
    assert client.post(f"{URL}compute", {}, format="json").status_code == 400


@pytest.mark.parametrize("role", [None, *ALL_ROLES], ids=lambda r: getattr(r, "value", "anonymous"))
def test_role_matrix(role, month, role_world):
    row = reconciliation_compute(vendor=month["openai"], month=JANUARY)
    client = token_client(role_world.user(role)) if role else APIClient()
    read = expected_status(role, "reconciliation", "view", ok=200)
    change = expected_status(role, "reconciliation", "change", ok=200)
    assert client.get(URL, {"period": "2026-01"}).status_code == read
    assert client.get(f"{URL}{row.pk}/").status_code == read
    assert client.post(f"{URL}{row.pk}/status", {"status": "accepted"}, format="json").status_code == change
    assert client.post(f"{URL}compute", {"period": "2026-01"}, format="json").status_code == change
    if role in (Role.FINANCE, Role.PROCUREMENT, Role.AUDITOR):
        assert read == 200
    if role in (Role.DEPARTMENT_MANAGER, Role.SERVICE):
        assert read == 403 and change == 403
    if role in (Role.PROCUREMENT, Role.AUDITOR):
        assert change == 403


def test_fx_rates_missing_entirely_are_flagged_never_guessed(month):
    FxRate.objects.all().delete()
    row = reconciliation_compute(vendor=month["qwen"], month=JANUARY)
    assert row.expected == 0 and codes(row)[0] == "fx_missing"
