"""Vendor invoices through the API: defaults (due date from the payment terms, currency, tax
document, PO), amounts (lines → subtotal, subtotal + tax = total, minor units), duplicates,
approval (once), documents (size and type), filters, and the role matrix."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from billing.models import VendorInvoice
from billing.services.vendor_invoices import vendor_invoice_create
from contracts.models import Agreement
from core.roles import Role
from core.testing import APIResourceContract, assert_error_shape, token_client

from .reconciliation_world import vendor

pytestmark = pytest.mark.django_db
URL = "/api/v1/vendor-invoices/"
PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
D = Decimal


def make_invoice(number="INV-1", **fields) -> VendorInvoice:
    v = fields.pop("vendor", None) or vendor("acme", "Acme AI", "USD", payment_terms_days=30)
    fields.setdefault("invoice_date", date(2026, 2, 3))
    fields.setdefault("period", date(2026, 1, 1))
    fields.setdefault("subtotal", D("100.00"))
    return vendor_invoice_create(actor=None, vendor=v, number=number, **fields)


class TestVendorInvoiceAPI(APIResourceContract):
    resource = "vendor_invoice"
    basename = "vendor-invoice"
    _n = 0

    def make_object(self, world, department):
        TestVendorInvoiceAPI._n += 1
        return make_invoice(number=f"C-{TestVendorInvoiceAPI._n}")

    def create_payload(self, world):
        vendor("acme", "Acme AI", "USD")
        return {
            "vendor": "acme",
            "number": "NEW-1",
            "invoice_date": "2026-02-01",
            "period": "2026-01",
            "subtotal": "5.00",
        }

    def update_payload(self, world, obj):
        return {"notes": "checked"}


@pytest.fixture
def finance(role_world):
    return token_client(role_world.user(Role.FINANCE))


@pytest.fixture
def acme(role_world):
    return vendor("acme", "Acme AI", "USD", payment_terms_days=30)


def post(client, **body):
    payload = {"vendor": "acme", "number": "A-1", "invoice_date": "2026-02-03", "period": "2026-01", **body}
    return client.post(URL, payload, format="json")


def test_lines_make_the_subtotal_and_the_defaults_fill_in(finance, acme):
    response = post(
        finance,
        tax="2.10",
        lines=[
            {"description": "acme-large input", "model": "acme-large", "tokens": 1000000, "amount": "7.50"},
            {"description": "acme-large output", "model": "acme-large", "amount": "3.00"},
        ],
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["subtotal"] == "10.50" and body["tax"] == "2.10" and body["total"] == "12.60"
    assert body["currency"] == "USD"  # the vendor's billing currency
    assert body["due_date"] == "2026-03-05"  # 3 Feb + the vendor's 30 days
    assert body["period"] == "2026-01" and body["status"] == "received" and body["tax_type"] == "none"
    assert body["created_by"] == "t-finance" and body["document"] is None
    assert body["lines"] == [
        {"position": 0, "description": "acme-large input", "model": "acme-large", "tokens": 1000000, "amount": "7.50"},
        {"position": 1, "description": "acme-large output", "model": "acme-large", "tokens": None, "amount": "3.00"},
    ]


def test_the_agreements_payment_terms_po_and_the_vendors_tax_document(finance, role_world):
    vendor("zhipu", "Zhipu", "CNY", country="CN", payment_terms_days=30, invoice_type="fapiao_special")
    procurement = token_client(role_world.user(Role.PROCUREMENT))
    response = procurement.post(
        "/api/v1/agreements/",
        {
            "reference": "FA-GLM",
            "vendor": "zhipu",
            "start": "2026-01-01",
            "end": "2026-12-31",
            "currency": "CNY",
            "status": "active",
            "payment_terms_days": 60,
            "po_number": "PO-GLM-9",
            "price_rules": [],
            "commitments": [],
            "sla_clauses": [],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = post(finance, vendor="zhipu", subtotal="1000.00", tax="60.00").json()
    assert body["currency"] == "CNY" and body["due_date"] == "2026-04-04"  # 3 Feb + 60 days
    assert body["po_number"] == "PO-GLM-9" and body["tax_type"] == "fapiao_special" and body["total"] == "1060.00"
    # an explicit due date wins; a changed invoice date moves a due date that was not given
    invoice_id = body["id"]
    moved = finance.patch(f"{URL}{invoice_id}/", {"invoice_date": "2026-02-10"}, format="json").json()
    assert moved["due_date"] == "2026-04-11"
    fixed = finance.patch(f"{URL}{invoice_id}/", {"due_date": "2026-03-31"}, format="json").json()
    assert fixed["due_date"] == "2026-03-31"
    Agreement.objects.update(status=Agreement.Status.TERMINATED)
    later = post(finance, vendor="zhipu", number="Z-2", subtotal="1.00").json()
    assert later["due_date"] == "2026-03-05" and later["po_number"] == ""  # the vendor's 30 days


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (
            {"subtotal": "10.00", "lines": [{"description": "x", "amount": "9.99"}]},
            "subtotal",
            "not the sum of the lines",
        ),
        ({"subtotal": "10.00", "tax": "1.00", "total": "12.00"}, "total", "not subtotal + tax (10 + 1 = 11)"),
        ({}, "subtotal", "Give the subtotal (before tax), or the invoice's lines."),
        ({"subtotal": "10.001"}, "subtotal", "USD amounts have at most 2 decimal places."),
        ({"subtotal": "10", "tax": "-1"}, "tax", "Tax cannot be negative."),
        ({"lines": [{"description": "", "amount": "1.00"}]}, "lines", "Describe the line"),
        ({"lines": [{"description": "x", "amount": "1.005"}]}, "lines", "at most 2 decimal places"),
        ({"subtotal": "1", "currency": "XYZ"}, "currency", "not an ISO 4217 currency code"),
        ({"subtotal": "1", "period": "2026-13"}, "period", "not a month"),
        ({"subtotal": "1", "vendor": "nobody"}, "vendor", None),
        ({"subtotal": "1", "due_date": "2026-01-01"}, "due_date", "cannot be before the invoice date"),
    ],
)
def test_amount_and_field_rules_are_400_with_the_field_named(body, field, message, finance, acme):
    response = post(finance, **body)
    assert response.status_code == 400, response.content
    assert_error_shape(response)
    fields = response.json()["extra"]["fields"]
    assert field in fields, fields
    if message:
        assert message in json.dumps(fields[field], ensure_ascii=False), fields[field]
    assert not VendorInvoice.objects.exists()


def test_yen_amounts_are_whole(finance):
    vendor("sakura", "Sakura", "JPY", country="JP")
    assert post(finance, vendor="sakura", subtotal="1500.5").status_code == 400
    body = post(finance, vendor="sakura", subtotal="1500", tax="150").json()
    assert (body["subtotal"], body["total"]) == ("1500", "1650")


def test_a_number_is_entered_once_per_vendor(finance, acme):
    assert post(finance, subtotal="1").status_code == 201
    again = post(finance, number="a-1", subtotal="2")
    assert again.status_code == 400
    assert again.json()["extra"]["fields"]["number"] == [
        "Acme AI invoice a-1 is already entered (dated 2026-02-03); open that one instead."
    ]
    vendor("other", "Other", "USD")
    assert post(finance, vendor="other", subtotal="1").status_code == 201  # another vendor's A-1


def test_approval_once_and_no_change_after(finance, acme, role_world):
    invoice_id = post(finance, subtotal="1").json()["id"]
    approved = finance.post(f"{URL}{invoice_id}/approve")
    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == "approved" and approved.json()["approved_by"] == "t-finance"
    again = finance.post(f"{URL}{invoice_id}/approve/")
    assert again.status_code == 409
    assert_error_shape(again)
    assert "already approved by t-finance" in again.json()["message"]
    assert finance.patch(f"{URL}{invoice_id}/", {"notes": "late"}, format="json").status_code == 409
    assert finance.delete(f"{URL}{invoice_id}/").status_code == 409
    history = VendorInvoice.objects.get().history.order_by("history_date")
    assert [h.status for h in history] == ["received", "approved"]


@pytest.mark.parametrize(
    ("role", "code"),
    [(Role.FINANCE, 200), (Role.PROCUREMENT, 403), (Role.AUDITOR, 403), (Role.ADMIN, 403), (Role.SERVICE, 403)],
)
def test_only_finance_approves(role, code, role_world, acme):
    invoice = make_invoice()
    assert token_client(role_world.user(role)).post(f"{URL}{invoice.pk}/approve").status_code == code


def test_multipart_with_a_document_and_lines_as_json_text(finance, acme):
    response = finance.post(
        URL,
        {
            "vendor": "acme",
            "number": "DOC-1",
            "invoice_date": "2026-02-03",
            "period": "2026-01",
            "lines": json.dumps([{"description": "usage", "amount": "42.00"}]),
            "document": SimpleUploadedFile("inv.pdf", PDF, content_type="application/pdf"),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["subtotal"] == "42.00" and body["document"] == f"{URL}{body['id']}/document"
    download = finance.get(body["document"])
    assert download.status_code == 200 and b"".join(download.streaming_content) == PDF
    assert "inv.pdf" in download["Content-Disposition"]


def test_documents_are_checked_by_size_and_content(finance, acme, settings):
    invoice_id = post(finance, subtotal="1").json()["id"]
    url = f"{URL}{invoice_id}/document"
    xml = b'<?xml version="1.0"?><Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>'
    assert finance.post(url, {"file": SimpleUploadedFile("e.xml", xml)}, format="multipart").status_code == 200
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 20
    assert finance.post(url, {"file": SimpleUploadedFile("scan.png", png)}, format="multipart").status_code == 200
    fake = finance.post(url, {"file": SimpleUploadedFile("inv.pdf", b"MZ\x90\x00 not a pdf")}, format="multipart")
    assert fake.status_code == 415 and "content does not match" in fake.json()["message"]
    exe = finance.post(url, {"file": SimpleUploadedFile("run.exe", b"MZ")}, format="multipart")
    assert exe.status_code == 415 and "upload a PDF, an image or an XML/OFD e-invoice" in exe.json()["message"]
    settings.VENDOR_INVOICE_DOCUMENT_MAX_BYTES = 10
    big = finance.post(url, {"file": SimpleUploadedFile("inv.pdf", PDF)}, format="multipart")
    assert big.status_code == 413
    assert_error_shape(big)
    assert big.json()["extra"]["fields"]["document"] == [f"The document is {len(PDF)} bytes; the limit is 10 bytes."]
    assert VendorInvoice.objects.get().document.name.endswith(".png")


def test_filters_and_ordering(finance, acme):
    other = vendor("beta", "Beta", "EUR")
    make_invoice("J-1", subtotal=D("5.00"))
    make_invoice("F-1", period=date(2026, 2, 1), invoice_date=date(2026, 3, 2))
    make_invoice("B-1", vendor=other)
    approve = VendorInvoice.objects.get(number="F-1")
    finance.post(f"{URL}{approve.pk}/approve")

    def numbers(**query):
        response = finance.get(URL, query)
        assert response.status_code == 200, response.content
        return [r["number"] for r in response.json()["results"]]

    assert numbers(vendor="acme", ordering="number") == ["F-1", "J-1"]
    assert numbers(period="2026-02") == ["F-1"]
    assert numbers(status="approved") == ["F-1"]
    assert numbers(currency="eur") == ["B-1"]
    assert numbers(q="beta") == ["B-1"]
    assert numbers(ordering="-total")[0] in ("F-1", "B-1")
    bad = finance.get(URL, {"period": "Jan"})
    assert bad.status_code == 400 and "period" in bad.json()["extra"]["fields"]
