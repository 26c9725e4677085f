"""The role matrix, route by route: every URL pattern of the project, with real objects behind it.

GIVEN one user per role (the department manager manages T-IN and its child, not T-OUT) and one
object of every kind, planted inside the manager's departments and, where the resource is
department-scoped, outside them too,
WHEN each route is requested by an anonymous caller and by every role — reads with a read token
(API) or a session (pages, and their CSV/XLSX exports), unsafe methods with a write token or a
session —
THEN each answers exactly what core/policy.py (DESIGN.md's table) says:
  * anonymous: 401 in the error shape (API) or a redirect to the login page (UI);
  * a role without the right: 403; a read-only role (the auditor) on any write: 403;
  * a role that owns objects of the resource (tokens, runs) but has no right over others': 404
    for someone else's object;
  * a department manager: 404 for another department's object, and never a trace of another
    department (its code, its name, its objects' markers) in any page, export, PDF or list they
    may read;
  * nobody: a 5xx; and HEAD and OPTIONS open no side door to what GET refuses.

`ROUTES_COVERED` must name every route: a new URL pattern without an entry fails
`test_every_route_is_in_the_matrix`.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from core.policy import CHANGE, VIEW, access_for, can
from core.roles import Role
from core.testing import assert_error_shape, token_client

from .routes import PUBLIC_PREFIXES, Route, all_routes

pytestmark = pytest.mark.django_db

MANAGER = Role.DEPARTMENT_MANAGER
UNSAFE = ("post", "put", "patch", "delete")
# What identifies the other department's data: its code and name, and the markers planted in its
# objects' titles and amounts.
OUTSIDE_MARKERS = ("T-OUT", "Not managed", "OUTSIDE", "777777", "777,777", "777 777")
PERIOD = "2026-03"


# The planted world ---------------------------------------------------------------------------------


@dataclass
class Planted:
    """Objects behind the routes' parameters: `in_` inside the manager's departments, `out` outside."""

    objects: dict[str, object]

    def __getitem__(self, key):
        return self.objects[key]


def plant(world) -> Planted:
    from accounts.models import ApprovalRequest
    from accounts.services import api_token_create
    from billing.models import GlAccount, Invoice, InvoiceLine, Period, Reconciliation, VendorInvoice
    from billing.tests.factories import DailyRollupFactory, agreement, commitment
    from contracts.models import PriceRule, PriceTier
    from core.models import FxRate, JobRun
    from insights.models import Alert, AlertRule, ForecastScenario, InboxItem, MonthlyReport
    from insights.tests.alerts_world import sla_credit
    from procurement.tests.factories import BudgetFactory, VendorCertificationFactory, VendorFactory, VendorModelFactory
    from usage.models import AttributionRule, IngestionRun, RejectedRow, Source, VendorCostLine

    finance = world.user(Role.FINANCE)
    manager = world.user(MANAGER)
    inside, outside = world.inside, world.outside
    vendor = VendorFactory(slug="sec-vendor", name="Security vendor", billing_currency="USD")
    deal = agreement("SEC-FA-1", vendor=vendor, start=date(2026, 1, 1), end=date(2026, 12, 31))
    deal.signed_document.save("signed.pdf", ContentFile(b"%PDF-1.4 signed contract"), save=True)
    commitment(deal, unit="USD", amount="5000")
    rule = PriceRule.objects.create(agreement=deal, model_pattern="model-*", token_class="input")
    PriceTier.objects.create(rule=rule, from_tokens=0, price=Decimal("0.5"))
    # Spend on both sides; the outside department's is recognisable (777777.77).
    for department, cost in ((inside, "1234.50"), (outside, "777777.77")):
        for day in (date(2026, 3, 2), timezone.now().date().replace(day=1)):
            DailyRollupFactory(day=day, department=department, vendor=vendor, cost=Decimal(cost), records=3)
    source = Source.objects.create(slug="sec-source", name="Security source", vendor=vendor)
    run = IngestionRun.objects.create(
        kind="ingestion",
        status=JobRun.Status.SUCCEEDED,
        format=source.format,
        source=source,
        origin="file",
        file_name="usage.csv",
        created_by=finance,
        received=2,
        accepted=1,
        rejected=1,
    )
    RejectedRow.objects.create(run=run, row=1, raw="bad,row", reasons=["not a number"])
    job_run = JobRun.objects.create(kind="diagnostics", status=JobRun.Status.SUCCEEDED, created_by=finance)
    cost_line = VendorCostLine.objects.create(
        key=b"k" * 16,
        content=b"c" * 16,
        source=source,
        run=run,
        vendor=vendor,
        feed=source.format,
        period_start=datetime(2026, 3, 1, tzinfo=UTC),
        period_end=datetime(2026, 3, 2, tzinfo=UTC),
        description="tokens",
        charge_category="Usage",
        amount=Decimal("1.5"),
        amount_as_given="1.5",
        currency="USD",
    )
    now = timezone.now()
    invoices, budgets, alerts, reports, scenarios, inbox = {}, {}, {}, {}, {}, {}
    for where, department, label in (("in", inside, "INSIDE"), ("out", outside, "OUTSIDE")):
        invoice = Invoice.objects.create(
            department=department,
            period=date(2026, 3, 1),
            currency="USD",
            total=Decimal("10"),
            status=Invoice.Status.ISSUED,
            number=f"CB-2026-{label}",
            issued_at=now,
            issued_by=finance,
            created_by=finance,
            pdf=f"%PDF-1.4 {label} invoice".encode(),
        )
        InvoiceLine.objects.create(invoice=invoice, service_period=invoice.period, amount=Decimal("10"))
        invoices[where] = invoice
        budgets[where] = BudgetFactory(department=department, fiscal_year=2026, amount=Decimal(1000))
        alert = Alert.objects.create(
            type=Alert.Type.BUDGET_THRESHOLD,
            severity=Alert.Severity.WARNING,
            dedup_key=f"budget:{label}:FY2026",
            period="FY2026",
            title=f"{label}-ALERT budget 80 %",
            message=f"{label} spent",
            department=department,
        )
        alerts[where] = alert
        report = MonthlyReport.objects.create(
            period=date(2026, 3, 1),
            scope=MonthlyReport.Scope.DEPARTMENTS,
            scope_key=f"departments:{department.pk}",
            title=f"{label}-REPORT March",
            currency="USD",
            summary={"spend": "1.00"},
            pdf=f"%PDF-1.4 {label} report".encode(),
            pdf_sha256="0" * 64,
        )
        report.departments.set([department])
        reports[where] = report
        scenarios[where] = ForecastScenario.objects.create(
            name=f"{label}-SCENARIO",
            subject=f"department:{department.code}",
            multiplier=Decimal(2),
            starts_on=date(2026, 4, 1),
        )
        inbox[where] = InboxItem.objects.create(user=manager if where == "in" else finance, alert=alert)
    vendor_invoice = VendorInvoice.objects.create(
        vendor=vendor,
        number="VI-SEC-1",
        invoice_date=date(2026, 4, 3),
        period=date(2026, 3, 1),
        due_date=date(2026, 5, 3),
        currency="USD",
        subtotal=Decimal("100"),
        tax=Decimal("0"),
        total=Decimal("100"),
        created_by=finance,
    )
    vendor_invoice.document.save("vendor-invoice.pdf", ContentFile(b"%PDF-1.4 vendor invoice"), save=True)
    token, _ = api_token_create(user=finance, scope="read", name="finance's", created_by=finance, expires_days=30)
    return Planted(
        {
            "vendor": vendor,
            "agreement": deal,
            "source": source,
            "run": run,
            "job_run": job_run,
            "cost_line": cost_line,
            "certification": VendorCertificationFactory(vendor=vendor),
            "vendor_model": VendorModelFactory(vendor=vendor),
            "fx_rate": FxRate.objects.create(date=date(2026, 3, 2), base="EUR", quote="USD", rate="1.08"),
            "rule": AttributionRule.objects.create(priority=1, dimension="project_id", value="p", department=inside),
            "invoice": invoices,
            "budget": budgets,
            "alert": alerts,
            "report": reports,
            "scenario": scenarios,
            "inbox": inbox,
            "vendor_invoice": vendor_invoice,
            "reconciliation": Reconciliation.objects.create(vendor=vendor, period=date(2026, 3, 1), currency="USD"),
            "gl_account": GlAccount.objects.create(purpose="expense", vendor=vendor, account_code="6001"),
            "sla_credit": sla_credit(deal, period=date(2026, 3, 1)),
            "alert_rule": AlertRule.objects.create(name="Security rule", types=[], channels=["inbox"]),
            "token": token,
            "approval": ApprovalRequest.objects.create(
                action="agreement_change",
                resource="agreement",
                object_key=deal.reference,
                summary="Change SEC-FA-1",
                requested_by=world.user(Role.PROCUREMENT),
            ),
            "period": Period.objects.get_or_create(month=date(2026, 3, 1))[0],
            "user": world.user(Role.PROCUREMENT),
        }
    )


# Which object each route's parameters name ------------------------------------------------------

# resource → the planted key of its object (a dict with "in"/"out" when department-scoped)
PK_OF = {
    "job_run": "job_run",
    "fx_rate": "fx_rate",
    "vendor_certification": "certification",
    "vendor_model": "vendor_model",
    "budget": "budget",
    "ingestion_run": "run",
    "attribution_rule": "rule",
    "vendor_cost_line": "cost_line",
    "invoice": "invoice",
    "vendor_invoice": "vendor_invoice",
    "reconciliation": "reconciliation",
    "gl_account": "gl_account",
    "sla_evaluation": "sla_credit",
    "alert": "alert",
    "alert_rule": "alert_rule",
    "report": "report",
    "forecast": "scenario",
    "api_token": "token",
    "approval": "approval",
}
# Routes whose `pk` is not the resource's main object.
PK_OVERRIDE = {
    "api:inbox-read": "inbox",
    "api:inbox-read-bare": "inbox",
}


def _pick(planted: Planted, key: str, where: str):
    value = planted[key]
    return value[where] if isinstance(value, dict) else value


def route_params(route: Route) -> list[str]:
    return [a or b for a, b in re.findall(r"\(\?P<(\w+)>|<(?:\w+:)?(\w+)>", route.path)]


def url_for(route: Route, planted: Planted, where: str) -> str:
    params = route_params(route)
    if not params:
        return route.url
    resource = route.view.policy_resource
    kwargs = {}
    for param in params:
        if param == "pk":
            kwargs["pk"] = _pick(planted, PK_OVERRIDE.get(route.name) or PK_OF[resource], where).pk
        elif param == "slug":
            kwargs["slug"] = planted["source" if resource == "usage_source" else "vendor"].slug
        elif param == "code":
            kwargs["code"] = (planted["invoice"][where]).department.code
        elif param == "reference":
            kwargs["reference"] = planted["agreement"].reference
        elif param == "username":
            kwargs["username"] = planted["user"].username
        elif param == "period":
            kwargs["period"] = PERIOD
        else:
            raise AssertionError(f"{route.path}: no planted object for <{param}>; add one to url_for")
    return reverse(route.name, kwargs=kwargs)


# Query strings some reads need to answer at all.
QUERIES = {
    "api:fxrate-convert": {"amount": "1", "from": "EUR", "to": "USD", "date": "2026-03-02"},
    "api:usage-summary": {"start": "2026-03-01", "end": "2026-04-01", "group_by": "department,vendor"},
    "api:forecast-latest": {"subject": "company", "metric": "cost"},
    "api:accruals": {"period": PERIOD},
    "api:gl-export": {"period": PERIOD},
    "billing:accruals": {"period": PERIOD},
    "billing:gl_export": {"period": PERIOD},
    "api:reconciliation-list": {"period": PERIOD},
    "billing:reconciliation": {"period": PERIOD},
    "insights:dashboard": {"as_of": "2026-03-20"},
    "usage:explorer": {"start": "2026-03-01", "end": "2026-04-01", "group_by": "department"},
}
# What a permitted GET answers when it is not 200.
OK_STATUS = {
    "api:forecast-latest": (200, 404),  # no forecast computed yet for the subject
    "billing:invoice_issue": 302,  # the invoice is issued already: back to it
}
# Reads that answer a file: the body is checked for the planted bytes.
FILES = {
    "billing:invoice_pdf": b"%PDF-1.4 {LABEL} invoice",
    "api:invoice-pdf": b"%PDF-1.4 {LABEL} invoice",
    "api:invoice-pdf-bare": b"%PDF-1.4 {LABEL} invoice",
    "insights:report_pdf": b"%PDF-1.4 {LABEL} report",
    "api:report-pdf": b"%PDF-1.4 {LABEL} report",
    "api:report-pdf-bare": b"%PDF-1.4 {LABEL} report",
    "billing:vendor_invoice_document": b"%PDF-1.4 vendor invoice",
    "api:vendor-invoice-document": b"%PDF-1.4 vendor invoice",
    "contracts:agreement_document": b"%PDF-1.4 signed contract",
    "api:agreement-document": b"%PDF-1.4 signed contract",
}
# Writes a read-only auditor may still make, because they concern only the auditor: their own API
# tokens and the read marks of their own inbox (README "Roles": everyone manages their own tokens).
AUDITOR_OWN_WRITES = {
    ("api:token-list", "post"),
    ("api:token-detail", "put"),
    ("api:token-detail", "patch"),
    ("api:token-detail", "delete"),
    ("api:token-revoke", "post"),
    ("accounts:token_create", "post"),
    ("accounts:token_revoke", "post"),
    ("api:inbox-read", "post"),
    ("api:inbox-read-bare", "post"),
    ("api:inbox-read-all", "post"),
    ("api:inbox-read-all-bare", "post"),
    ("insights:alert_inbox_read_all", "post"),
}


# Routes and what each role may do ----------------------------------------------------------------

ROUTES = all_routes()
PROTECTED = [r for r in ROUTES if not r.path.startswith(PUBLIC_PREFIXES)]
# Every protected route, by name: the matrix below walks them all (see the guard test).
ROUTES_COVERED = {r.name for r in PROTECTED}


def methods_of(route: Route) -> list[str]:
    actions = getattr(route.callback, "actions", None)
    view = route.view
    if actions is not None:
        # DRF adds "head" to a viewset's actions at its first GET (ViewSetMixin.as_view), so what
        # this answers must not depend on which tests ran before: HEAD and OPTIONS are tried apart
        return sorted(m for m in actions if m in view.http_method_names and m not in ("head", "options"))
    if not isinstance(view, type):
        return ["get"]
    return [m for m in ("get", *UNSAFE) if m in view.http_method_names and hasattr(view, m)]


def policy_action(route: Route, method: str) -> str:
    view = route.view
    if not route.is_api:
        if getattr(view, "policy_action", None):
            return view.policy_action
        return VIEW if method == "get" else CHANGE
    mapping = getattr(view, "policy_actions", None) or {}
    action = (getattr(route.callback, "actions", None) or {}).get(method)
    if action in mapping:
        return mapping[action]
    if method in mapping:
        return mapping[method]
    return VIEW if method == "get" else CHANGE


# Whose planted object each owned resource is (tokens and runs are made by finance).
OWNER_OF = {"api_token": Role.FINANCE, "job_run": Role.FINANCE, "ingestion_run": Role.FINANCE}


def _as_user(role: Role):
    return type("U", (), {"is_authenticated": True, "is_active": True, "role": role.value})()


def expected(route: Route, role: Role, method: str, where: str) -> int | tuple[int, ...]:
    """What `role` gets for `method` on the route's object `where` (in/out), as the policy says."""
    view = route.view
    resource = view.policy_resource
    action = policy_action(route, method)
    if route.name == "api:me":
        return 200
    allowed = can(_as_user(role), resource, action)
    out_of_scope = (
        role == MANAGER and access_for(resource).department_scoped and where == "out" and bool(route_params(route))
    )
    if not allowed:
        owner = getattr(view, "owner_field", None)
        # Everyone reaches their own tokens and runs (and changes their own tokens); others' answer 404.
        owner_may = action == VIEW or (
            action == CHANGE and (not route.is_api or getattr(view, "owner_may_change", False))
        )
        if owner and owner_may:
            if not route_params(route):
                return 200 if method == "get" else 400  # their own list; an empty create is invalid
            if OWNER_OF[resource] == role:
                return 200
            # Someone else's: invisible (404), or visible but not theirs to change (the auditor: 403).
            return 403 if can(_as_user(role), resource, VIEW) else 404
        # Another department's object may be refused before or after it is looked up: both say no.
        return (403, 404) if out_of_scope else 403
    if out_of_scope:
        return 404
    return OK_STATUS.get(route.name, 200)


