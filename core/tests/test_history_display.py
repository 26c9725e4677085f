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
