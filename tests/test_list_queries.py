"""Every list page of the web UI answers in a pinned number of queries, however many rows it shows.

For each page (and the role that sees the most: finance, or admin where only administrators see
everything; again as a department manager where the list is scoped to their departments), GIVEN
N rows planted, WHEN the page is fetched, THEN it costs PINNED[page] queries; and with three times
as many rows (still one page of 50) it costs the same. A page that starts querying once per row
fails the second half; a page that adds a query fails the first.

Updating PINNED: when a change adds or removes a query on purpose, run
    .venv/bin/python -m scripts.test tests/test_list_queries.py -q -p no:randomly
read the count each failing case prints ("… answered in X queries, pinned Y") and the queries it
lists, check the new query is meant, and write X into the table. Never raise a count to make a
per-row failure pass: fix the queryset (select_related, prefetch_related, annotate) instead.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.roles import Role

pytestmark = pytest.mark.django_db

# page → queries of one GET. Both halves of each test must give this number (see the docstring).
PINNED: dict[str, int] = {
    "vendors": 7,
    "price book": 7,
    "certifications": 7,
    "agreements": 11,
    "departments": 10,
    "departments, sorted": 10,
    "departments (manager)": 12,
    "budgets": 9,
    "budgets (manager)": 11,
    "fx rates": 6,
    "usage sources": 6,
    "ingestion runs": 6,
    "vendor cost lines": 9,
    "attribution rules": 6,
    "users": 7,
    "api tokens": 6,
    "invoices": 11,
    "invoices (manager)": 10,
    "periods": 8,
    "vendor invoices": 8,
    "reconciliation": 20,
    "gl accounts": 8,
    "sla evaluations": 10,
    "alerts": 9,
    "alerts (manager)": 11,
    "alert rules": 6,
    "monthly reports": 6,
    "monthly reports (manager)": 8,
    "approvals": 6,
    "usage explorer": 9,
    "usage explorer (manager)": 11,
    "dashboard": 15,
    "dashboard (manager)": 13,
    "agreements csv": 11,
    "invoices csv": 10,
    "vendor cost lines csv": 6,
    "vendor invoices csv": 7,
    "budgets csv": 6,
    "departments csv": 8,
    "users csv": 7,
}

N = 4  # rows planted first; then 2 × N more (3 × N in all, under the 50 rows of a page)
# The dashboard and the explorer are asked about a fixed day, so their counts do not move with the
# calendar (e.g. a fiscal year with no earlier month in January).
AS_OF = date(2026, 6, 15)
_unique = itertools.count(1)


def next_id() -> int:
    return next(_unique)


# Planting rows -----------------------------------------------------------------------------------
# Each plant(world, n) adds n rows of its page, each with the relations its table shows, placed in
# the department manager's department where the list is department-scoped.


def plant_vendors(world, n):
    from procurement.services import vendor_save
    from procurement.tests.factories import VendorCertificationFactory

    for _ in range(n):
        i = next_id()
        vendor = vendor_save(
            actor=None,
            slug=f"lq-vendor-{i}",
            name=f"LQ Vendor {i}",
            kind="producer",
            country="US",
            billing_currency="USD",
            aliases=[f"lq-alias-{i}", f"lq-other-{i}"],
        )
        VendorCertificationFactory(vendor=vendor)


def plant_certifications(world, n):
    from procurement.tests.factories import VendorCertificationFactory, VendorFactory

    for _ in range(n):
        VendorCertificationFactory(vendor=VendorFactory(slug=f"lq-cert-vendor-{next_id()}"))


def plant_price_book(world, n):
    from procurement.tests.factories import VendorFactory, VendorModelFactory

    for _ in range(n):
        VendorModelFactory(vendor=VendorFactory(slug=f"lq-price-vendor-{next_id()}"), cached_input_price=Decimal(1))


def plant_agreements(world, n):
    from accounts.models import ApprovalRequest
    from billing.tests.factories import agreement, commitment
    from contracts.models import PriceRule, PriceTier, SlaClause
    from procurement.tests.factories import VendorFactory

    for _ in range(n):
        i = next_id()
        deal = agreement(f"LQ-FA-{i}", vendor=VendorFactory(slug=f"lq-deal-vendor-{i}", billing_currency="USD"))
        commitment(deal, amount="1000000000")
        commitment(deal, unit="USD", amount="5000", treatment="prepaid")
        rule = PriceRule.objects.create(agreement=deal, model_pattern="model-*", token_class="input")
        PriceTier.objects.create(rule=rule, from_tokens=0, price=Decimal("0.5"))
        SlaClause.objects.create(agreement=deal, metric=SlaClause.Metric.LATENCY_P90, target=Decimal(1500))
        ApprovalRequest.objects.create(
            action="agreement_change",
            resource="agreement",
            object_key=deal.reference,
            summary=f"Change {deal.reference}",
            requested_by=world.user(Role.PROCUREMENT),
        )


def plant_departments(world, n):
    from procurement.services import department_save
    from procurement.tests.factories import DepartmentFactory

    for _ in range(n):
        i = next_id()
        department = DepartmentFactory(code=f"LQ-D{i}", parent=world.inside)
        DepartmentFactory(code=f"LQ-D{i}-SUB", parent=department)
        department_save(department=department, actor=None, managers=["t-department_manager"])


def plant_budgets(world, n):
    from procurement.tests.factories import BudgetFactory, DepartmentFactory, VendorFactory

    year = timezone.now().date().year
    for _ in range(n):
        i = next_id()
        department = DepartmentFactory(code=f"LQ-B{i}", parent=world.inside)
        BudgetFactory(department=department, vendor=VendorFactory(slug=f"lq-budget-vendor-{i}"), fiscal_year=year)
        BudgetFactory(department=department, fiscal_year=year, monthly_amounts=[Decimal(1000)] * 12)


def plant_fx_rates(world, n):
    from core.models import FxRate

    for _ in range(n):
        FxRate.objects.create(date=date(2020, 1, 1) + timedelta(days=next_id()), base="EUR", quote="USD", rate="1.08")


def plant_sources(world, n):
    from procurement.tests.factories import VendorFactory
    from usage.models import Source

    for _ in range(n):
        i = next_id()
        Source.objects.create(
            slug=f"lq-source-{i}",
            name=f"LQ source {i}",
            vendor=VendorFactory(slug=f"lq-source-vendor-{i}"),
            pull_enabled=True,
            pull_failures=1,
            last_pull_error="timeout",
        )


def _source(slug: str = "lq-gw"):
    from usage.models import Source

    return Source.objects.get_or_create(slug=slug, defaults={"name": "LQ gateway", "format": "focus_csv"})[0]


def _run(source, user=None):
    from core.models import JobRun
    from usage.models import IngestionRun

    return IngestionRun.objects.create(
        kind="ingestion",
        status=JobRun.Status.SUCCEEDED,
        format=source.format,
        source=source,
        origin="file",
        file_name="usage.csv",
        created_by=user,
        received=10,
        accepted=9,
        rejected=1,
    )


def plant_ingestion_runs(world, n):
    for _ in range(n):
        _run(_source(f"lq-run-source-{next_id()}"), world.user(Role.FINANCE))


def plant_cost_lines(world, n):
    from procurement.tests.factories import VendorFactory
    from usage.models import VendorCostLine

    for _ in range(n):
        i = next_id()
        source = _source(f"lq-cost-source-{i}")
        begins = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(hours=i)
        VendorCostLine.objects.create(
            key=os.urandom(16),
            content=os.urandom(16),
            source=source,
            run=_run(source),
            vendor=VendorFactory(slug=f"lq-cost-vendor-{i}"),
            feed=source.format,
            period_start=begins,
            period_end=begins + timedelta(hours=1),
            description="SQS requests",
            line_item="Amazon Simple Queue Service",
            charge_category="Usage",
            amount=Decimal("1.5"),
            amount_as_given="1.5",
            currency="USD",
            version=2,
        )


def plant_attribution_rules(world, n):
    from procurement.tests.factories import DepartmentFactory
    from usage.models import AttributionRule

    for _ in range(n):
        i = next_id()
        AttributionRule.objects.create(
            priority=i,
            dimension="project_id",
            value=f"lq-project-{i}",
            department=DepartmentFactory(code=f"LQ-R{i}", parent=world.inside),
        )


def plant_users(world, n):
    from accounts.services import user_create_or_update

    for _ in range(n):
        i = next_id()
        user_create_or_update(
            username=f"lq-user-{i}",
            role=Role.DEPARTMENT_MANAGER,
            email=f"lq-user-{i}@example.com",
            departments=["T-IN", "T-OUT"],
            first_name="List",
            last_name=f"Query {i}",
            validate_new_password=False,
        )


def plant_api_tokens(world, n):
    from accounts.services import api_token_create, api_token_revoke

    for _ in range(n):
        i = next_id()
        user = world.user([Role.FINANCE, Role.PROCUREMENT, Role.AUDITOR][i % 3])
        token, _ = api_token_create(
            user=user, scope="read", name=f"lq-{i}", created_by=world.user(Role.ADMIN), expires_days=30
        )
        if i % 2:
            api_token_revoke(token=token, revoked_by=world.user(Role.ADMIN))


def plant_invoices(world, n):
    from billing.models import Invoice, InvoiceLine
    from procurement.tests.factories import DepartmentFactory

    finance = world.user(Role.FINANCE)
    now = timezone.now()
    for _ in range(n):
        i = next_id()
        department = DepartmentFactory(code=f"LQ-I{i}", parent=world.inside)
        invoice = Invoice.objects.create(
            department=department,
            period=date(2026, 3, 1),
            currency="USD",
            total=Decimal("10"),
            status=Invoice.Status.ISSUED,
            number=f"CB-2026-{i:06d}",
            issued_at=now,
            issued_by=finance,
            created_by=finance,
        )
        InvoiceLine.objects.create(invoice=invoice, service_period=invoice.period, amount=Decimal("10"))
        Invoice.objects.create(
            kind=Invoice.Kind.CREDIT_NOTE,
            department=department,
            period=date(2026, 4, 1),
            currency="USD",
            total=Decimal("-10"),
            original=invoice,
            created_by=finance,
        )


def plant_vendor_invoices(world, n):
    from billing.models import VendorInvoice, VendorInvoiceLine
    from procurement.tests.factories import VendorFactory

    finance = world.user(Role.FINANCE)
    for _ in range(n):
        i = next_id()
        invoice = VendorInvoice.objects.create(
            vendor=VendorFactory(slug=f"lq-vi-vendor-{i}", billing_currency="USD"),
            number=f"INV-{i}",
            invoice_date=date(2026, 4, 3),
            period=date(2026, 3, 1),
            due_date=date(2026, 5, 3),
            currency="USD",
            subtotal=Decimal("100"),
            tax=Decimal("0"),
            total=Decimal("100"),
            status=VendorInvoice.Status.APPROVED,
            created_by=finance,
            approved_by=finance,
            approved_at=timezone.now(),
        )
        for position in range(2):
            VendorInvoiceLine.objects.create(
                invoice=invoice, position=position, description="tokens", amount=Decimal("50")
            )


def plant_gl_accounts(world, n):
    from billing.models import GlAccount
    from procurement.tests.factories import DepartmentFactory, VendorFactory

    for _ in range(n):
        i = next_id()
        GlAccount.objects.create(
            purpose="expense",
            vendor=VendorFactory(slug=f"lq-gl-vendor-{i}"),
            department=DepartmentFactory(code=f"LQ-G{i}"),
            account_code=f"6{i:03d}",
        )


def plant_sla_credits(world, n):
    from billing.tests.factories import agreement
    from insights.tests.alerts_world import sla_credit
    from procurement.tests.factories import VendorFactory

    for _ in range(n):
        i = next_id()
        deal = agreement(
            f"LQ-SLA-{i}",
            vendor=VendorFactory(slug=f"lq-sla-vendor-{i}", billing_currency="USD"),
            start=date(2025, 1, 1),
            end=date(2025, 12, 31),
        )
        sla_credit(deal, period=date(2025, 3, 1))


def plant_alerts(world, n):
    from insights.alerts.delivery import alert_deliver
    from insights.models import Alert
    from insights.services.alerts import alert_raise
    from insights.tests.alerts_world import candidate
    from procurement.tests.factories import VendorFactory

    for _ in range(n):
        i = next_id()
        alert, _ = alert_raise(
            candidate=candidate(
                f"lq-{i}",
                department_id=world.inside.pk,
                vendor_id=VendorFactory(slug=f"lq-alert-vendor-{i}").pk,
                title=f"LQ alert {i}",
            )
        )
        alert_deliver(alert=alert)
        if i % 2:
            Alert.objects.filter(pk=alert.pk).update(
                status=Alert.Status.ACKNOWLEDGED,
                acknowledged_by=world.user(Role.FINANCE),
                acknowledged_at=timezone.now(),
            )


def plant_alert_rules(world, n):
    from insights.models import AlertRule

    for _ in range(n):
        i = next_id()
        AlertRule.objects.create(
            name=f"LQ rule {i}",
            types=["budget_threshold", "sla_breach"],
            roles=["finance", "department_manager"],
            addresses=[f"lq-{i}@example.com"],
            channels=["inbox", "email"],
        )


def plant_reports(world, n):
    from insights.models import MonthlyReport, ReportDelivery

    for _ in range(n):
        i = next_id()
        report = MonthlyReport.objects.create(
            period=date(2026, 3, 1),
            scope=MonthlyReport.Scope.DEPARTMENTS,
            scope_key=f"departments:lq-{i}",
            title=f"LQ report {i}",
            currency="USD",
            summary={"spend": "123.45"},
            pdf=b"%PDF-1.7 lq",
            pdf_sha256="0" * 64,
        )
        report.departments.set([world.inside, world.inside_child])
        for who in ("a", "b"):
            ReportDelivery.objects.create(report=report, user=world.user(Role.FINANCE), email=f"{who}{i}@example.com")


def plant_approvals(world, n):
    from accounts.models import ApprovalRequest

    for _ in range(n):
        i = next_id()
        ApprovalRequest.objects.create(
            action="agreement_change",
            resource="agreement",
            object_key=f"LQ-APPROVAL-{i}",
            summary=f"Change LQ-APPROVAL-{i}",
            requested_by=world.user(Role.PROCUREMENT),
            decided_by=world.user(Role.FINANCE) if i % 2 else None,
            decided_at=timezone.now() if i % 2 else None,
            status=ApprovalRequest.Status.APPROVED if i % 2 else ApprovalRequest.Status.PENDING,
        )


def _spend(department, vendor, day, cost="10"):
    from billing.tests.factories import DailyRollupFactory

    return DailyRollupFactory(day=day, department=department, vendor=vendor, cost=Decimal(cost), records=3)


def plant_usage(world, n):
    """Explorer rows (department × vendor groups) in AS_OF's month."""
    from procurement.tests.factories import DepartmentFactory, VendorFactory

    for _ in range(n):
        i = next_id()
        department = DepartmentFactory(code=f"LQ-U{i}", parent=world.inside)
        _spend(department, VendorFactory(slug=f"lq-usage-vendor-{i}", billing_currency="USD"), AS_OF.replace(day=1))