def scoped(route: Route) -> bool:
    return access_for(route.view.policy_resource).department_scoped and bool(route_params(route))


def _matches(status: int, want) -> bool:
    return status in want if isinstance(want, tuple) else status == want


def body_text(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    if content[:2] == b"PK":  # XLSX: the text of its sheets and shared strings
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return " ".join(archive.read(n).decode("utf-8", "replace") for n in archive.namelist())
    return content.decode("utf-8", "replace")


def assert_no_outside_data(response, context, markers=OUTSIDE_MARKERS) -> None:
    text = body_text(response)
    leaked = [marker for marker in markers if marker in text]
    assert not leaked, f"{context}: another department's data in the answer: {leaked}"


class Clients:
    """One session client and one read and one write token client per role, made once per module."""

    def __init__(self, world):
        self.world = world
        self._cache = {}

    def _get(self, key, factory):
        if key not in self._cache:
            self._cache[key] = factory()
        return self._cache[key]

    def session(self, role: Role | None) -> Client:
        def make():
            client = Client()
            if role is not None:
                client.force_login(self.world.user(role))
            return client

        return self._get(("session", role), make)

    def api(self, role: Role | None, scope: str):
        if role is None:
            return APIClient()
        return self._get(("api", role, scope), lambda: token_client(self.world.user(role), scope=scope))


@dataclass
class Matrix:
    world: object
    planted: Planted
    clients: Clients


@pytest.fixture(scope="module")
def matrix(django_db_setup, django_db_blocker):
    """The world and its clients, built once per module (per xdist worker) in a transaction that is
    rolled back at the end; each test runs in a savepoint inside it (pytest-django's `db`), so
    whatever a test changes is undone before the next."""
    from django.db import transaction

    from core.testing import build_role_world

    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            world = build_role_world()
            clients = Clients(world)
            built = Matrix(world=world, planted=plant(world), clients=clients)
            for role in Role:
                clients.session(role)
                clients.api(role, "read")
                clients.api(role, "write")
            yield built
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def _request(client, method: str, url: str, data=None):
    if method == "get":
        return client.get(url, data or {})
    return getattr(client, method)(url, data or {}, **({"format": "json"} if hasattr(client, "credentials") else {}))


def _check_anonymous(route: Route, url: str, method: str, clients: Clients) -> None:
    if route.is_api:
        response = _request(clients.api(None, "read"), method, url)
        assert response.status_code == 401, (method, url, response.status_code)
        assert_error_shape(response)
        assert response["WWW-Authenticate"].startswith("Bearer")
    else:
        response = _request(clients.session(None), method, url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("account_login")), (
            method,
            url,
            response.status_code,
        )


@pytest.mark.parametrize("route", PROTECTED, ids=lambda r: r.name or r.path)
def test_route_answers_every_role_as_the_policy_says(route, matrix):
    planted, clients = matrix.planted, matrix.clients
    methods = methods_of(route)
    places = ("in", "out") if scoped(route) else ("in",)
    for where in places:
        url = url_for(route, planted, where)
        # Anonymous callers: a read and a write (all methods pass the same authentication).
        for method in {methods[0], methods[-1]} if where == "in" else ():
            _check_anonymous(route, url, method, clients)
        if "get" in methods:
            # Another department's object: the manager (404) and two company-wide readers (200).
            for role in Role if where == "in" else (MANAGER, Role.FINANCE, Role.AUDITOR):
                client = clients.api(role, "read") if route.is_api else clients.session(role)
                response = client.get(url, QUERIES.get(route.name, {}))
                want = expected(route, role, "get", where)
                assert _matches(response.status_code, want), (
                    f"GET {url} as {role.value}: {response.status_code}, policy says {want}",
                    body_text(response)[:300],
                )
                if route.is_api and response.status_code >= 400:
                    assert_error_shape(response)
                if response.status_code == 200 and route.name in FILES:
                    label = b"INSIDE" if where == "in" else b"OUTSIDE"
                    planted_file = FILES[route.name].replace(b"{LABEL}", label)
                    assert body_text(response).encode() == planted_file, f"GET {url}: not the planted file"
                if role == MANAGER and response.status_code == 200:
                    assert_no_outside_data(response, f"GET {url} as manager")
        writes = [m for m in methods if m in UNSAFE]
        for index, method in enumerate(writes):
            for role in Role:
                want = expected(route, role, method, where)
                if role == Role.AUDITOR and (route.name, method) not in AUDITOR_OWN_WRITES:
                    want = 403  # the auditor reads everything and changes nothing, whatever the view asks
                if not isinstance(want, tuple) and want not in (403, 404):
                    continue  # permitted writes are exercised by each resource's own tests
                if index and role not in (Role.AUDITOR, Role.SERVICE, MANAGER):
                    continue  # PUT/PATCH/DELETE pass the same check as the first write; keep it quick
                client = clients.api(role, "write") if route.is_api else clients.session(role)
                response = _request(client, method, url)
                assert _matches(response.status_code, want), (
                    f"{method.upper()} {url} as {role.value}: {response.status_code}, policy says {want}",
                    body_text(response)[:300],
                )
                if route.is_api:
                    assert_error_shape(response)


# The department manager's view of lists and exports ---------------------------------------------


def _list_pages():
    from core.views.generic import ObjectListView

    return [
        r for r in PROTECTED if isinstance(r.view, type) and issubclass(r.view, ObjectListView) and not route_params(r)
    ]


LIST_PAGES = _list_pages()


@pytest.mark.parametrize("route", LIST_PAGES, ids=lambda r: r.name)
@pytest.mark.parametrize("export", ["csv", "xlsx"])
def test_exports_answer_as_their_page_and_never_leak_departments(route, export, matrix):
    for role in Role:
        client = matrix.clients.session(role)
        response = client.get(route.url, {**QUERIES.get(route.name, {}), "_export": export})
        want = expected(route, role, "get", "in")
        assert response.status_code == want, (route.url, export, role.value, response.status_code)
        if response.status_code == 200:
            assert "attachment" in response.get("Content-Disposition", ""), (route.url, export)
            if role == MANAGER:
                assert_no_outside_data(response, f"{route.url} as {export} for the manager")


# Scoped lists: the manager sees their own department's rows and none of the other's; finance sees
# both (the positive control that makes the negative one mean something).
SCOPED_LISTS = [
    ("/departments/", "T-IN", "T-OUT"),
    ("/budgets/", "T-IN", "T-OUT"),
    ("/invoices/", "CB-2026-INSIDE", "CB-2026-OUTSIDE"),
    ("/invoices/?_export=csv", "CB-2026-INSIDE", "CB-2026-OUTSIDE"),
    ("/alerts/", "INSIDE-ALERT", "OUTSIDE-ALERT"),
    ("/reports/", "INSIDE-REPORT", "OUTSIDE-REPORT"),
    ("/api/v1/departments/", "T-IN", "T-OUT"),
    ("/api/v1/budgets/", "T-IN", "T-OUT"),
    ("/api/v1/invoices/", "CB-2026-INSIDE", "CB-2026-OUTSIDE"),
    ("/api/v1/alerts/", "INSIDE-ALERT", "OUTSIDE-ALERT"),
    ("/api/v1/reports/", "INSIDE-REPORT", "OUTSIDE-REPORT"),
    ("/api/v1/forecast-scenarios/", "INSIDE-SCENARIO", "OUTSIDE-SCENARIO"),
    ("/api/v1/usage/summary?start=2026-03-01&end=2026-04-01&group_by=department", "T-IN", "T-OUT"),
    ("/usage/?start=2026-03-01&end=2026-04-01&group_by=department", "T-IN", "T-OUT"),
    ("/?as_of=2026-03-20", "1,234", "777,777"),
]


@pytest.mark.parametrize(("url", "mine", "theirs"), SCOPED_LISTS, ids=[u for u, _, _ in SCOPED_LISTS])
def test_manager_lists_hold_their_departments_only(url, mine, theirs, matrix):
    def fetch(role):
        client = matrix.clients.api(role, "read") if url.startswith("/api/") else matrix.clients.session(role)
        return client.get(url)

    everything = body_text(fetch(Role.FINANCE))
    assert mine in everything and theirs in everything, f"{url}: the planted rows are not listed for finance"
    response = fetch(MANAGER)
    assert response.status_code == 200
    assert mine in body_text(response), f"{url}: the manager's own rows are missing"
    assert_no_outside_data(response, f"{url} as manager")


# Filters that name another department: the manager gets nothing of it.
PROBES = [
    "/api/v1/usage/summary?start=2026-03-01&end=2026-04-01&group_by=department&department=T-OUT",
    "/api/v1/usage/records?department=T-OUT",
    "/api/v1/invoices/?department=T-OUT",
    "/api/v1/alerts/?department=T-OUT",
    "/api/v1/budgets/?department=T-OUT",
    "/api/v1/forecasts/?subject=department:T-OUT&metric=cost",
    "/api/v1/forecast-scenarios/?subject=department:T-OUT",
    "/usage/?start=2026-03-01&end=2026-04-01&group_by=department&department=T-OUT",
    "/invoices/?department=T-OUT",
    "/budgets/?department=T-OUT",
    "/alerts/?department=T-OUT",
    "/forecasts/?subject=department:T-OUT",
    "/?as_of=2026-03-20&department=T-OUT",
]


@pytest.mark.parametrize("url", PROBES)
def test_manager_filters_naming_another_department_find_nothing(url, matrix):
    client = matrix.clients.api(MANAGER, "read") if url.startswith("/api/") else matrix.clients.session(MANAGER)
    response = client.get(url)
    assert response.status_code in (200, 400, 404), (url, response.status_code)
    # The filter's own value is echoed back in the form; the other department's rows must not be.
    assert_no_outside_data(response, f"{url} as manager", markers=[m for m in OUTSIDE_MARKERS if m != "T-OUT"])


# The guard ------------------------------------------------------------------------------------------


def test_every_route_is_in_the_matrix():
    """A new URL pattern must be public (PUBLIC_PREFIXES) or reachable by the matrix: a policy
    resource, and every parameter mapped to a planted object by `url_for`."""
    known_params = {"pk", "slug", "code", "reference", "username", "period"}
    problems = []
    for route in ROUTES:
        if route.path.startswith(PUBLIC_PREFIXES):
            continue
        if route.name is None:
            problems.append(f"{route.path}: unnamed, the matrix cannot reverse it")
            continue
        resource = getattr(route.view, "policy_resource", None)
        if resource is None:
            problems.append(f"{route.path}: no policy_resource")
            continue
        for param in route_params(route):
            if param not in known_params or (
                param == "pk" and (PK_OVERRIDE.get(route.name) or PK_OF.get(resource)) is None
            ):
                problems.append(f"{route.path}: <{param}> of {resource!r} has no planted object")
    assert not problems, problems
    assert {r.name for r in PROTECTED} == ROUTES_COVERED
    assert len(PROTECTED) > 200, len(PROTECTED)


def test_the_matrix_holds_parameterised_routes_files_and_exports():
    with_params = [r for r in PROTECTED if route_params(r)]
    assert len(with_params) > 100
    assert set(FILES) <= ROUTES_COVERED, set(FILES) - ROUTES_COVERED
    assert len(LIST_PAGES) >= 20


API_READS = [r for r in PROTECTED if r.is_api and "get" in methods_of(r)]


@pytest.mark.parametrize("route", API_READS, ids=lambda r: r.name)
def test_head_and_options_are_no_side_door(route, matrix):
    """HEAD and OPTIONS pass the same checks as GET: no metadata or headers for whom GET is refused."""
    url = url_for(route, matrix.planted, "in")
    if route.name != "api:me":  # /me describes itself to anyone (it answers who the caller is)
        assert APIClient().options(url).status_code == 401
    for role in (Role.SERVICE, MANAGER, Role.AUDITOR):
        want = expected(route, role, "get", "in")
        client = matrix.clients.api(role, "read")
        head = client.head(url, QUERIES.get(route.name, {}))
        options = client.options(url)
        if want in (403, 404):
            assert head.status_code == want, ("HEAD", url, role.value, head.status_code)
            # OPTIONS on an owned object someone else holds describes the endpoint, never the object
            assert options.status_code in (want, 200), ("OPTIONS", url, role.value, options.status_code)
            if options.status_code == 200:
                assert set(options.json()) <= {"name", "description", "renders", "parses"}, options.json()
        else:
            for response in (head, options):
                assert response.status_code < 500 and response.status_code not in (401, 403), (url, role.value)
