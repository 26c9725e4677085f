"""Agreement pages: the list, the detail page, one form for the whole agreement (formsets of
price rules with their tiers, commitments, SLA clauses with their bands), four-eyes, documents."""

import re
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.models import ApprovalRequest
from contracts.models import Agreement, AgreementAmendment
from contracts.services import agreement_change
from contracts.specs import from_payload
from core.models import StoredFile
from core.roles import Role
from core.services import organization_settings_update

from .factories import API_EXAMPLE, ensure_fin, ensure_vendor, make_agreement

pytestmark = pytest.mark.django_db

TERMS = {
    "reference": "FA-2026-01",
    "vendor": "deepseek",
    "start": "2026-01-01",
    "end": "2026-12-31",
    "currency": "CNY",
    "status": "draft",
    "payment_terms_days": "60",
    "notice_days": "90",
    "auto_renew": "on",
    "po_number": "PO-778",
    "notes": "",
}
RULE = {
    "model_pattern": "deepseek-*",
    "token_class": "input",
    "schedule": "graduated",
    "effective_from": "",
    "effective_to": "",
    "tiers": [{"from_tokens": "0", "price": "0.27"}, {"from_tokens": "100 B", "price": "0.20"}],
}
COMMITMENT = {
    "unit": "tokens",
    "amount": "500 B",
    "period": "annual",
    "treatment": "take_or_pay",
    "token_classes": [],
    "shortfall_price": "0.25",
    "shortfall_allocation": "central",
    "central_department": "FIN",
}
CLAUSE = {
    "metric": "latency_p90",
    "models": "deepseek-chat",
    "target": "1500",
    "cap_percent": "30",
    "claim_days": "30",
    "bands": [{"breach_over": "0", "credit_percent": "5"}, {"breach_over": "500", "credit_percent": "15"}],
}


def _management(data: dict, prefix: str, total: int, initial: int = 0) -> None:
    data.update(
        {
            f"{prefix}-TOTAL_FORMS": str(total),
            f"{prefix}-INITIAL_FORMS": str(initial),
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000",
        }
    )


def _rows(data: dict, prefix: str, rows: list[dict], nested: str | None = None, initial: int = 0) -> None:
    """Formset rows as the browser posts them; a nested list (tiers, bands) becomes its own formset."""
    _management(data, prefix, len(rows), initial)
    for i, row in enumerate(rows):
        for name, value in row.items():
            key = f"{prefix}-{i}-{name}"
            if name == nested:
                _rows(data, key, value)
            else:
                data[key] = value


def form_data(terms=None, rules=(RULE,), commitments=(COMMITMENT,), clauses=(CLAUSE,), initial=(0, 0, 0)) -> dict:
    data = dict(TERMS if terms is None else terms)
    _rows(data, "rules", list(rules), "tiers", initial[0])
    _rows(data, "commitments", list(commitments), None, initial[1])
    _rows(data, "sla", list(clauses), "bands", initial[2])
    return data


class FormValues(HTMLParser):
    """What a browser would post from a page's form (rows inside <template> are not posted)."""

    def __init__(self):
        super().__init__()
        self.values: dict[str, list[str]] = {}
        self._template = 0
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "template":
            self._template += 1
        if self._template:
            return
        if tag == "option" and self._select and "selected" in attrs:
            self.values.setdefault(self._select, []).append(attrs.get("value") or "")
        if "name" not in attrs or "disabled" in attrs:
            return
        name, kind = attrs["name"], attrs.get("type")
        if tag == "input" and kind not in ("checkbox", "radio", "submit", "file"):
            self.values.setdefault(name, []).append(attrs.get("value") or "")
        elif tag == "input" and kind == "checkbox" and "checked" in attrs:
            self.values.setdefault(name, []).append(attrs.get("value") or "on")
        elif tag == "select":
            self._select = name
            self.values.setdefault(name, [])
        elif tag == "textarea":
            self._textarea = name
            self.values.setdefault(name, []).append("")

    def handle_data(self, data):
        if self._textarea and not self._template:
            self.values[self._textarea][-1] += data.strip("\n")

    def handle_endtag(self, tag):
        if tag == "template":
            self._template -= 1
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def browser_post_data(html: str) -> dict:
    form = html[html.index('<form method="post" novalidate') :]
    parser = FormValues()
    parser.feed(form[: form.index("</form>") + len("</form>")])
    return parser.values


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def world(role_world):
    ensure_vendor()
    ensure_fin()
    return role_world