def plant_dashboard(world, n):
    """What the dashboard lists: departments and vendors with spend this month, budgets (some
    crossed), active agreements with commitments, open alerts."""
    from billing.tests.factories import agreement, commitment
    from procurement.tests.factories import BudgetFactory, DepartmentFactory, VendorFactory

    today = AS_OF
    for _ in range(n):
        i = next_id()
        department = DepartmentFactory(code=f"LQ-H{i}", parent=world.inside)
        vendor = VendorFactory(slug=f"lq-home-vendor-{i}", billing_currency="USD")
        _spend(department, vendor, today.replace(day=1), cost="900")
        _spend(department, vendor, today.replace(day=1) - timedelta(days=3), cost="50")
        BudgetFactory(department=department, fiscal_year=today.year, amount=Decimal(1000))
        BudgetFactory(department=department, vendor=vendor, fiscal_year=today.year, amount=Decimal(100))
        deal = agreement(
            f"LQ-HOME-{i}", vendor=vendor, start=today.replace(month=1, day=1), end=today.replace(month=12, day=31)
        )
        commitment(deal, unit="USD", amount="5000")
    plant_alerts(world, n)


def plant_periods(world, n):
    from billing.models import Period
    from procurement.tests.factories import VendorFactory

    vendor = VendorFactory(slug="lq-period-vendor", billing_currency="USD")
    for _ in range(n):
        i = next_id()
        month = date(2010 + i // 12, i % 12 + 1, 1)
        Period.objects.create(month=month, status=Period.Status.CLOSED, closed_by=world.user(Role.FINANCE))
        _spend(world.inside, vendor, month)


def plant_reconciliation(world, n):
    """The board of March 2026 shows every vendor with something to reconcile: here an invoice."""
    plant_vendor_invoices(world, n)


# The pages ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    name: str
    url: str
    role: Role
    plant: object

    def __str__(self) -> str:
        return self.name


FINANCE, ADMIN, MANAGER = Role.FINANCE, Role.ADMIN, Role.DEPARTMENT_MANAGER
EXPLORER = "/usage/?start=2026-06-01&end=2026-07-01&group_by=department&group_by=vendor"  # AS_OF's month

PAGES = [
    Page("vendors", "/vendors/", FINANCE, plant_vendors),
    Page("price book", "/vendor-models/", FINANCE, plant_price_book),
    Page("certifications", "/vendor-certifications/", FINANCE, plant_certifications),
    Page("agreements", "/agreements/", FINANCE, plant_agreements),
    Page("departments", "/departments/", FINANCE, plant_departments),
    Page("departments, sorted", "/departments/?sort=code", FINANCE, plant_departments),
    Page("departments (manager)", "/departments/", MANAGER, plant_departments),
    Page("budgets", "/budgets/", FINANCE, plant_budgets),
    Page("budgets (manager)", "/budgets/", MANAGER, plant_budgets),
    Page("fx rates", "/fx-rates/", FINANCE, plant_fx_rates),
    Page("usage sources", "/usage/sources/", FINANCE, plant_sources),
    Page("ingestion runs", "/usage/runs/", FINANCE, plant_ingestion_runs),
    Page("vendor cost lines", "/usage/cost-lines/", FINANCE, plant_cost_lines),
    Page("attribution rules", "/usage/rules/", FINANCE, plant_attribution_rules),
    Page("users", "/settings/users/", ADMIN, plant_users),
    Page("api tokens", "/settings/api-tokens/", ADMIN, plant_api_tokens),
    Page("invoices", "/invoices/", FINANCE, plant_invoices),
    Page("invoices (manager)", "/invoices/", MANAGER, plant_invoices),
    Page("periods", "/invoices/periods/", FINANCE, plant_periods),
    Page("vendor invoices", "/reconciliation/vendor-invoices/", FINANCE, plant_vendor_invoices),
    Page("reconciliation", "/reconciliation/?period=2026-03", FINANCE, plant_reconciliation),
    Page("gl accounts", "/reconciliation/gl-accounts/", FINANCE, plant_gl_accounts),
    Page("sla evaluations", "/reconciliation/sla/", FINANCE, plant_sla_credits),
    Page("alerts", "/alerts/", FINANCE, plant_alerts),
    Page("alerts (manager)", "/alerts/", MANAGER, plant_alerts),
    Page("alert rules", "/alerts/rules/", FINANCE, plant_alert_rules),
    Page("monthly reports", "/reports/", FINANCE, plant_reports),
    Page("monthly reports (manager)", "/reports/", MANAGER, plant_reports),
    Page("approvals", "/approvals/", FINANCE, plant_approvals),
    Page("usage explorer", EXPLORER, FINANCE, plant_usage),
    Page("usage explorer (manager)", EXPLORER, MANAGER, plant_usage),
    Page("dashboard", f"/?as_of={AS_OF}", FINANCE, plant_dashboard),
    Page("dashboard (manager)", f"/?as_of={AS_OF}", MANAGER, plant_dashboard),
    # CSV exports of big lists render every row through the tables' value_* methods
    Page("agreements csv", "/agreements/?_export=csv", FINANCE, plant_agreements),
    Page("invoices csv", "/invoices/?_export=csv", FINANCE, plant_invoices),
    Page("vendor cost lines csv", "/usage/cost-lines/?_export=csv", FINANCE, plant_cost_lines),
    Page("vendor invoices csv", "/reconciliation/vendor-invoices/?_export=csv", FINANCE, plant_vendor_invoices),
    Page("budgets csv", "/budgets/?_export=csv", FINANCE, plant_budgets),
    Page("departments csv", "/departments/?_export=csv", FINANCE, plant_departments),
    Page("users csv", "/settings/users/?_export=csv", ADMIN, plant_users),
]


def fetch(client: Client, url: str) -> tuple[int, list[str], int]:
    """The queries of one GET (after an uncounted one, which pays for first uses: cached
    organisation settings, the session's user, a month's reconciliation rows written on first
    sight) and the size of the answer."""
    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.content[:500])
    return len(captured), [q["sql"] for q in captured.captured_queries], len(response.content)


