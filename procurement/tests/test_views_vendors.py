"""Vendor pages: list, detail, create and edit with messages beside fields, delete."""

import pytest
from django.test import Client

from core.roles import Role
from procurement.models import Vendor

from .test_api_vendors import make_vendor

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


FORM = {
    "name": "Moonshot AI",
    "slug": "moonshot",
    "kind": "producer",
    "country": "cn",
    "billing_currency": "CNY",
    "payment_terms_days": "30",
    "invoice_type": "fapiao_general",
    "data_residency": "CN",
    "aliases": "Moonshot\nKimi",
}


def test_procurement_creates_and_edits_a_vendor(role_world):
    client = signed_in(role_world.user(Role.PROCUREMENT))
    response = client.post("/vendors/new/", FORM)
    assert response.status_code == 302 and response["Location"] == "/vendors/moonshot/"
    vendor = Vendor.objects.get(slug="moonshot")
    assert vendor.country == "CN" and vendor.aliases == ["Kimi", "Moonshot"]
    page = client.get("/vendors/moonshot/")
    assert b"Moonshot AI" in page.content and b"Kimi" in page.content and b"Change history" in page.content
    edit = client.get("/vendors/moonshot/edit/")
    assert b"Moonshot\nKimi" in edit.content or b"Kimi\nMoonshot" in edit.content
    response = client.post("/vendors/moonshot/edit/", {**FORM, "payment_terms_days": "45"})
    assert response.status_code == 302
    assert Vendor.objects.get(slug="moonshot").payment_terms_days == 45


def test_errors_beside_fields(role_world):
    make_vendor("kimi", aliases=["Kimi"])
    client = signed_in(role_world.user(Role.PROCUREMENT))
    response = client.post("/vendors/new/", {**FORM, "country": "ZZ", "billing_currency": "XXX1"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "ZZ is not an ISO 3166 country code" in html and "invalid-feedback" in html
    response = client.post("/vendors/new/", FORM)  # alias Kimi belongs to another vendor
    assert response.status_code == 200 and "belongs to Kimi" in response.content.decode()
    assert not Vendor.objects.filter(slug="moonshot").exists()


def test_list_filters_and_exports(role_world):
    make_vendor("deepseek", aliases=["DeepSeek"])
    make_vendor("openai", country="US", billing_currency="USD")
    client = signed_in(role_world.user(Role.FINANCE))
    page = client.get("/vendors/", {"country": "US"})
    assert b"Openai" in page.content and b"Deepseek" not in page.content
    assert b"New" not in page.content.split(b"page-body")[0] or b"/vendors/new/" not in page.content
    xlsx = client.get("/vendors/", {"_export": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_only_procurement_changes_vendors(role_world):
    make_vendor("deepseek")
    for role in (Role.FINANCE, Role.AUDITOR, Role.DEPARTMENT_MANAGER, Role.ADMIN):
        client = signed_in(role_world.user(role))
        assert client.get("/vendors/deepseek/").status_code == 200
        assert client.get("/vendors/deepseek/edit/").status_code == 403
        assert client.post("/vendors/deepseek/delete/").status_code == 403
    client = signed_in(role_world.user(Role.PROCUREMENT))
    assert client.post("/vendors/deepseek/delete/").status_code == 302
    assert not Vendor.objects.filter(slug="deepseek").exists()
