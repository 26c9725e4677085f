"""Certification and price-book pages: forms with messages beside fields, lists that filter and
export, the vendor page's sections, and who may change what."""

import datetime
from decimal import Decimal

import pytest

from core.roles import Role
from procurement.models import VendorCertification, VendorModel

from .factories import VendorCertificationFactory, VendorFactory, VendorModelFactory
from .helpers import csv_rows, errors_beside, signed_in

pytestmark = pytest.mark.django_db

CERT = {"vendor": "deepseek", "kind": "iso_27001", "valid_from": "2026-01-01", "valid_until": "2028-12-31"}
PRICE = {
    "vendor": "deepseek",
    "model": "deepseek-chat",
    "effective_from": "2026-01-01",
    "effective_to": "",
    "currency": "",
    "input_price": "2",
    "cached_input_price": "0.5",
    "cache_write_price": "",
    "output_price": "8",
}


def test_certification_added_from_the_vendor_page(role_world):
    VendorFactory(slug="deepseek", name="DeepSeek")
    client = signed_in(role_world.user(Role.PROCUREMENT))
    vendor_page = client.get("/vendors/deepseek/").content.decode()
    assert 'href="/vendor-certifications/new/?vendor=deepseek"' in vendor_page and "Add certification" in vendor_page
    form = client.get("/vendor-certifications/new/", {"vendor": "deepseek"}).content.decode()
    assert '<option value="deepseek" selected>' in form
    response = client.post("/vendor-certifications/new/", {**CERT, "reference": "BSI 0042"})
    cert = VendorCertification.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/vendor-certifications/{cert.pk}/"
    assert cert.history.first().history_user == role_world.user(Role.PROCUREMENT)
    detail = client.get(response["Location"]).content.decode()
    assert "ISO/IEC 27001" in detail and "BSI 0042" in detail and "Change history" in detail
    assert f'href="/vendor-certifications/{cert.pk}/"' in client.get("/vendors/deepseek/").content.decode()
    edit = client.post(f"/vendor-certifications/{cert.pk}/edit/", {**CERT, "valid_until": "2029-06-30"})
    assert edit.status_code == 302
    cert.refresh_from_db()
    assert cert.valid_until == datetime.date(2029, 6, 30)


