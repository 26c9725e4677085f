"""Detail pages show what each change changed, and who made it."""

import pytest
from django.test import Client

from core.roles import Role
from procurement.models import Vendor
from procurement.services import vendor_save

pytestmark = pytest.mark.django_db


def test_history_lists_field_changes_with_author(role_world):
    buyer = role_world.user(Role.PROCUREMENT)
    vendor = vendor_save(
        actor=buyer,
        slug="acme",
        name="Acme",
        kind="producer",
        country="US",
        billing_currency="USD",
        payment_terms_days=30,
        aliases=[],
    )
    vendor_save(vendor=Vendor.objects.get(pk=vendor.pk), actor=buyer, payment_terms_days=45)
    client = Client()
    client.force_login(role_world.user(Role.AUDITOR))
    html = client.get("/vendors/acme/").content.decode()
    history = html[html.index("Change history") :]
    assert "payment terms days" in history and "30 → 45" in history and "t-procurement" in history


def test_history_names_people_choices_and_times_not_ids(role_world):
    """An alert acknowledged and resolved: its history names who did it (not a user id), the status
    by its label, the times in UTC like the rest of the page."""
    from insights.models import Alert
    from insights.services.alerts import alert_acknowledge, alert_resolve

    finance = role_world.user(Role.FINANCE)
    alert = Alert.objects.create(type=Alert.Type.FX_MISSING, dedup_key="h", title="FX rate missing")
    alert_acknowledge(alert=alert, actor=finance, note="")
    alert_resolve(alert=Alert.objects.get(pk=alert.pk), actor=finance, note="fixed")
    client = Client()
    client.force_login(role_world.user(Role.AUDITOR))
    html = client.get(f"/alerts/{alert.pk}/").content.decode()
    history = html[html.index("Change history") :]
    assert f"— → {finance.username}" in history and f"→ {finance.pk}<" not in history
    assert "Open → Acknowledged" in history and "Acknowledged → Resolved" in history
    assert " UTC" in history and "p.m." not in history


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("850.000000000000", "850.00"),
        ("0.123400", "0.1234"),
        ("-12.5", "-12.50"),
        ("12", "12"),
        ("budget", "budget"),
        (3, 3),
    ],
)
def test_figures_drop_stored_trailing_zeros(value, shown):
    from core.templatetags.tl import figure

    assert figure(value) == shown


def test_json_values_read_as_their_entries():
    from billing.models import Invoice
    from core.templatetags.tl import history_value

    field = Invoice._meta.get_field("issuer")
    assert history_value(field, {"name": "ACME", "email": "", "tax_id": "GB1"}) == "name: ACME; tax_id: GB1"
    assert history_value(field, {"name": ""}) == "—"