@pytest.fixture
def buyer(world):
    return signed_in(world.user(Role.PROCUREMENT))


def block(html: str, prefix: str) -> str:
    """The fieldset of one row (a price rule, a commitment, an SLA clause) of the form page."""
    base, index = prefix.rsplit("-", 1)
    start = html.index(f'data-formset-row="{prefix}"')
    ends = [
        html.find(marker, start)
        for marker in (f'data-formset-row="{base}-{int(index) + 1}"', f'data-formset-template="{base}"')
    ]
    return html[start : min(e for e in ends if e != -1)]


def test_procurement_creates_a_whole_agreement_through_the_form(buyer):
    page = buyer.get("/agreements/new/")
    assert page.status_code == 200 and b'data-formset-template="rules"' in page.content
    response = buyer.post("/agreements/new/", form_data())
    assert response.status_code == 302, response.content.decode()[:3000]
    assert response["Location"] == "/agreements/FA-2026-01/"

    agreement = Agreement.objects.get(reference="FA-2026-01")
    assert (agreement.vendor.slug, agreement.start, agreement.end, agreement.currency, agreement.status) == (
        "deepseek",
        date(2026, 1, 1),
        date(2026, 12, 31),
        "CNY",
        "draft",
    )
    assert (agreement.payment_terms_days, agreement.notice_days, agreement.auto_renew, agreement.po_number) == (
        60,
        90,
        True,
        "PO-778",
    )
    rule = agreement.price_rules.get()
    assert (rule.model_pattern, rule.token_class, rule.schedule, rule.effective_from) == (
        "deepseek-*",
        "input",
        "graduated",
        None,
    )
    assert [(t.from_tokens, t.price) for t in rule.tiers.all()] == [
        (0, Decimal("0.27")),
        (100_000_000_000, Decimal("0.2")),
    ]
    commitment = agreement.commitments.get()
    assert (commitment.unit, commitment.amount, commitment.period, commitment.treatment) == (
        "tokens",
        Decimal(500_000_000_000),
        "annual",
        "take_or_pay",
    )
    assert (commitment.token_classes, commitment.shortfall_price, commitment.central_department.code) == (
        [],
        Decimal("0.25"),
        "FIN",
    )
    clause = agreement.sla_clauses.get()
    assert (clause.metric, clause.models, clause.target, clause.cap_percent, clause.claim_days) == (
        "latency_p90",
        ["deepseek-chat"],
        Decimal(1500),
        Decimal(30),
        30,
    )
    assert [(b.breach_over, b.credit_percent) for b in clause.bands.all()] == [(0, 5), (500, 15)]
    assert agreement.amendments.get().changed_by.username == "t-procurement"

    detail = buyer.get("/agreements/FA-2026-01/").content.decode()
    assert "Agreement FA-2026-01 created." in detail
    assert "100 B" in detail and "CNY 0.27" in detail and "CNY 0.20<" in detail  # tiers readable, per 1M
    assert "Take or pay 500 B tokens / annual" in detail and "FIN — Finance" in detail
    assert "Latency P90 (ms): target 1500" in detail and "15 %" in detail
    assert "Agreement created" in detail and "Change history" in detail


