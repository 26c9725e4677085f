"""The price book through the API: decimal-string prices, effective periods that never overlap,
filters, and list_price_for (the price in force on a date)."""

import datetime
from decimal import Decimal

import pytest

from core.roles import Role
from core.testing import APIResourceContract, assert_error_shape, token_client
from procurement import selectors
from procurement.models import VendorModel
from procurement.selectors import list_price_for
from procurement.services import vendor_model_save
from procurement.services import vendors as vendor_services

from .factories import VendorFactory, VendorModelFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/vendor-models/"

DEEPSEEK_CHAT = {
    "vendor": "deepseek",
    "model": "deepseek-chat",
    "effective_from": "2026-01-01",
    "effective_to": None,
    "currency": "CNY",
    "input_price": "2.000000",
    "cached_input_price": "0.500000",
    "cache_write_price": None,
    "output_price": "8.000000",
}


def price(vendor, model="deepseek-chat", start="2026-01-01", end=None, **fields):
    return vendor_model_save(
        actor=None,
        vendor=vendor,
        model=model,
        effective_from=datetime.date.fromisoformat(start),
        effective_to=datetime.date.fromisoformat(end) if end else None,
        input_price=fields.pop("input_price", Decimal(2)),
        output_price=fields.pop("output_price", Decimal(8)),
        **fields,
    )


class TestVendorModelAPI(APIResourceContract):
    resource = "vendor_model"
    basename = "vendor-model"

    def make_object(self, world, department):
        return VendorModelFactory(vendor=VendorFactory(slug="deepseek"))

    def create_payload(self, world):
        VendorFactory(slug="deepseek")
        return DEEPSEEK_CHAT

    def update_payload(self, world, obj):
        return {"output_price": "7.500000"}


def test_prices_round_trip_as_decimal_strings(role_world):
    """GIVEN a vendor WHEN a list price is added THEN every field comes back as sent, prices as
    decimal strings (never JSON numbers), a missing cached price as null."""
    VendorFactory(slug="deepseek")
    client = token_client(role_world.user(Role.PROCUREMENT))
    response = client.post(URL, DEEPSEEK_CHAT, format="json")
    assert response.status_code == 201, response.content
    body = client.get(f"{URL}{response.json()['id']}/").json()
    for field, value in DEEPSEEK_CHAT.items():
        assert body[field] == value, field
    stored = VendorModel.objects.get()
    assert stored.cached_input_price == Decimal("0.5") and stored.cache_write_price is None


def test_six_decimals_kept_exactly_and_currency_defaults_to_the_vendors(role_world):
    VendorFactory(slug="openai", billing_currency="USD")
    client = token_client(role_world.user(Role.PROCUREMENT))
    payload = {"vendor": "openai", "model": "gpt-4.1-nano", "effective_from": "2026-01-01"}
    response = client.post(
        URL, {**payload, "input_price": "0.000001", "output_price": "123456789012.123456"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["currency"] == "USD"
    stored = VendorModel.objects.get()
    assert stored.input_price == Decimal("0.000001") and stored.output_price == Decimal("123456789012.123456")
    lower = client.patch(f"{URL}{stored.pk}/", {"currency": "eur"}, format="json")
    assert lower.status_code == 200 and lower.json()["currency"] == "EUR"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"input_price": "0.0000001"}, "input_price"),  # 7 decimals
        ({"output_price": "-1"}, "output_price"),
        ({"cached_input_price": "-0.01"}, "cached_input_price"),
        ({"cache_write_price": "-0.01"}, "cache_write_price"),
        ({"input_price": "cheap"}, "input_price"),
        ({"effective_from": "2026-06-01", "effective_to": "2026-05-31"}, "effective_to"),
        ({"currency": "XYZ"}, "currency"),
        ({"vendor": "nobody"}, "vendor"),
        ({"model": "   "}, "model"),
    ],
)
def test_invalid_prices_are_400_with_the_field_named(change, field, role_world):
    VendorFactory(slug="deepseek")
    response = token_client(role_world.user(Role.PROCUREMENT)).post(URL, {**DEEPSEEK_CHAT, **change}, format="json")
    assert response.status_code == 400, response.content
    assert_error_shape(response)
    assert field in response.json()["extra"]["fields"], response.json()
    assert not VendorModel.objects.exists()


@pytest.mark.parametrize(
    ("existing", "new"),
    [
        (("2026-01-01", None), ("2026-06-01", None)),  # open period then a later start
        (("2026-01-01", None), ("2025-01-01", "2026-01-01")),  # ends on the open period's first day
        (("2026-01-01", "2026-06-30"), ("2026-06-30", None)),  # shares the last day (inclusive)
        (("2026-03-01", "2026-03-31"), ("2026-01-01", None)),  # new open period swallows it
        (("2026-03-01", "2026-03-31"), ("2026-03-10", "2026-03-12")),  # inside
    ],
)
def test_overlapping_periods_are_refused_naming_the_clash(existing, new, role_world):
    deepseek = VendorFactory(slug="deepseek")
    clash = price(deepseek, start=existing[0], end=existing[1])
    client = token_client(role_world.user(Role.PROCUREMENT))
    response = client.post(URL, {**DEEPSEEK_CHAT, "effective_from": new[0], "effective_to": new[1]}, format="json")
    assert response.status_code == 400, response.content
    message = response.json()["extra"]["fields"]["effective_from"][0]
    assert f"already has a list price for {clash.period_label}" in message
    assert VendorModel.objects.count() == 1