def listing(queries: list[str]) -> str:
    return "\n".join(f"  {i:3d}. {sql[:220]}" for i, sql in enumerate(queries, 1))


@pytest.mark.parametrize("page", PAGES, ids=str)
def test_list_page_answers_in_a_pinned_number_of_queries(page, role_world):
    client = Client()
    client.force_login(role_world.user(page.role))
    page.plant(role_world, N)
    few, few_sql, few_size = fetch(client, page.url)
    page.plant(role_world, 2 * N)
    many, many_sql, many_size = fetch(client, page.url)
    assert many_size > few_size, f"{page.name}: the rows planted are not on the page"
    assert many == few, (
        f"{page.name}: {few} queries with {N} rows, {many} with {3 * N}: a query per row.\n"
        f"With {3 * N} rows:\n{listing(many_sql)}"
    )
    assert few == PINNED.get(page.name), (
        f"{page.name} answered in {few} queries, pinned {PINNED.get(page.name)} (see the docstring to update).\n"
        f"{listing(few_sql)}"
    )


def test_every_list_view_is_covered():
    """A new ObjectListView (or table page) gets a row in PAGES."""
    from core.views.generic import ObjectListView

    from .routes import all_routes

    covered = {page.url.split("?")[0] for page in PAGES}
    lists = [
        route
        for route in all_routes()
        if isinstance(route.view, type) and issubclass(route.view, ObjectListView) and not route.has_parameters
    ]
    assert lists, "no list views found"
    missing = sorted(route.url for route in lists if route.url not in covered)
    assert not missing, f"list pages without a pinned query count: {missing}"
    assert set(PINNED) == {page.name for page in PAGES}, "PINNED and PAGES name different pages"
