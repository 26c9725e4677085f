"""Organisation settings: read by company-wide roles, changed by administrators, with history."""

import pytest
from django.test import Client

from core.models import OrganizationSettings
from core.roles import Role
from core.selectors import organization_settings

pytestmark = pytest.mark.django_db


def test_defaults_come_from_the_environment_settings(settings):
    settings.TOKENLEDGER_DEFAULT_REPORTING_CURRENCY = "EUR"
    settings.TOKENLEDGER_DEFAULT_FISCAL_YEAR_START_MONTH = 4
    OrganizationSettings.objects.all().delete()
    org = organization_settings()
    assert (org.reporting_currency, org.fiscal_year_start_month, org.four_eyes_enabled) == ("EUR", 4, False)


def test_admin_changes_settings_and_history_says_who(role_world, make_token_client):
    admin = role_world.user(Role.ADMIN)
    response = make_token_client(admin).patch(
        "/api/v1/settings",
        {"reporting_currency": "CNY", "fiscal_year_start_month": 4, "four_eyes_enabled": True, "issuer_name": "ACME"},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["reporting_currency"], body["fiscal_year_start_month"], body["four_eyes_enabled"]) == ("CNY", 4, True)
    latest = organization_settings().history.first()
    assert latest.history_user == admin and latest.reporting_currency == "CNY"


@pytest.mark.parametrize("role", [Role.PROCUREMENT, Role.FINANCE, Role.AUDITOR])
def test_readers_cannot_change_settings(role, role_world, make_token_client):
    client = make_token_client(role_world.user(role))
    assert client.get("/api/v1/settings").status_code == 200
    assert client.patch("/api/v1/settings", {"reporting_currency": "EUR"}, format="json").status_code == 403


def test_settings_page_saves_and_shows_errors_beside_fields(role_world):
    client = Client()
    client.force_login(role_world.user(Role.ADMIN))
    page = client.get("/settings/")
    assert page.status_code == 200 and b"Reporting currency" in page.content
    form = {
        "reporting_currency": "EUR",
        "fiscal_year_start_month": "7",
        "default_payment_terms_days": "45",
        "issuer_name": "ACME Group",
        "four_eyes_enabled": "on",
        "monthly_report_day": "5",
    }
    response = client.post("/settings/", form)
    assert response.status_code == 302
    org = organization_settings()
    assert (
        org.reporting_currency,
        org.fiscal_year_start_month,
        org.default_payment_terms_days,
        org.four_eyes_enabled,
        org.monthly_report_day,
    ) == ("EUR", 7, 45, True, 5)
    response = client.post("/settings/", {**form, "monthly_report_day": "31"})
    assert response.status_code == 200 and b"28" in response.content  # the report day is 1–28
    response = client.post("/settings/", {**form, "default_payment_terms_days": "999"})
    assert response.status_code == 200
    assert b"invalid-feedback" in response.content and b"365" in response.content


def test_settings_page_read_only_for_finance(role_world):
    client = Client()
    client.force_login(role_world.user(Role.FINANCE))
    page = client.get("/settings/")
    assert page.status_code == 200 and b"disabled" in page.content and b"Save settings" not in page.content
    assert client.post("/settings/", {"reporting_currency": "JPY"}).status_code == 403
