"""Vendors through the API: API.md's fields, the role matrix, aliases unique across vendors."""

import pytest

from core.roles import Role
from core.testing import APIResourceContract, assert_error_shape, token_client
from procurement.models import Vendor
from procurement.selectors import vendor_by_alias
from procurement.services import vendor_save

pytestmark = pytest.mark.django_db

DEEPSEEK = {
    "slug": "deepseek",
    "name": "DeepSeek",
    "kind": "producer",
    "country": "CN",
    "billing_currency": "CNY",
    "payment_terms_days": 30,
    "invoice_type": "fapiao_special",
    "data_residency": ["CN"],
    "dpa_signed": True,
    "aliases": ["DeepSeek", "deepseek-ai"],
}


def make_vendor(slug="acme", **overrides):
    fields = {**DEEPSEEK, "slug": slug, "name": slug.title(), "aliases": [], **overrides}
    aliases = fields.pop("aliases")
    return vendor_save(actor=None, aliases=aliases, **fields)


class TestVendorAPI(APIResourceContract):
    resource = "vendor"
    basename = "vendor"
    lookup_field = "slug"

    def make_object(self, world, department):
        return Vendor.objects.filter(slug="acme").first() or make_vendor("acme")

    def create_payload(self, world):
        return DEEPSEEK

    def update_payload(self, world, obj):
        return {"payment_terms_days": 60}


def test_every_api_field_round_trips(role_world):
    client = token_client(role_world.user(Role.PROCUREMENT))
    response = client.post("/api/v1/vendors/", DEEPSEEK, format="json")
    assert response.status_code == 201, response.content
    body = client.get("/api/v1/vendors/deepseek/").json()
    for field, value in DEEPSEEK.items():
        assert body[field] == value, field
    response = client.patch(
        "/api/v1/vendors/deepseek/", {"aliases": ["DeepSeek AI"], "data_residency": ["cn", "sg"]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["aliases"] == ["DeepSeek AI"] and response.json()["data_residency"] == ["CN", "SG"]
    assert vendor_by_alias("deepseek ai").slug == "deepseek"
    assert vendor_by_alias("DeepSeek").slug == "deepseek"  # its own name still matches
    assert vendor_by_alias("nobody") is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"billing_currency": "XYZ"}, "billing_currency"),
        ({"country": "XX"}, "country"),
        ({"kind": "reseller"}, "kind"),
        ({"data_residency": ["eu west"]}, "data_residency"),
        ({"payment_terms_days": -5}, "payment_terms_days"),
        ({"slug": "Not A Slug"}, "slug"),
    ],
)
def test_invalid_fields_are_400_with_the_field_named(change, field, role_world):
    client = token_client(role_world.user(Role.PROCUREMENT))
    response = client.post("/api/v1/vendors/", {**DEEPSEEK, **change}, format="json")
    assert response.status_code == 400, response.content
    assert_error_shape(response)
    assert field in response.json()["extra"]["fields"]
    assert not Vendor.objects.exists()


def test_aliases_unique_across_vendors_ignoring_case(role_world):
    make_vendor("openrouter", aliases=["OpenRouter"])
    client = token_client(role_world.user(Role.PROCUREMENT))
    response = client.post("/api/v1/vendors/", {**DEEPSEEK, "aliases": ["openrouter"]}, format="json")
    assert response.status_code == 400
    assert "belongs to Openrouter" in response.json()["message"]
    assert not Vendor.objects.filter(slug="deepseek").exists()  # nothing half-applied


def test_duplicate_slug_refused(role_world):
    make_vendor("deepseek")
    response = token_client(role_world.user(Role.PROCUREMENT)).post("/api/v1/vendors/", DEEPSEEK, format="json")
    assert response.status_code == 400 and "slug" in response.json()["extra"]["fields"]


def test_filters_on_listed_fields(role_world):
    make_vendor("deepseek", country="CN", data_residency=["CN"], aliases=["DeepSeek"])
    make_vendor("openai", country="US", billing_currency="USD", data_residency=["US", "EU"], dpa_signed=False)
    client = token_client(role_world.user(Role.AUDITOR))

    def slugs(**params):
        return [v["slug"] for v in client.get("/api/v1/vendors/", params).json()["results"]]

    assert slugs(country="US") == ["openai"]
    assert slugs(billing_currency="CNY") == ["deepseek"]
    assert slugs(data_residency="eu") == ["openai"]
    assert slugs(aliases="deepseek") == ["deepseek"]
    assert slugs(dpa_signed="false") == ["openai"]
    assert slugs(ordering="-slug") == ["openai", "deepseek"]


def test_history_records_who_changed_what(role_world):
    procurement = role_world.user(Role.PROCUREMENT)
    client = token_client(procurement)
    client.post("/api/v1/vendors/", DEEPSEEK, format="json")
    client.patch("/api/v1/vendors/deepseek/", {"payment_terms_days": 45}, format="json")
    latest = Vendor.objects.get(slug="deepseek").history.first()
    assert latest.history_user == procurement and latest.payment_terms_days == 45
    assert latest.prev_record.payment_terms_days == 30


def test_vendor_in_use_cannot_be_deleted(role_world):
    from procurement.models import Budget

    vendor = make_vendor("deepseek")
    Budget.objects.create(department=role_world.inside, fiscal_year=2026, amount=1, currency="USD", vendor=vendor)
    response = token_client(role_world.user(Role.PROCUREMENT)).delete("/api/v1/vendors/deepseek/")
    assert response.status_code == 409
    assert_error_shape(response)
    assert Vendor.objects.filter(slug="deepseek").exists()
