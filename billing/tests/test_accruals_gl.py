"""Accruals and the GL journal: hand-worked figures (reconciliation_world), the closing rate, the
account mapping (most specific row wins), rounding with the journal balanced, CSV injection
neutralised, the GL accounts API, and who may read them."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from billing.gl_export import COLUMNS, csv_safe, gl_journal, gl_journal_csv
from billing.models import GlAccount
from billing.months import previous_month
from billing.selectors.accruals import accruals_for_month
from billing.services.gl_accounts import gl_account_save
from core.roles import Role
from core.testing import ALL_ROLES, APIResourceContract, assert_error_shape, expected_status, token_client
from procurement.models import Department

from .factories import DailyRollupFactory
from .reconciliation_world import JANUARY, build, vendor

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def month(role_world, django_capture_on_commit_callbacks):
    return build(role_world, django_capture_on_commit_callbacks)


def rows_of(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


# Accruals ------------------------------------------------------------------------------------------------------


def test_hand_worked_accruals(month):
    report = accruals_for_month(month=JANUARY)
    rows = {row.vendor.slug: row for row in report.rows}
    assert report.currency == "USD" and report.closing_day == date(2026, 1, 31)

    anthropic = rows["anthropic"]  # consumed 60.00, invoiced 219.00 (shortfall and fees included)
    assert (anthropic.consumed, anthropic.invoiced, anthropic.accrual) == (D("60"), D("219"), D("0"))
    assert (anthropic.covered, anthropic.over_invoiced, anthropic.accrual_reporting) == (D("60"), D("159"), D("0"))

    openai = rows["openai"]  # nothing invoiced: all of it accrues
    assert (openai.consumed, openai.invoiced, openai.accrual, openai.accrual_reporting) == (
        D("10"),
        D("0"),
        D("10"),
        D("10"),
    )

    deepseek = rows["deepseek"]  # 31.85 CNY consumed and invoiced; one record unpriced
    assert (deepseek.accrual, deepseek.consumed_reporting) == (D("0"), D("4.55"))
    assert [n.code for n in deepseek.notes] == ["unpriced"]

    qwen = rows["qwen"]  # 22.40 CNY not invoiced, at 30 Jan's 7.20 CNY per USD
    assert qwen.accrual == D("22.4") and qwen.currency == "CNY"
    assert qwen.accrual_reporting == D("3.111111111111")  # 22.40 ÷ 7.20, 12 places half up
    assert qwen.consumed_reporting == D("4.8")  # 3.20 + 1.60 USD as rated
    assert [n.code for n in qwen.notes] == ["fx_stale"]

    assert report.total == D("13.111111111111")  # 10 + 3.111111111111
    assert len(report.warnings) == 2


def test_accruals_api(month, role_world):
    client = token_client(role_world.user(Role.FINANCE))
    body = client.get("/api/v1/accruals/", {"period": "2026-01"}).json()
    assert body["period"] == "2026-01" and body["currency"] == "USD" and body["total"] == "13.111111111111"
    assert body["count"] == 4 and [r["vendor"] for r in body["results"]] == ["anthropic", "deepseek", "openai", "qwen"]
    qwen = body["results"][-1]
    assert qwen["accrual"] == "22.400000000000" and qwen["accrual_reporting"] == "3.111111111111"
    assert qwen["notes"][0]["code"] == "fx_stale"
    bad = client.get("/api/v1/accruals/", {"period": "2026"})
    assert bad.status_code == 400
    assert_error_shape(bad)
    default = client.get("/api/v1/accruals/").json()  # the previous month
    assert default["period"] == previous_month().strftime("%Y-%m")
    assert client.get("/api/v1/accruals", {"period": "2026-01"}).status_code == 200


def test_an_accrual_without_a_closing_rate_is_left_out_of_the_total(month):
    from core.models import FxRate

    FxRate.objects.filter(date=date(2026, 1, 30)).delete()
    report = accruals_for_month(month=JANUARY)
    qwen = next(row for row in report.rows if row.vendor.slug == "qwen")
    assert qwen.accrual_reporting is None and qwen.notes[-1].code == "closing_fx_stale"
    assert report.total == D("10")


# The GL journal --------------------------------------------------------------------------------------------------


def test_hand_worked_journal_with_default_accounts(month, settings):
    settings.GL_EXPENSE_ACCOUNT, settings.GL_ACCRUAL_ACCOUNT = "6400", "2300"
    journal = gl_journal(month=JANUARY)
    lines = [(ln.account, ln.cost_centre, ln.department, ln.vendor, ln.debit, ln.credit) for ln in journal.lines]
    assert lines == [
        ("6400", "T-IN", "T-IN", "anthropic", D("20.00"), 0),
        ("6400", "T-OUT", "T-OUT", "anthropic", D("40.00"), 0),
        ("6400", "T-IN", "T-IN", "deepseek", D("4.55"), 0),  # 4.00 + 0.55 USD; the unpriced record is not in it
        ("6400", "T-IN", "T-IN", "openai", D("10.00"), 0),
        ("6400", "T-OUT", "T-OUT", "qwen", D("4.80"), 0),  # in USD as rated: 3.20 + 1.60
        ("2300", "", "", "anthropic", 0, D("60.00")),
        ("2300", "", "", "deepseek", 0, D("4.55")),
        ("2300", "", "", "openai", 0, D("10.00")),
        ("2300", "", "", "qwen", 0, D("4.80")),
    ]
    assert journal.balanced and journal.total_debit == D("79.35") and journal.unpriced_records == 1
    text = gl_journal_csv(journal)
    assert text.splitlines()[0] == ",".join(COLUMNS)
    first = rows_of(text)[0]
    assert first == {
        "date": "2026-01-31",
        "journal": "TL-2026-01",
        "account": "6400",
        "cost_centre": "T-IN",
        "department": "T-IN",
        "vendor": "anthropic",
        "description": "LLM usage 2026-01: Anthropic, T-IN",
        "debit": "20.00",
        "credit": "",
        "currency": "USD",
    }


def test_the_most_specific_account_wins(month):
    anthropic, openai = month["anthropic"], month["openai"]
    t_in, t_out = Department.objects.get(code="T-IN"), Department.objects.get(code="T-OUT")
    for fields in [
        {"purpose": "expense", "account_code": "6100"},
        {"purpose": "expense", "vendor": anthropic, "account_code": "6110"},
        {"purpose": "expense", "vendor": anthropic, "department": t_out, "account_code": "6111", "cost_centre": "CC-9"},
        {"purpose": "expense", "department": t_in, "account_code": "6120"},
        {"purpose": "accrual", "vendor": openai, "account_code": "2110"},
    ]:
        gl_account_save(actor=None, **fields)
    journal = gl_journal(month=JANUARY)
    accounts = {(ln.vendor, ln.department or "credit"): (ln.account, ln.cost_centre) for ln in journal.lines}
    assert accounts == {
        ("anthropic", "T-IN"): ("6110", "T-IN"),  # the vendor's row beats the department's
        ("anthropic", "T-OUT"): ("6111", "CC-9"),  # vendor and department: the most specific
        ("deepseek", "T-IN"): ("6120", "T-IN"),  # the department's row
        ("openai", "T-IN"): ("6120", "T-IN"),
        ("qwen", "T-OUT"): ("6100", "T-OUT"),  # the catch-all row
        ("anthropic", "credit"): ("2100", ""),  # no accrual row: the setting's default
        ("deepseek", "credit"): ("2100", ""),
        ("openai", "credit"): ("2110", ""),
        ("qwen", "credit"): ("2100", ""),
    }


def test_rounding_keeps_the_journal_balanced(role_world):
    """Half-up per line; a vendor's credit is the sum of its rounded lines: 0.005 → 0.01 twice,
    0.004 → 0.00 (left out); −1.235 → a credit of 1.24 on the expense account. Exact total
    −1.221 would round to −1.22; the lines give 0.02 − 1.24 = −1.22 as well here, and the
    vendor's net −1.22 is debited to the accrual account."""
    acme = vendor("acme", "Acme", "USD")
    a, b, c, d = (Department.objects.create(code=code, name=code) for code in ("RA", "RB", "RC", "RD"))
    for department, cost in [(a, "0.005"), (b, "0.005"), (c, "0.004"), (d, "-1.235")]:
        DailyRollupFactory(day=date(2026, 3, 9), department=department, vendor=acme, cost=D(cost))
    journal = gl_journal(month=date(2026, 3, 1))
    lines = [(ln.department or "accrual", ln.debit, ln.credit) for ln in journal.lines]
    assert lines == [("RA", D("0.01"), 0), ("RB", D("0.01"), 0), ("RD", 0, D("1.24")), ("accrual", D("1.22"), 0)]
    assert journal.balanced and journal.total_debit == journal.total_credit == D("1.24")


