"""Vendor certifications through the API: API.md's fields, the role matrix, validity rules, filters."""

import datetime

import pytest
from django.utils import timezone

from core.roles import Role
from core.testing import APIResourceContract, assert_error_shape, token_client
from procurement.models import VendorCertification

from .factories import VendorCertificationFactory, VendorFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/vendor-certifications/"


def today() -> datetime.date:
    return timezone.now().date()


class TestVendorCertificationAPI(APIResourceContract):
    resource = "vendor_certification"
    basename = "vendor-certification"

    def make_object(self, world, department):
        return VendorCertificationFactory(vendor=VendorFactory(slug="acme"))

    def create_payload(self, world):
        VendorFactory(slug="acme")
        return {"vendor": "acme", "kind": "soc2_type2", "valid_from": "2026-01-01", "valid_until": "2026-12-31"}

    def update_payload(self, world, obj):
        return {"valid_until": "2027-06-30"}


def test_fields_round_trip_with_status_and_days_left(role_world):
    """GIVEN a vendor WHEN procurement records a certificate expiring in 30 days THEN the API answers
    every field as sent, with status "expiring" and 30 days left."""
    VendorFactory(slug="deepseek")
    client = token_client(role_world.user(Role.PROCUREMENT))
    sent = {
        "vendor": "deepseek",
        "kind": "mlps_level3",
        "valid_from": (today() - datetime.timedelta(days=300)).isoformat(),
        "valid_until": (today() + datetime.timedelta(days=30)).isoformat(),
        "reference": "  MLPS-2025-0042 ",
        "notes": "Beijing PSB filing",
    }
    response = client.post(URL, sent, format="json")
    assert response.status_code == 201, response.content
    body = client.get(f"{URL}{response.json()['id']}/").json()
    for field in ("vendor", "kind", "valid_from", "valid_until", "notes"):
        assert body[field] == sent[field], field
    assert body["reference"] == "MLPS-2025-0042"
    assert body["status"] == "expiring" and body["days_left"] == 30


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"valid_from": "2026-06-01", "valid_until": "2026-05-31"}, "valid_until"),
        ({"vendor": "nobody"}, "vendor"),
        ({"kind": "iso_9001"}, "kind"),
        ({"valid_from": "01/02/2026"}, "valid_from"),
        ({"valid_until": None}, "valid_until"),
    ],
)
def test_invalid_certifications_are_400_with_the_field_named(change, field, role_world):
    VendorFactory(slug="acme")
    payload = {"vendor": "acme", "kind": "iso_27001", "valid_from": "2026-01-01", "valid_until": "2026-12-31"}
    response = token_client(role_world.user(Role.PROCUREMENT)).post(URL, {**payload, **change}, format="json")
    assert response.status_code == 400, response.content
    assert_error_shape(response)
    assert field in response.json()["extra"]["fields"]
    assert not VendorCertification.objects.exists()


def test_validity_end_before_start_names_both_dates(role_world):
    cert = VendorCertificationFactory(valid_from=datetime.date(2026, 1, 1), valid_until=datetime.date(2026, 12, 31))
    client = token_client(role_world.user(Role.PROCUREMENT))
    response = client.patch(f"{URL}{cert.pk}/", {"valid_until": "2025-12-31"}, format="json")
    assert response.status_code == 400
    assert response.json()["extra"]["fields"]["valid_until"] == [
        "Valid until (2025-12-31) must be on or after valid from (2026-01-01)."
    ]
    cert.refresh_from_db()
    assert cert.valid_until == datetime.date(2026, 12, 31)
    one_day = client.patch(f"{URL}{cert.pk}/", {"valid_until": "2026-01-01"}, format="json")
    assert one_day.status_code == 200  # both ends inclusive: a one-day certificate is valid


def test_filters_by_vendor_kind_status_and_expiry(role_world):
    d = today()
    acme, other = VendorFactory(slug="acme"), VendorFactory(slug="other")
    valid = VendorCertificationFactory(vendor=acme, valid_from=d - datetime.timedelta(days=10))
    expiring = VendorCertificationFactory(
        vendor=acme, kind="soc2_type2", valid_from=d, valid_until=d + datetime.timedelta(days=60)
    )
    expired = VendorCertificationFactory(
        vendor=other, valid_from=d - datetime.timedelta(days=400), valid_until=d - datetime.timedelta(days=1)
    )
    future = VendorCertificationFactory(
        vendor=other, valid_from=d + datetime.timedelta(days=1), valid_until=d + datetime.timedelta(days=10)
    )
    client = token_client(role_world.user(Role.DEPARTMENT_MANAGER), scope="read")  # staff read certifications

    def ids(**params):
        return {c["id"] for c in client.get(URL, params).json()["results"]}

    assert ids(status="valid") == {valid.pk}
    assert ids(status="expiring") == {expiring.pk}
    assert ids(status="expired") == {expired.pk}
    assert ids(status="future") == {future.pk}
    assert ids(vendor="acme") == {valid.pk, expiring.pk}
    assert ids(kind="soc2_type2") == {expiring.pk}
    assert ids(expires_before=(d + datetime.timedelta(days=60)).isoformat()) == {expiring.pk, expired.pk, future.pk}
    assert client.get(URL, {"status": "lapsed"}).status_code == 400
    statuses = {c["id"]: c["status"] for c in client.get(URL).json()["results"]}
    assert statuses == {valid.pk: "valid", expiring.pk: "expiring", expired.pk: "expired", future.pk: "future"}


def test_history_records_who_changed_the_certification(role_world):
    VendorFactory(slug="acme")
    procurement = role_world.user(Role.PROCUREMENT)
    client = token_client(procurement)
    created = client.post(
        URL, {"vendor": "acme", "kind": "iso_27001", "valid_from": "2026-01-01", "valid_until": "2026-12-31"}
    ).json()
    client.patch(f"{URL}{created['id']}/", {"reference": "BSI 12345"}, format="json")
    client.delete(f"{URL}{created['id']}/")
    history = list(VendorCertification.history.filter(id=created["id"]).order_by("history_date"))
    assert [h.history_type for h in history] == ["+", "~", "-"]
    assert {h.history_user for h in history} == {procurement}
    assert history[1].reference == "BSI 12345"