def test_adjacent_periods_other_models_and_other_vendors_do_not_clash(role_world):
    deepseek, other = VendorFactory(slug="deepseek"), VendorFactory(slug="other")
    first = price(deepseek, start="2026-01-01", end="2026-03-31")
    client = token_client(role_world.user(Role.PROCUREMENT))
    assert client.post(URL, {**DEEPSEEK_CHAT, "effective_from": "2026-04-01"}, format="json").status_code == 201
    assert client.post(URL, {**DEEPSEEK_CHAT, "model": "deepseek-reasoner"}, format="json").status_code == 201
    assert client.post(URL, {**DEEPSEEK_CHAT, "vendor": "other"}, format="json").status_code == 201
    # changing a period's own dates never clashes with itself
    assert client.patch(f"{URL}{first.pk}/", {"effective_to": "2026-03-30"}, format="json").status_code == 200
    assert VendorModel.objects.filter(vendor=other).count() == 1


def test_a_race_past_the_check_is_still_a_friendly_400(role_world, monkeypatch):
    """GIVEN two people saving overlapping periods at the same moment (the service's check sees
    neither) WHEN the database's exclusion constraint refuses the second THEN the caller gets the
    same 400 naming the clashing period, not a 500."""
    deepseek = VendorFactory(slug="deepseek")
    clash = price(deepseek, start="2026-01-01")
    real_check = vendor_services._overlapping_price
    calls = []

    def check_that_misses_once(candidate):
        calls.append(candidate)
        return None if len(calls) == 1 else real_check(candidate)

    monkeypatch.setattr(vendor_services, "_overlapping_price", check_that_misses_once)
    response = token_client(role_world.user(Role.PROCUREMENT)).post(
        URL, {**DEEPSEEK_CHAT, "effective_from": "2026-02-01"}, format="json"
    )
    assert response.status_code == 400, response.content
    assert clash.period_label in response.json()["extra"]["fields"]["effective_from"][0]
    assert len(calls) == 2 and VendorModel.objects.count() == 1


def test_list_price_for_picks_the_period_in_force():
    deepseek, other = VendorFactory(slug="deepseek"), VendorFactory(slug="other")
    q1 = price(deepseek, start="2026-01-01", end="2026-03-31", input_price=Decimal("2"))
    rest = price(deepseek, start="2026-04-01", input_price=Decimal("1.5"))
    price(other, start="2020-01-01")
    on = datetime.date.fromisoformat
    assert list_price_for(deepseek, "deepseek-chat", on("2025-12-31")) is None
    assert list_price_for(deepseek, "deepseek-chat", on("2026-01-01")) == q1
    assert list_price_for(deepseek, "deepseek-chat", on("2026-03-31")) == q1  # inclusive end
    assert list_price_for(deepseek, "deepseek-chat", on("2026-04-01")) == rest
    assert list_price_for(deepseek.pk, "deepseek-chat", on("2031-01-01")) == rest  # open end, by id
    assert list_price_for(deepseek, "deepseek-reasoner", on("2026-05-01")) is None
    assert [p.pk for p in selectors.vendor_prices_in_force(vendor=deepseek, on=on("2026-02-01"))] == [q1.pk]


def test_filters_vendor_model_currency_and_in_force_on(role_world):
    deepseek, openai = VendorFactory(slug="deepseek"), VendorFactory(slug="openai", billing_currency="USD")
    old = price(deepseek, start="2025-01-01", end="2025-12-31")
    new = price(deepseek, start="2026-01-01")
    gpt = price(openai, model="gpt-4.1", start="2025-06-01", end="2026-06-30")
    client = token_client(role_world.user(Role.AUDITOR), scope="read")

    def ids(**params):
        return [p["id"] for p in client.get(URL, params).json()["results"]]

    assert set(ids(vendor="deepseek")) == {old.pk, new.pk}
    assert ids(model="GPT-4.1") == [gpt.pk]
    assert ids(currency="usd") == [gpt.pk]
    assert set(ids(on="2025-12-31")) == {old.pk, gpt.pk}
    assert set(ids(on="2026-07-01")) == {new.pk}
    assert ids(vendor="deepseek", ordering="-effective_from") == [new.pk, old.pk]
    assert client.get(URL, {"on": "yesterday"}).status_code == 400


def test_history_records_who_changed_a_price(role_world):
    VendorFactory(slug="deepseek")
    procurement = role_world.user(Role.PROCUREMENT)
    client = token_client(procurement)
    created = client.post(URL, DEEPSEEK_CHAT, format="json").json()
    client.patch(f"{URL}{created['id']}/", {"output_price": "7.25"}, format="json")
    latest = VendorModel.objects.get(pk=created["id"]).history.first()
    assert latest.history_user == procurement and latest.output_price == Decimal("7.25")
    assert latest.prev_record.output_price == Decimal(8)