def test_money_commitment_takes_the_agreement_currency(buyer):
    money = {
        **COMMITMENT,
        "unit": "money",
        "amount": "1,200,000",
        "treatment": "prepaid",
        "shortfall_price": "",
        "token_classes": [],
    }
    response = buyer.post("/agreements/new/", form_data(commitments=[money], clauses=[]))
    assert response.status_code == 302, response.content.decode()[:3000]
    commitment = Agreement.objects.get().commitments.get()
    assert (commitment.unit, commitment.amount, commitment.shortfall_price) == ("CNY", Decimal(1_200_000), None)


@pytest.mark.parametrize(
    ("tiers", "message", "at_fault"),
    [
        ([{"from_tokens": "10 B", "price": "0.27"}], "Tiers must start at 0 tokens.", "rules-1-tiers-0-from_tokens"),
        (
            [
                {"from_tokens": "0", "price": "0.27"},
                {"from_tokens": "100 B", "price": "0.2"},
                {"from_tokens": "50 B", "price": "0.1"},
            ],
            "Tiers must ascend: 50000000000 does not come after 100000000000.",
            "rules-1-tiers-2-from_tokens",
        ),
        (
            [{"from_tokens": "0", "price": "0.27"}, {"from_tokens": "1 B", "price": "-0.1"}],
            "Prices cannot be negative (-0.1).",
            "rules-1-tiers-1-price",
        ),
    ],
)
def test_a_bad_tier_table_is_shown_beside_that_rule_and_nothing_is_stored(buyer, tiers, message, at_fault):
    output = {
        **RULE,
        "model_pattern": "deepseek-chat",
        "token_class": "output",
        "schedule": "graduated",
        "tiers": tiers,
    }
    response = buyer.post("/agreements/new/", form_data(rules=[RULE, output]))
    assert response.status_code == 400
    html = response.content.decode()
    assert "Nothing was saved" in html
    assert message not in block(html, "rules-0")
    second = block(html, "rules-1")
    # under the input at fault, which is marked invalid; the others are not
    field = re.search(rf'<input [^>]*name="{at_fault}"[^>]*>', second).group(0)
    assert 'aria-invalid="true"' in field and "is-invalid" in field, field
    assert second.count("is-invalid") == 1
    after = second[second.index(field) + len(field) :]
    assert after.lstrip().startswith(f'<div class="invalid-feedback d-block" role="alert">{message}</div>'), after[:200]
    assert 'data-field-errors="tiers"></div>' in second  # nothing left for the table as a whole
    assert f'value="{tiers[-1]["from_tokens"]}"' in second  # what was typed is kept
    assert 'value="deepseek-chat"' in second
    assert not Agreement.objects.exists() and not AgreementAmendment.objects.exists()


def test_removed_rows_are_ignored_and_errors_find_their_row(buyer):
    removed = {**RULE, "model_pattern": "", "DELETE": "on", "tiers": [{"from_tokens": "oops", "price": ""}]}
    bad = {**RULE, "model_pattern": "deepseek-reasoner", "tiers": [{"from_tokens": "5", "price": "0.1"}]}
    response = buyer.post("/agreements/new/", form_data(rules=[removed, RULE, bad]))
    assert response.status_code == 400
    html = response.content.decode()
    assert "Tiers must start at 0 tokens." in block(html, "rules-2")
    assert "Tiers must start" not in block(html, "rules-1")
    assert re.search(r'data-formset-row="rules-0" hidden', html)  # still posted, still hidden


def test_field_errors_beside_their_inputs(buyer):
    make_agreement("FA-2026-01")
    terms = {**TERMS, "end": "2025-12-31"}
    commitment = {**COMMITMENT, "shortfall_price": ""}
    clause = {**CLAUSE, "cap_percent": "10"}
    response = buyer.post("/agreements/new/", form_data(terms=terms, commitments=[commitment], clauses=[clause]))
    assert response.status_code == 400
    html = response.content.decode()
    assert "An agreement with this reference exists." in html  # the form's own check
    response = buyer.post(
        "/agreements/new/", form_data(terms={**terms, "reference": "FA-2"}, commitments=[commitment], clauses=[clause])
    )
    html = response.content.decode()
    end_error = html.index("The term ends before it starts.")
    assert html.index('id="id_end"') < end_error < html.index('id="id_currency"')  # under the end date
    assert "needs a shortfall price" in block(html, "commitments-0")
    assert "exceeds the cap" in block(html, "sla-0")
    bad_type = form_data(
        terms={**TERMS, "reference": "FA-3"}, rules=[{**RULE, "tiers": [{"from_tokens": "1.5", "price": "x"}]}]
    )
    html = buyer.post("/agreements/new/", bad_type).content.decode()
    assert "Enter a whole number of tokens." in block(html, "rules-0") and "Enter a number." in block(html, "rules-0")