def test_certification_errors_beside_fields(role_world):
    VendorFactory(slug="deepseek")
    client = signed_in(role_world.user(Role.PROCUREMENT))
    response = client.post(
        "/vendor-certifications/new/", {**CERT, "valid_from": "2026-06-01", "valid_until": "2026-05-31"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert errors_beside(html, "valid_until") == [
        "Valid until (2026-05-31) must be on or after valid from (2026-06-01)."
    ]
    assert errors_beside(html, "valid_from") == []
    response = client.post("/vendor-certifications/new/", {**CERT, "valid_from": "someday"})
    assert errors_beside(response.content.decode(), "valid_from") == ["Enter a valid date."]
    assert not VendorCertification.objects.exists()


def test_certification_list_filters_and_exports(role_world):
    today = datetime.date.today()
    acme = VendorFactory(slug="acme", name="Acme AI")
    VendorCertificationFactory(vendor=acme, reference="CURRENT-1")
    VendorCertificationFactory(
        vendor=acme,
        kind="soc2_type2",
        reference="LAPSED-1",
        valid_from=today - datetime.timedelta(days=500),
        valid_until=today - datetime.timedelta(days=5),
    )
    client = signed_in(role_world.user(Role.FINANCE))
    page = client.get("/vendor-certifications/", {"status": "expired"}).content.decode()
    assert "LAPSED-1" in page and "CURRENT-1" not in page
    assert 'href="/vendor-certifications/new/"' not in page  # finance reads, procurement records
    rows = csv_rows(client.get("/vendor-certifications/", {"vendor": "acme", "_export": "csv"}))
    assert {(r["Kind"], r["Vendor"], r["Status"], r["Reference"]) for r in rows} == {
        ("ISO/IEC 27001", "Acme AI", "valid", "CURRENT-1"),
        ("SOC 2 Type II", "Acme AI", "expired", "LAPSED-1"),
    }
    xlsx = client.get("/vendor-certifications/", {"_export": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_price_added_and_overlap_shown_beside_the_start(role_world):
    VendorFactory(slug="deepseek", billing_currency="CNY")
    procurement = role_world.user(Role.PROCUREMENT)
    client = signed_in(procurement)
    assert 'href="/vendor-models/new/?vendor=deepseek"' in client.get("/vendors/deepseek/").content.decode()
    response = client.post("/vendor-models/new/", PRICE)
    price = VendorModel.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/vendor-models/{price.pk}/"
    assert price.currency == "CNY" and price.cached_input_price == Decimal("0.5") and price.cache_write_price is None
    assert price.history.first().history_user == procurement

    clash = client.post("/vendor-models/new/", {**PRICE, "effective_from": "2026-03-01", "input_price": "1"})
    assert clash.status_code == 200
    html = clash.content.decode()
    assert errors_beside(html, "effective_from") == [
        "deepseek-chat already has a list price for 2026-01-01 → open, which overlaps 2026-03-01 → open. "
        "End that period first (set its effective_to) or choose dates outside it."
    ]
    assert 'value="2026-03-01"' in html  # what was typed stays in the form
    backwards = client.post(
        "/vendor-models/new/", {**PRICE, "effective_from": "2026-03-01", "effective_to": "2026-02-01"}
    )
    assert "before it starts" in errors_beside(backwards.content.decode(), "effective_to")[0]
    negative = client.post("/vendor-models/new/", {**PRICE, "effective_from": "2027-01-01", "output_price": "-1"})
    assert errors_beside(negative.content.decode(), "output_price") == ["Prices cannot be negative."]
    assert VendorModel.objects.count() == 1

    # end the first period, then the new one fits
    assert client.post(f"/vendor-models/{price.pk}/edit/", {**PRICE, "effective_to": "2026-02-28"}).status_code == 302
    assert (
        client.post("/vendor-models/new/", {**PRICE, "effective_from": "2026-03-01", "input_price": "1"}).status_code
        == 302
    )
    detail = client.get(f"/vendor-models/{price.pk}/").content.decode()
    assert "2026-01-01 → 2026-02-28" in detail and "2026-03-01 → open" in detail and "Change history" in detail


def test_price_book_list_filters_and_exports_exact_prices(role_world):
    deepseek = VendorFactory(slug="deepseek", name="DeepSeek")
    openai = VendorFactory(slug="openai", name="OpenAI", billing_currency="USD")
    VendorModelFactory(vendor=deepseek, model="deepseek-chat", effective_to=datetime.date(2026, 6, 30))
    VendorModelFactory(vendor=openai, model="gpt-4.1", currency="USD", input_price=Decimal("0.000001"))
    client = signed_in(role_world.user(Role.AUDITOR))
    page = client.get("/vendor-models/", {"on": "2026-08-01"}).content.decode()
    assert "gpt-4.1" in page and "deepseek-chat" not in page
    page = client.get("/vendor-models/", {"vendor": "deepseek"}).content.decode()
    assert "deepseek-chat" in page and "gpt-4.1" not in page
    rows = csv_rows(client.get("/vendor-models/", {"_export": "csv", "currency": "usd"}))
    assert [(r["Model"], r["Vendor"], r["Input"], r["Cached input"]) for r in rows] == [
        ("gpt-4.1", "OpenAI", "0.000001", "")
    ]
    assert client.get("/vendor-models/", {"_export": "xlsx"}).content[:2] == b"PK"


def test_only_procurement_changes_certifications_and_prices(role_world):
    cert = VendorCertificationFactory(vendor=VendorFactory(slug="deepseek"))
    price = VendorModelFactory(vendor=cert.vendor)
    for role in (Role.FINANCE, Role.AUDITOR, Role.ADMIN, Role.DEPARTMENT_MANAGER):
        client = signed_in(role_world.user(role))
        assert client.get(f"/vendor-certifications/{cert.pk}/").status_code == 200
        assert client.get(f"/vendor-certifications/{cert.pk}/edit/").status_code == 403
        assert client.post(f"/vendor-certifications/{cert.pk}/delete/").status_code == 403
        assert client.get("/vendor-models/new/").status_code == 403
        assert client.post(f"/vendor-models/{price.pk}/delete/").status_code == 403
        vendor_page = client.get("/vendors/deepseek/").content.decode()
        assert "Add certification" not in vendor_page and "Add price" not in vendor_page
    procurement = signed_in(role_world.user(Role.PROCUREMENT))
    assert procurement.post(f"/vendor-certifications/{cert.pk}/delete/").status_code == 302
    assert procurement.post(f"/vendor-models/{price.pk}/delete/").status_code == 302
    assert not VendorCertification.objects.exists() and not VendorModel.objects.exists()


def test_department_managers_do_not_see_list_prices(role_world):
    """The policy gives the price book to company-wide readers only; a manager reads vendors."""
    price = VendorModelFactory(vendor=VendorFactory(slug="deepseek"), model="secret-model")
    manager = signed_in(role_world.user(Role.DEPARTMENT_MANAGER))
    vendor_page = manager.get("/vendors/deepseek/").content.decode()
    assert "List prices in force" not in vendor_page and "secret-model" not in vendor_page
    assert manager.get("/vendor-models/").status_code == 403
    assert manager.get(f"/vendor-models/{price.pk}/").status_code == 403
    finance_page = signed_in(role_world.user(Role.FINANCE)).get("/vendors/deepseek/").content.decode()
    assert "secret-model" in finance_page
