"""Chargeback invoices from rated usage: hand-worked blended rates, close, issue, late data as
prior-period adjustments, credit notes, shortfall shares, four-eyes and roles.

The agreement: input graduated 0.27 → 0.20 per 1M from 1 000 000 000 tokens, output flat 1.10;
cached input has no rule (list price 0.25, off-contract). March 2026: T-IN uses 600M input,
100 000 output and 1M cached; T-OUT 800M input (crossing the boundary) and 50 000 output.
Input costs 1B × 0.27 + 0.4B × 0.20 = 350.00 for 1.4B tokens: a blended 0.25 per 1M, so
T-IN pays 150.00 and T-OUT 200.00 whatever order the records came in."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection

from accounts.services import user_create_or_update
from billing.models import Invoice, Period
from billing.services.invoices import (
    invoice_approve,
    invoice_credit_note_create,
    invoice_issue,
    invoices_generate,
)
from billing.services.periods import period_close
from core.exceptions import ApplicationError, Conflict, Forbidden
from core.models import JobRun
from core.roles import Role
from core.services import organization_settings_update
from core.testing import token_client
from usage.tests.factories import record, world

pytestmark = pytest.mark.django_db(transaction=True)

MARCH = date(2026, 3, 1)
APRIL = date(2026, 4, 1)


def agreement(client, **overrides) -> dict:
    body = {
        "reference": "FA-ACME",
        "vendor": "acme",
        "start": "2026-01-01",
        "end": "2026-12-31",
        "currency": "USD",
        "status": "active",
        "price_rules": [
            {
                "model_pattern": "acme-*",
                "token_class": "input",
                "schedule": "graduated",
                "tiers": [{"from_tokens": 0, "price": "0.27"}, {"from_tokens": 1_000_000_000, "price": "0.20"}],
            },
            {
                "model_pattern": "acme-*",
                "token_class": "output",
                "schedule": "flat",
                "tiers": [{"from_tokens": 0, "price": "1.10"}],
            },
        ],
        "commitments": [],
        "sla_clauses": [],
    }
    body.update(overrides)
    response = client.post("/api/v1/agreements/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def rec(i, day, department, tokens_in, tokens_out=0, cached=0, month=3, hour=0):
    return record(
        i,
        external_id=f"r{i}",
        vendor="acme",
        model="acme-large",
        bucket_start=f"2026-{month:02d}-{day:02d}T{hour:02d}:00:00Z",
        bucket_end=None,
        input_tokens=tokens_in,
        cached_input_tokens=cached,
        output_tokens=tokens_out,
        department=department,
    )


def ingest(client, records):
    response = client.post("/api/v1/usage/records", records, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["rejected"] == 0, response.json()


def lines_of(invoice) -> dict[tuple[str, str], tuple[int, Decimal, Decimal | None]]:
    return {
        (line.kind, line.token_class): (line.tokens, line.amount, line.unit_price)
        for line in invoice.lines.order_by("position")
    }


def close_and_generate(user, month=MARCH, **kwargs):
    period_close(month=month, actor=user, **kwargs)
    invoices, summary = invoices_generate(month=month, actor=user)
    return {invoice.department.code: invoice for invoice in invoices}, summary


def test_lines_at_the_months_blended_rate(march):
    finance = march.user(Role.FINANCE)
    invoices, summary = close_and_generate(finance)
    assert set(invoices) == {"T-IN", "T-OUT"}
    inside, outside = invoices["T-IN"], invoices["T-OUT"]
    assert lines_of(inside) == {
        ("usage", "input"): (600_000_000, Decimal("150.000"), Decimal("0.250000000000")),
        ("usage", "output"): (100_000, Decimal("0.110"), Decimal("1.100000000000")),
        ("usage", "cached_input"): (1_000_000, Decimal("0.250"), Decimal("0.250000000000")),
    }
    # 50 000 × 1.10 / 1M = 0.055, rounded half up on the line
    assert lines_of(outside) == {
        ("usage", "input"): (800_000_000, Decimal("200.000"), Decimal("0.250000000000")),
        ("usage", "output"): (50_000, Decimal("0.060"), Decimal("1.100000000000")),
    }
    assert inside.total == Decimal("150.36") and outside.total == Decimal("200.06")
    assert inside.status == Invoice.Status.DRAFT and inside.number is None
    assert Period.objects.get(month=MARCH).invoiced_at is not None
    assert summary["invoices"] == 2


def test_regenerating_a_draft_replaces_its_lines(march):
    finance = march.user(Role.FINANCE)
    invoices, _ = close_and_generate(finance)
    again, _ = invoices_generate(month=MARCH, actor=finance)
    assert {i.pk for i in again} == {i.pk for i in invoices.values()}
    assert Invoice.objects.get(pk=invoices["T-IN"].pk).lines.count() == 3


def test_close_needs_ended_month_and_acknowledged_unallocated_usage(march):
    finance = march.user(Role.FINANCE)
    ingest(
        march.finance_client,
        [
            record(
                9,
                external_id="nodept",
                vendor="acme",
                model="acme-large",
                bucket_start="2026-03-05T00:00:00Z",
                bucket_end=None,
                input_tokens=100_000_000,
                cached_input_tokens=0,
                output_tokens=0,
                project_id="nobody",
            )
        ],
    )
    with pytest.raises(Conflict) as refused:
        period_close(month=MARCH, actor=finance)
    assert refused.value.extra["unallocated"] == 1
    assert not Period.objects.filter(month=MARCH, status="closed").exists()
    with pytest.raises(Conflict):
        invoices_generate(month=MARCH, actor=finance)
    period = period_close(month=MARCH, actor=finance, acknowledge_unallocated=True, note="known gap")
    assert period.is_closed and period.acknowledged["unallocated"] == 1
    # unallocated usage is in the blended rate but nobody's invoice: input is 1.5B tokens for
    # 1B × 0.27 + 0.5B × 0.20 = 370.00; T-IN 600M → 148.00, T-OUT 800M → 197.33, 100M → 24.67 not charged
    invoices, summary = invoices_generate(month=MARCH, actor=finance)
    amounts = {i.department.code: i.lines.get(token_class="input").amount for i in invoices}
    assert amounts == {"T-IN": Decimal("148.000"), "T-OUT": Decimal("197.330")}
    assert summary["unallocated_not_charged"] == "24.67"
    with pytest.raises(Conflict):
        period_close(month=MARCH, actor=finance, acknowledge_unallocated=True)
    with pytest.raises(Conflict, match="has not ended"):
        period_close(month=date(2099, 1, 1), actor=finance)


def test_issue_numbers_freezes_and_answers_409_the_second_time(march):
    finance = march.user(Role.FINANCE)
    invoices, _ = close_and_generate(finance)
    client = march.finance_client
    response = client.post(f"/api/v1/invoices/{invoices['T-IN'].pk}/issue")
    assert response.status_code == 200, response.content
    body = response.json()
    year = body["issue_date"][:4]
    assert body["number"] == f"CB-{year}-000001" and body["status"] == "issued"
    assert body["total"] == "150.360" and body["has_pdf"] is True
    again = client.post(f"/api/v1/invoices/{invoices['T-IN'].pk}/issue")
    assert again.status_code == 409 and again.json()["message"]
    pdf = client.get(f"/api/v1/invoices/{invoices['T-IN'].pk}/pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content if pdf.streaming else [pdf.content]).startswith(b"%PDF")
    second = client.post(f"/api/v1/invoices/{invoices['T-OUT'].pk}/issue").json()
    assert second["number"] == f"CB-{year}-000002"
    # regenerating leaves issued invoices as they are
    _, summary = invoices_generate(month=MARCH, actor=finance)
    assert len(summary["skipped"]) == 2
    assert Invoice.objects.get(pk=invoices["T-IN"].pk).total == Decimal("150.36")


def test_late_data_after_close_lands_as_prior_period_adjustments(march):
    finance = march.user(Role.FINANCE)
    invoices, _ = close_and_generate(finance)
    for invoice in invoices.values():
        invoice_issue(invoice=invoice, actor=finance, render_pdf=False)
    issued_before = {code: Invoice.objects.get(pk=i.pk).total for code, i in invoices.items()}
    # a late March record: 200M more input for T-IN, first of the month (re-rated after commit)
    ingest(march.finance_client, [rec(3, 1, "T-IN", 200_000_000)])
    # input is now 1.6B for 1B × 0.27 + 0.6B × 0.20 = 390.00: a blended 0.24375 per 1M
    april, _ = close_and_generate(finance, month=APRIL)
    adjustments = {
        code: {
            (line.kind, line.token_class, line.service_period): (line.tokens, line.amount) for line in inv.lines.all()
        }
        for code, inv in april.items()
    }
    # T-IN: 800M × 0.24375 = 195.00, billed 150.00 → +45.00; T-OUT: 195.00, billed 200.00 → −5.00
    assert adjustments["T-IN"] == {("adjustment", "input", MARCH): (200_000_000, Decimal("45.000"))}
    assert adjustments["T-OUT"] == {("adjustment", "input", MARCH): (0, Decimal("-5.000"))}
    assert {code: Invoice.objects.get(pk=i.pk).total for code, i in invoices.items()} == issued_before
    # generating April again bills nothing twice
    again, _ = invoices_generate(month=APRIL, actor=finance)
    assert sorted(i.total for i in again) == [Decimal("-5.00"), Decimal("45.00")]


def test_credit_notes_reference_the_original_and_never_exceed_it(march):
    finance = march.user(Role.FINANCE)
    invoices, _ = close_and_generate(finance)
    original = invoice_issue(invoice=invoices["T-IN"], actor=finance, render_pdf=False)
    input_line = original.lines.get(token_class="input")
    client = march.finance_client
    too_much = client.post(
        f"/api/v1/invoices/{original.pk}/credit-note",
        {"reason": "overcharged", "lines": [{"line": input_line.pk, "amount": "150.01"}]},
        format="json",
    )
    assert too_much.status_code == 400, too_much.content
    partial = client.post(
        f"/api/v1/invoices/{original.pk}/credit-note",
        {"reason": "discount agreed", "lines": [{"line": input_line.pk, "amount": "50.00"}]},
        format="json",
    )
    assert partial.status_code == 201, partial.content
    assert partial.json()["kind"] == "credit_note" and partial.json()["original"] == original.number
    assert partial.json()["total"] == "-50.000"
    rest = invoice_credit_note_create(invoice=original, reason="cancelled", actor=finance)
    assert rest.total == Decimal("-100.36")
    with pytest.raises(Conflict, match="Nothing is left"):
        invoice_credit_note_create(invoice=original, reason="again", actor=finance)
    issued = invoice_issue(invoice=rest, actor=finance, render_pdf=False)
    assert issued.number.startswith("CN-") and issued.number.endswith("-000001")
    with pytest.raises(Conflict):
        invoice_credit_note_create(invoice=invoices["T-OUT"], reason="draft", actor=finance)


def test_shortfall_shares_central_and_pro_rata(role_world):
    world(vendor="acme", model="acme-large", price_in="0.50", price_out="2", cached="0.25")
    commitment = {
        "unit": "tokens",
        "amount": "2000000000",
        "period": "monthly",
        "token_classes": ["input"],
        "treatment": "take_or_pay",
        "shortfall_price": "0.10",
        "shortfall_allocation": "pro_rata",
    }
    agreement(token_client(role_world.user(Role.PROCUREMENT)), commitments=[commitment])
    finance_client = token_client(role_world.user(Role.FINANCE))
    ingest(finance_client, [rec(1, 2, "T-OUT", 800_000_000), rec(2, 3, "T-IN", 600_000_000)])
    invoices, _ = close_and_generate(role_world.user(Role.FINANCE))
    # 2B committed, 1.4B used: 600M × 0.10 / 1M = 60.00, shared 600:800
    shortfall = {code: inv.lines.get(kind="shortfall").amount for code, inv in invoices.items()}
    assert shortfall == {"T-IN": Decimal("25.710"), "T-OUT": Decimal("34.290")}


def test_four_eyes_needs_a_second_person(march):
    finance = march.user(Role.FINANCE)
    other, _ = user_create_or_update(
        username="t-finance-2",
        role=Role.FINANCE,
        email="f2@example.com",
        departments=[],
        password="x" * 20,
        validate_new_password=False,
    )
    organization_settings_update(actor=march.user(Role.ADMIN), four_eyes_enabled=True)
    invoices, _ = close_and_generate(finance)
    invoice = invoices["T-IN"]
    with pytest.raises(Conflict, match="approved"):
        invoice_issue(invoice=invoice, actor=finance, render_pdf=False)
    with pytest.raises(Forbidden):
        invoice_approve(invoice=invoice, actor=finance)
    invoice_approve(invoice=invoice, actor=other)
    issued = invoice_issue(invoice=invoice, actor=finance, render_pdf=False)
    assert issued.is_issued and issued.approved_by == other


def test_numbers_are_gapless_and_distinct_when_issued_in_parallel(march):
    finance = march.user(Role.FINANCE)
    period_close(month=MARCH, actor=finance)
    from procurement.models import Department

    drafts = []
    for n in range(12):
        department = Department.objects.create(code=f"PAR-{n}", name=f"Parallel {n}")
        drafts.append(Invoice.objects.create(department=department, period=MARCH, currency="USD", total=1))
    numbers, errors = [], []
    barrier = threading.Barrier(4)

    def issue_some(batch):
        try:
            barrier.wait()
            for invoice in batch:
                numbers.append(invoice_issue(invoice=invoice, actor=finance, render_pdf=False).number)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=issue_some, args=(drafts[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    sequence = sorted(int(number.rsplit("-", 1)[1]) for number in numbers)
    assert sequence == list(range(1, 13))
    assert len(set(numbers)) == 12


def test_roles_and_department_scoping(march):
    finance = march.user(Role.FINANCE)
    invoices, _ = close_and_generate(finance)
    manager = token_client(march.user(Role.DEPARTMENT_MANAGER))
    listed = manager.get("/api/v1/invoices/").json()
    assert [row["department"] for row in listed["results"]] == ["T-IN"]
    assert manager.get(f"/api/v1/invoices/{invoices['T-OUT'].pk}/").status_code == 404
    assert manager.get(f"/api/v1/invoices/{invoices['T-IN'].pk}/pdf").status_code == 200
    assert manager.post(f"/api/v1/invoices/{invoices['T-IN'].pk}/issue").status_code == 403
    auditor = token_client(march.user(Role.AUDITOR))
    assert auditor.get(f"/api/v1/invoices/{invoices['T-OUT'].pk}/").json()["lines"]
    assert auditor.post(f"/api/v1/invoices/{invoices['T-OUT'].pk}/issue").status_code == 403
    assert auditor.post("/api/v1/periods/2026-04/close", {}, format="json").status_code == 403
    assert (
        token_client(march.user(Role.PROCUREMENT))
        .post("/api/v1/invoices/generate", {"period": "2026-03"}, format="json")
        .status_code
        == 403
    )
    assert token_client(march.user(Role.SERVICE)).get("/api/v1/invoices/").status_code == 403


def test_generate_and_issue_through_the_api_as_runs(march):
    client = march.finance_client
    refused = client.post("/api/v1/invoices/generate", {"period": "2026-03"}, format="json")
    assert refused.status_code == 409
    closed = client.post("/api/v1/periods/2026-03/close", {}, format="json")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    periods = client.get("/api/v1/periods/").json()["results"]
    assert {"period": "2026-03", "status": "closed"}.items() <= periods[0].items()
    response = client.post("/api/v1/invoices/generate", {"period": "2026-03"}, format="json")
    assert response.status_code == 202
    run = JobRun.objects.get(pk=response.json()["run"])
    assert run.status == "succeeded", run.message
    assert run.result["invoices"] == 2
    drafts = client.get("/api/v1/invoices/?period=2026-03&status=draft").json()
    assert drafts["count"] == 2
    response = client.post("/api/v1/invoices/issue", {"period": "2026-03"}, format="json")
    assert response.status_code == 202
    run = JobRun.objects.get(pk=response.json()["run"])
    assert run.status == "succeeded", run.message
    issued = client.get("/api/v1/invoices/?period=2026-03&status=issued").json()["results"]
    assert sorted(row["number"][-6:] for row in issued) == ["000001", "000002"]
    assert client.post("/api/v1/invoices/generate", {"period": "March"}, format="json").status_code == 400
    with pytest.raises(ApplicationError):
        invoices_generate(month=date(2026, 3, 2), actor=march.user(Role.FINANCE))