def _stored(reference="FA-2026-01") -> Agreement:
    return agreement_change(agreement=None, changes=from_payload(API_EXAMPLE), actor=None).agreement


def test_edit_keeps_nested_ids(buyer):
    agreement = _stored()
    rule, commitment, clause = agreement.price_rules.get(), agreement.commitments.get(), agreement.sla_clauses.get()
    page = buyer.get("/agreements/FA-2026-01/edit/").content.decode()
    assert f'name="rules-0-id" value="{rule.pk}"' in page and 'value="100 B"' in page
    assert f'name="commitments-0-id" value="{commitment.pk}"' in page and 'value="500 B"' in page
    assert 'name="reference"' in page and "disabled" in page.split('name="reference"')[1].split(">")[0]

    # what the page shows, posted back as a browser would, changes nothing
    response = buyer.post("/agreements/FA-2026-01/edit/", browser_post_data(page), follow=True)
    assert "Nothing changed." in response.content.decode()
    assert agreement.amendments.count() == 1

    # unchanged: nothing to save
    same = form_data(
        terms={k: v for k, v in TERMS.items() if k != "reference"},
        rules=[{**RULE, "id": rule.pk}],
        commitments=[{**COMMITMENT, "id": commitment.pk}],
        clauses=[{**CLAUSE, "id": clause.pk}],
        initial=(1, 1, 1),
    )
    response = buyer.post("/agreements/FA-2026-01/edit/", same)
    assert response.status_code == 302 and agreement.amendments.count() == 1

    tiers = [
        {"from_tokens": "0", "price": "0.25"},
        {"from_tokens": "100 B", "price": "0.20"},
        {"from_tokens": "1 T", "price": "0.1"},
    ]
    second = {
        **RULE,
        "model_pattern": "deepseek-reasoner",
        "token_class": "output",
        "schedule": "flat",
        "effective_from": "2026-07-01",
        "tiers": [{"from_tokens": "0", "price": "2.19"}],
    }
    changed = form_data(
        terms={**same_terms(), "po_number": "PO-779"},
        rules=[{**RULE, "id": rule.pk, "tiers": tiers}, second],
        commitments=[{**COMMITMENT, "id": commitment.pk, "amount": "600 B"}],
        clauses=[{**CLAUSE, "id": clause.pk}],
        initial=(1, 1, 1),
    )
    response = buyer.post("/agreements/FA-2026-01/edit/", changed)
    assert response.status_code == 302, response.content.decode()[:3000]
    agreement.refresh_from_db()
    assert agreement.po_number == "PO-779"
    rules = {r.model_pattern: r for r in agreement.price_rules.all()}
    assert rules["deepseek-*"].pk == rule.pk
    assert [t.price for t in rules["deepseek-*"].tiers.all()] == [Decimal("0.25"), Decimal("0.2"), Decimal("0.1")]
    assert rules["deepseek-reasoner"].effective_from == date(2026, 7, 1)
    assert agreement.commitments.get().pk == commitment.pk and agreement.commitments.get().amount == 600_000_000_000
    assert agreement.sla_clauses.get().pk == clause.pk
    amendment = agreement.amendments.first()
    assert amendment.number == 2 and amendment.changed_by.username == "t-procurement"
    assert set(amendment.changes) == {"po_number", "price_rules", "commitments"}
    detail = buyer.get("/agreements/FA-2026-01/").content.decode()
    assert "Amendment 2 saved" in detail and "2026-01-01" in detail

    # removing a rule (its DELETE flag) drops it
    removed = form_data(
        terms=same_terms(),
        rules=[
            {**RULE, "id": rule.pk, "tiers": tiers},
            {**second, "id": rules["deepseek-reasoner"].pk, "DELETE": "on"},
        ],
        commitments=[{**COMMITMENT, "id": commitment.pk, "amount": "600 B"}],
        clauses=[{**CLAUSE, "id": clause.pk}],
        initial=(2, 1, 1),
    )
    assert buyer.post("/agreements/FA-2026-01/edit/", removed).status_code == 302
    assert list(agreement.price_rules.values_list("pk", flat=True)) == [rule.pk]