def test_csv_injection_is_neutralised(month):
    gl_account_save(actor=None, purpose="expense", account_code='=HYPERLINK("http://x")', cost_centre="@SUM(A1)")
    gl_account_save(actor=None, purpose="accrual", account_code="+2100", cost_centre="-7")
    rows = rows_of(gl_journal_csv(gl_journal(month=JANUARY)))
    assert rows[0]["account"] == '\'=HYPERLINK("http://x")' and rows[0]["cost_centre"] == "'@SUM(A1)"
    assert rows[-1]["account"] == "'+2100" and rows[-1]["cost_centre"] == "'-7"
    assert [csv_safe(v) for v in ("=1+1", "+1", "-1", "@x", "\tx", "\rx", "ok", "", None, "a=b")] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@x",
        "'\tx",
        "'\rx",
        "ok",
        "",
        "",
        "a=b",
    ]


def test_gl_export_api(month, role_world):
    response = token_client(role_world.user(Role.AUDITOR)).get("/api/v1/gl-export/", {"period": "2026-01"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="gl-journal-2026-01.csv"'
    assert response["X-Unpriced-Records"] == "1"
    rows = rows_of(response.content.decode())
    assert len(rows) == 9 and sum(D(r["debit"] or 0) for r in rows) == sum(D(r["credit"] or 0) for r in rows)
    bad = token_client(role_world.user(Role.FINANCE)).get("/api/v1/gl-export/", {"period": "2026-1x"})
    assert bad.status_code == 400
    assert_error_shape(bad)


@pytest.mark.parametrize("role", [None, *ALL_ROLES], ids=lambda r: getattr(r, "value", "anonymous"))
def test_who_reads_accruals_and_the_journal(role, role_world):
    client = token_client(role_world.user(role)) if role else APIClient()
    code = expected_status(role, "accrual", "view", ok=200)
    assert client.get("/api/v1/accruals/", {"period": "2026-01"}).status_code == code
    assert client.get("/api/v1/gl-export/", {"period": "2026-01"}).status_code == code
    if role in (Role.FINANCE, Role.AUDITOR, Role.ADMIN):
        assert code == 200
    if role in (Role.PROCUREMENT, Role.DEPARTMENT_MANAGER, Role.SERVICE):
        assert code == 403


# GL accounts -----------------------------------------------------------------------------------------------------


class TestGlAccountAPI(APIResourceContract):
    resource = "gl_account"
    basename = "gl-account"
    _n = 0

    def make_object(self, world, department):
        TestGlAccountAPI._n += 1
        d = Department.objects.create(code=f"GL{TestGlAccountAPI._n}", name="GL test")
        return GlAccount.objects.create(purpose="expense", department=d, account_code="6000")

    def create_payload(self, world):
        return {"purpose": "accrual", "account_code": "2100", "vendor": None, "department": world.inside.code}

    def update_payload(self, world, obj):
        return {"account_code": "6001"}


def test_one_account_per_purpose_and_scope(role_world):
    client = token_client(role_world.user(Role.FINANCE))
    vendor("acme", "Acme", "USD")
    body = {"purpose": "expense", "vendor": "acme", "department": "T-IN", "account_code": "6110", "cost_centre": "X1"}
    created = client.post("/api/v1/gl-accounts/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json() == {"id": created.json()["id"], "description": "", **body}
    again = client.post("/api/v1/gl-accounts/", {**body, "account_code": "6111"}, format="json")
    assert again.status_code == 400
    assert again.json()["extra"]["fields"]["purpose"] == [
        "There is already a GL account for expense (vendor acme and department T-IN); change that one instead."
    ]
    default = {"purpose": "expense", "account_code": "6000"}
    assert client.post("/api/v1/gl-accounts/", default, format="json").status_code == 201
    assert client.post("/api/v1/gl-accounts/", default, format="json").status_code == 400  # nulls not distinct
    empty = client.post("/api/v1/gl-accounts/", {"purpose": "accrual", "account_code": " "}, format="json")
    assert empty.status_code == 400
    listed = client.get("/api/v1/gl-accounts/", {"vendor": "acme"}).json()
    assert [r["account_code"] for r in listed["results"]] == ["6110"]


def test_a_running_take_or_pay_period_accrues_its_projected_shortfall(role_world):
    """An annual 1B-token commitment at 2.00 per 1M not consumed, nothing used: at the end of
    January, 31 of 365 days of the projected 2 000.00 shortfall have accrued = 169.86..."""
    from billing.tests.factories import DailyRollupFactory, agreement, commitment
    from procurement.tests.factories import VendorFactory

    vendor = VendorFactory(slug="annual", billing_currency="USD")
    deal = agreement("FA-ANNUAL", vendor=vendor, start=date(2026, 1, 1), end=date(2026, 12, 31))
    commitment(deal, amount="1000000000", shortfall_price=D("2.00"), period="annual")
    DailyRollupFactory(day=date(2026, 1, 10), department=role_world.inside, vendor=vendor, cost=D("0"))
    rows = {row.vendor.slug: row for row in accruals_for_month(month=date(2026, 1, 1)).rows}
    # linear projection of nothing used: the whole commitment is short, 2 000.00
    assert rows["annual"].shortfall_accrual == (D("2000") * 31 / 365).quantize(D("1e-12"))
