"""The monthly report: packs written per audience, emailed through a real SMTP server on loopback
(aiosmtpd), archived, and each department manager's pack holding their departments only.

GIVEN October 2026's spend in a managed department (T-IN and its child), in a department the first
manager does not manage (T-OUT, "Secret Ops", which a second manager manages, on a vendor no one
else uses), budgets, forecasts, alerts and an SLA credit WHEN finance sends October's reports THEN
finance and procurement receive the company's pack, each manager the pack of their departments,
each with a PDF that opens, holding exactly their scope."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from pypdf import PdfReader

from accounts.services import user_create_or_update
from billing.models import Invoice, SlaCredit
from contracts.models import SlaClause
from core.models import JobRun
from core.roles import Role
from core.services import organization_settings_update
from core.testing import PASSWORD, token_client
from insights.models import Alert, Forecast, MonthlyReport, ReportDelivery
from insights.services.reports import reports_monthly_due
from insights.tasks_reports import reports_send
from procurement.tests.factories import BudgetFactory, VendorFactory

from .alerts_world import spend, tiered_agreement

pytestmark = pytest.mark.django_db

D = Decimal
OCTOBER = date(2026, 10, 1)


def flat(text: str) -> str:
    """PDF text without whitespace: chart labels come out of the PDF a glyph at a time."""
    return "".join(text.split())


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return flat("\n".join(page.extract_text() for page in reader.pages))


def forecast(subject: str, level: str) -> Forecast:
    days = [date(2026, 11, 1) + timedelta(days=i) for i in range(30)]
    value = D(level)
    return Forecast.objects.create(
        subject=subject,
        metric=Forecast.Metric.COST,
        method="ETS(A,Ad,A) on cost",
        currency="USD",
        history_start=date(2026, 9, 1),
        history_end=date(2026, 10, 31),
        horizon_end=days[-1],
        points=[
            {
                "date": d.isoformat(),
                "value": str(value),
                "low80": str(value * D("0.9")),
                "high80": str(value * D("1.1")),
                "low95": str(value * D("0.8")),
                "high95": str(value * D("1.2")),
            }
            for d in days
        ],
        actuals=[{"date": (OCTOBER + timedelta(days=i)).isoformat(), "value": str(value)} for i in range(31)],
    )


@pytest.fixture
def october(role_world):
    """T-IN spends 1 234.56 and its child 111.11 on Acme AI in October (1 000.00 in September);
    T-OUT ("Secret Ops", the second manager's) 9 876.54 on Hidden Vendor."""
    world = role_world
    world.outside.name = "Secret Ops"
    world.outside.save()
    other_manager, _ = user_create_or_update(
        username="t-manager-out",
        role=Role.DEPARTMENT_MANAGER,
        email="t-manager-out@example.com",
        departments=["T-OUT"],
        password=PASSWORD,
        validate_new_password=False,
    )
    acme = VendorFactory(slug="acme-ai", name="Acme AI")
    hidden = VendorFactory(slug="hidden-vendor", name="Hidden Vendor")
    spend(world.inside, acme, date(2026, 10, 5), "1234.56", list_cost=D("1500.00"), input_tokens=4_000_000)
    spend(world.inside_child, acme, date(2026, 10, 6), "111.11", list_cost=D("150.00"))
    spend(world.inside, acme, date(2026, 9, 7), "1000.00", list_cost=D("1200.00"))
    spend(world.outside, hidden, date(2026, 10, 8), "9876.54", list_cost=D("9876.54"))
    BudgetFactory(department=world.inside, fiscal_year=2026, amount=D("12000.00"), currency="USD")
    BudgetFactory(department=world.outside, fiscal_year=2026, amount=D("60000.00"), currency="USD")
    forecast("company", "400")
    forecast("department:T-IN", "45")
    forecast("department:T-OUT", "333")
    Alert.objects.create(
        type=Alert.Type.BUDGET_THRESHOLD,
        dedup_key="t-in",
        title="Managed budget at 80 %",
        department=world.inside,
        severity=Alert.Severity.WARNING,
    )
    Alert.objects.create(
        type=Alert.Type.BUDGET_THRESHOLD,
        dedup_key="t-out",
        title="Secret Ops budget at 95 %",
        department=world.outside,
        severity=Alert.Severity.CRITICAL,
    )
    deal, _ = tiered_agreement("FA-HIDDEN", "sla-vendor", tiers=[(0, "1")])
    clause = SlaClause.objects.create(agreement=deal, metric=SlaClause.Metric.LATENCY_P90, target=D("1500"))
    SlaCredit.objects.create(
        agreement=deal,
        clause=clause,
        period=OCTOBER,
        metric=clause.metric,
        target=D("1500"),
        measured=D("2100"),
        breach=D("600"),
        credit_percent=D("5"),
        in_scope_charges=D("246.80"),
        credit=D("12.34"),
        currency="USD",
        claim_by=date(2026, 12, 30),
    )
    Invoice.objects.create(department=world.outside, period=OCTOBER, currency="USD", total=D("9876.54"))
    world.other_manager = other_manager
    return world


def send_october(world, django_capture_on_commit_callbacks) -> JobRun:
    client = token_client(world.users[Role.FINANCE])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/reports/send", {"period": "2026-10"}, format="json")
    assert response.status_code == 202, response.content
    run = JobRun.objects.get(pk=response.json()["run"])
    assert run.status == JobRun.Status.SUCCEEDED, run.message
    return run


def attachment(message) -> tuple[str, bytes]:
    (part,) = [p for p in message.walk() if p.get_content_disposition() == "attachment"]
    assert part.get_content_type() == "application/pdf"
    return part.get_filename(), part.get_payload(decode=True)


def test_each_recipient_gets_exactly_their_scope(smtp, october, django_capture_on_commit_callbacks):
    world = october
    run = send_october(world, django_capture_on_commit_callbacks)

    users = world.users
    finance, procurement = users[Role.FINANCE].email, users[Role.PROCUREMENT].email
    manager, other = users[Role.DEPARTMENT_MANAGER].email, world.other_manager.email
    received = sorted(address for recipients, _ in smtp.messages for address in recipients)
    assert received == sorted([finance, procurement, manager, other])  # not admin, auditor, service

    company = pdf_text(attachment(smtp.to(finance)[0])[1])
    assert company == pdf_text(attachment(smtp.to(procurement)[0])[1])
    for figure in ("Managed", "SecretOps", "AcmeAI", "HiddenVendor", "$11,222.21", "SLAresultsandcredits"):
        assert figure in company, figure
    assert "$12.34" in company  # the SLA credit
    assert "FORECASTFORNOVEMBER2026$12,000.00" in company  # the KPI: 30 days × 400
    assert "Commitments:utilisationandprojectedshortfall" in company

    (message,) = smtp.to(manager)
    name, data = attachment(message)
    assert name.endswith(".pdf") and data.startswith(b"%PDF")
    mine = pdf_text(data)
    # their departments, their figures: 1 234.56 + 111.11, against 1 000.00 in September
    for figure in ("Managed", "T-IN", "T-IN-SUB", "AcmeAI", "$1,345.67", "$1,000.00", "Managedbudgetat80%"):
        assert figure in mine, figure
    # nothing of another department, nor the company's totals or company-level sections
    for figure in (
        "SecretOps",
        "T-OUT",
        "HiddenVendor",
        "$9,876.54",
        "$11,222.21",
        "SLAresults",
        "Reconciliation",
        "$12.34",
        "$60,000.00",
    ):
        assert figure not in mine, figure
    assert "Monthlyreport" in mine and "October2026" in mine
    assert "FORECASTFORNOVEMBER2026$1,350.00" in mine  # the KPI, T-IN: 30 days × 45

    (message,) = smtp.to(other)
    theirs = pdf_text(attachment(message)[1])
    assert "SecretOps" in theirs and "$9,876.54" in theirs
    assert "Managed" not in theirs and "AcmeAI" not in theirs and "$1,345.67" not in theirs

    # the email itself: text and HTML, the month's spend and a link to the archived pack
    bodies = {
        p.get_content_type(): p.get_payload(decode=True).decode()
        for p in smtp.to(manager)[0].walk()
        if p.get_content_disposition() != "attachment" and not p.is_multipart()
    }
    assert "$1,345.67" in bodies["text/plain"] and "$1,345.67" in bodies["text/html"]
    pack = MonthlyReport.objects.get(run=run, scope=MonthlyReport.Scope.DEPARTMENTS, deliveries__email=manager)
    assert f"https://tokenledger.example.com/reports/{pack.pk}/" in bodies["text/plain"]

    # archived: three packs, every delivery sent once
    assert MonthlyReport.objects.filter(run=run).count() == 3
    assert set(ReportDelivery.objects.values_list("status", flat=True)) == {ReportDelivery.Status.SENT}
    assert len(PdfReader(io.BytesIO(bytes(pack.pdf))).pages) >= 1


def test_a_run_delivered_again_sends_nothing_twice(smtp, october, django_capture_on_commit_callbacks):
    run = send_october(october, django_capture_on_commit_callbacks)
    sent = len(smtp.messages)
    # a worker died after the last email, before the run was marked finished: the task comes back
    JobRun.objects.filter(pk=run.pk).update(status=JobRun.Status.RUNNING)
    reports_send(run.pk)
    assert len(smtp.messages) == sent
    assert MonthlyReport.objects.filter(run=run).count() == 3
    # one delivery was still pending: only that one goes
    delivery = ReportDelivery.objects.filter(report__run=run).first()
    ReportDelivery.objects.filter(pk=delivery.pk).update(status=ReportDelivery.Status.PENDING)
    JobRun.objects.filter(pk=run.pk).update(status=JobRun.Status.RUNNING)
    reports_send(run.pk)
    assert len(smtp.messages) == sent + 1
    assert smtp.messages[-1][0] == [delivery.email]


def test_archive_and_pdf_are_scoped(smtp, october, django_capture_on_commit_callbacks):
    world = october
    run = send_october(world, django_capture_on_commit_callbacks)
    company = MonthlyReport.objects.get(run=run, scope=MonthlyReport.Scope.COMPANY)
    mine = MonthlyReport.objects.get(run=run, deliveries__email=world.users[Role.DEPARTMENT_MANAGER].email)

    manager = token_client(world.users[Role.DEPARTMENT_MANAGER])
    listed = manager.get("/api/v1/reports/").json()
    assert [r["id"] for r in listed["results"]] == [mine.pk]
    assert listed["results"][0]["departments"] == ["T-IN", "T-IN-SUB"]
    assert manager.get(f"/api/v1/reports/{company.pk}/").status_code == 404
    assert manager.get(f"/api/v1/reports/{company.pk}/pdf").status_code == 404
    response = manager.get(f"/api/v1/reports/{mine.pk}/pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    detail = manager.get(f"/api/v1/reports/{mine.pk}/").json()
    assert [d["email"] for d in detail["deliveries"]] == [world.users[Role.DEPARTMENT_MANAGER].email]
    assert manager.post("/api/v1/reports/send", {"period": "2026-10"}, format="json").status_code == 403

    auditor = token_client(world.users[Role.AUDITOR])
    assert auditor.get("/api/v1/reports/").json()["count"] == 3
    assert auditor.get("/api/v1/reports/?scope=company").json()["count"] == 1
    assert token_client(world.users[Role.SERVICE]).get("/api/v1/reports/").status_code == 403

    # the pages: the archive and a pack's PDF, the same way
    web = Client()
    web.force_login(world.users[Role.DEPARTMENT_MANAGER])
    page = web.get("/reports/")
    html = page.content.decode()
    assert page.status_code == 200 and mine.title in html and company.title not in html
    assert web.get(f"/reports/{company.pk}/pdf/").status_code == 404
    assert web.get(f"/reports/{mine.pk}/pdf/").content.startswith(b"%PDF")
    assert "send-title" not in html  # no "send now" form for a manager


def test_send_refuses_a_month_that_has_not_ended(role_world):
    finance = token_client(role_world.users[Role.FINANCE])
    this_month = date.today().replace(day=1)
    response = finance.post("/api/v1/reports/send", {"period": f"{this_month:%Y-%m}"}, format="json")
    assert response.status_code == 400
    assert "has not ended" in response.json()["message"]
    assert finance.post("/api/v1/reports/send", {"period": "2026-13"}, format="json").status_code == 400
    assert not JobRun.objects.filter(kind="report_send").exists()


def test_beat_sends_the_previous_month_once_on_the_report_day(role_world, django_capture_on_commit_callbacks):
    organization_settings_update(actor=None, monthly_report_day=3)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert reports_monthly_due(today=date(2026, 11, 2)) is None
        run = reports_monthly_due(today=date(2026, 11, 3))
        assert run is not None and run.params == {"period": "2026-10-01", "trigger": "schedule"}
        assert reports_monthly_due(today=date(2026, 11, 3)) is None  # once a month
        assert reports_monthly_due(today=date(2026, 11, 20)) is None
        december = reports_monthly_due(today=date(2026, 12, 9))  # beat was down on the 3rd: caught up
        assert december.params["period"] == "2026-11-01"
    assert len(callbacks) == 2  # each run's task is sent once its transaction commits


def test_the_demo_chain_refreshes_forecasts_then_sends_the_reports(smtp, october, django_capture_on_commit_callbacks):
    from insights.services.forecasts import forecasts_refresh_start

    finance = october.users[Role.FINANCE]
    with django_capture_on_commit_callbacks(execute=True):
        refresh = forecasts_refresh_start(subject="department:T-IN", actor=finance, then_reports=OCTOBER)
    refresh.refresh_from_db()
    assert refresh.status == JobRun.Status.SUCCEEDED
    sent = JobRun.objects.get(kind="report_send")
    assert sent.status == JobRun.Status.SUCCEEDED and sent.params["period"] == "2026-10-01"
    assert MonthlyReport.objects.filter(run=sent).count() == 3 and len(smtp.messages) == 4