def same_terms() -> dict:
    return {k: v for k, v in TERMS.items() if k != "reference"}


def test_four_eyes_through_the_pages(world, buyer):
    organization_settings_update(actor=None, four_eyes_enabled=True)
    response = buyer.post("/agreements/new/", form_data(terms={**TERMS, "status": "active"}), follow=True)
    html = response.content.decode()
    approval = ApprovalRequest.objects.get()
    assert "awaits a second person" in html and f"Awaiting approval #{approval.pk}" in html
    assert "Withdraw" in html and "/approve/" not in html  # the requester cannot approve
    assert re.search(r"<dt[^>]*>status</dt><dd[^>]*>active</dd>", html)  # what the change would set
    assert "/agreements/FA-2026-01/delete/" not in html  # a draft waiting for activation is not deleted
    assert Agreement.objects.get().status == "draft"

    response = buyer.post(f"/approvals/{approval.pk}/approve/", {"next": "/agreements/FA-2026-01/"}, follow=True)
    assert "a second person must approve" in response.content.decode()
    assert ApprovalRequest.objects.get().status == "pending"

    auditor = signed_in(world.user(Role.AUDITOR))
    page = auditor.get("/agreements/FA-2026-01/").content.decode()
    assert f"Awaiting approval #{approval.pk}" in page and "/approve/" not in page and "Withdraw" not in page
    assert auditor.post(f"/approvals/{approval.pk}/approve/").status_code == 403

    # another activation while one waits is refused, shown above the form
    terms = {**same_terms(), "status": "active", "po_number": "X"}
    response = buyer.post("/agreements/FA-2026-01/edit/", form_data(terms=terms))
    assert response.status_code == 409 and "awaits approval" in response.content.decode()

    finance = signed_in(world.user(Role.FINANCE))
    page = finance.get("/agreements/FA-2026-01/").content.decode()
    assert f'action="/approvals/{approval.pk}/approve/"' in page and "Reject" in page
    response = finance.post(f"/approvals/{approval.pk}/approve/", {"next": "/agreements/FA-2026-01/", "note": "ok"})
    assert response.status_code == 302 and response["Location"] == "/agreements/FA-2026-01/"
    agreement = Agreement.objects.get()
    assert agreement.status == "active"
    page = finance.get("/agreements/FA-2026-01/").content.decode()
    assert "Awaiting approval" not in page and "Approved #" in page
    assert re.search(r"<td>t-procurement</td>\s*<td>t-finance</td>", page)  # amendment: who, approved by


def test_document_upload_and_download(world, buyer):
    _stored()
    pdf = SimpleUploadedFile("signed.pdf", b"%PDF-1.7 signed", content_type="application/pdf")
    response = buyer.post("/agreements/FA-2026-01/document/", {"file": pdf})
    assert response.status_code == 302
    assert StoredFile.objects.get().name.startswith("agreements/FA-2026-01/")
    page = buyer.get("/agreements/FA-2026-01/").content.decode()
    assert 'href="/agreements/FA-2026-01/document/"' in page and "signed.pdf" in page
    download = signed_in(world.user(Role.AUDITOR)).get("/agreements/FA-2026-01/document/")
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"%PDF-1.7 signed"
    assert "attachment" in download["Content-Disposition"]
    assert signed_in(world.user(Role.DEPARTMENT_MANAGER)).get("/agreements/FA-2026-01/document/").status_code == 403
    finance = signed_in(world.user(Role.FINANCE))
    assert finance.post("/agreements/FA-2026-01/document/", {"file": pdf}).status_code == 403
    assert "Upload" not in finance.get("/agreements/FA-2026-01/").content.decode().split("Signed document")[1][:600]


def test_list_filters_and_exports(world):
    _stored()
    make_agreement("FA-OLD", start=date(2024, 1, 1), end=date(2024, 12, 31), status="expired")
    client = signed_in(world.user(Role.FINANCE))
    page = client.get("/agreements/", {"status": "draft"}).content.decode()
    assert "FA-2026-01" in page and "FA-OLD" not in page
    assert "Take or pay 500 B tokens / annual" in page and "PO-778" in page
    page = client.get("/agreements/", {"q": "old"}).content.decode()
    assert "FA-OLD" in page and "FA-2026-01" not in page
    csv = client.get("/agreements/", {"status": "draft", "_export": "csv"})
    assert csv["Content-Type"].startswith("text/csv")
    lines = csv.content.decode().strip().splitlines()
    assert lines[0].startswith("Reference") and len(lines) == 2
    assert "FA-2026-01" in lines[1] and "2026-01-01 to 2026-12-31" in lines[1] and "draft" in lines[1]
    xlsx = client.get("/agreements/", {"_export": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_pending_badge_in_the_list(world):
    organization_settings_update(actor=None, four_eyes_enabled=True)
    agreement_change(
        agreement=None, changes=from_payload({**API_EXAMPLE, "status": "active"}), actor=world.user(Role.PROCUREMENT)
    )
    approval = ApprovalRequest.objects.get()
    page = signed_in(world.user(Role.AUDITOR)).get("/agreements/").content.decode()
    assert f"#{approval.pk} pending</span>" in page


def test_who_may_view_and_change(world):
    agreement = make_agreement("FA-DRAFT")
    make_agreement("FA-LIVE", status="active", start=date(2027, 1, 1), end=date(2027, 12, 31), vendor=agreement.vendor)
    for role in (Role.ADMIN, Role.FINANCE, Role.AUDITOR):
        client = signed_in(world.user(role))
        assert client.get("/agreements/").status_code == 200
        page = client.get("/agreements/FA-DRAFT/")
        assert page.status_code == 200 and b"/agreements/FA-DRAFT/edit/" not in page.content
        assert client.get("/agreements/new/").status_code == 403
        assert client.get("/agreements/FA-DRAFT/edit/").status_code == 403
        assert client.post("/agreements/FA-DRAFT/edit/", form_data()).status_code == 403
        assert client.post("/agreements/FA-DRAFT/delete/").status_code == 403
    manager = signed_in(world.user(Role.DEPARTMENT_MANAGER))
    for url in ("/agreements/", "/agreements/FA-DRAFT/", "/agreements/new/", "/agreements/FA-DRAFT/edit/"):
        assert manager.get(url).status_code == 403, url
    assert signed_in(world.user(Role.SERVICE)).get("/agreements/").status_code in (302, 403)
    assert Client().get("/agreements/FA-DRAFT/")["Location"].startswith("/accounts/login/")

    buyer = signed_in(world.user(Role.PROCUREMENT))
    assert buyer.get("/agreements/MISSING/edit/").status_code == 404
    response = buyer.post("/agreements/FA-LIVE/delete/", follow=True)
    assert "only drafts can be deleted" in response.content.decode()
    assert Agreement.objects.filter(reference="FA-LIVE").exists()
    response = buyer.post("/agreements/FA-DRAFT/delete/")
    assert response.status_code == 302 and response["Location"] == "/agreements/"
    assert not Agreement.objects.filter(reference="FA-DRAFT").exists()
