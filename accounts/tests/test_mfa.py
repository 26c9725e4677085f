"""Two-factor authentication with TOTP (allauth.mfa), enforceable per role by a setting."""

import re

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from django.test import Client

from core.roles import Role
from core.services import organization_settings_update
from core.testing import PASSWORD

pytestmark = pytest.mark.django_db


def enrol_totp(client: Client) -> str:
    """Walk allauth's activation page like a person with an authenticator app; return the secret."""
    page = client.get("/accounts/2fa/totp/activate/")
    if page.status_code == 302 and "/accounts/reauthenticate/" in page["Location"]:
        # allauth asks for the password again before a security change
        client.post(page["Location"], {"password": PASSWORD})
        page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200, page.status_code
    secret = re.search(rb"\b([A-Z2-7]{32})\b", page.content).group(1).decode()
    response = client.post("/accounts/2fa/totp/activate/", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302, response.content[:2000]
    return secret


def test_role_setting_forces_enrolment_then_login_asks_for_code(role_world):
    finance = role_world.user(Role.FINANCE)
    organization_settings_update(actor=None, mfa_required_roles=[Role.FINANCE])

    client = Client()
    client.post("/accounts/login/", {"login": "t-finance", "password": PASSWORD})
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/accounts/2fa/totp/activate/"
    api = client.get("/api/v1/me")
    assert api.status_code == 403 and "Two-factor" in api.json()["message"]

    secret = enrol_totp(client)
    assert Authenticator.objects.filter(user=finance, type="totp").exists()
    assert client.get("/").status_code == 200

    # next sign-in: password, then the code
    client = Client()
    response = client.post("/accounts/login/", {"login": "t-finance", "password": PASSWORD})
    assert response.status_code == 302 and "/accounts/2fa/authenticate/" in response["Location"]
    assert client.get("/").status_code == 302  # not signed in yet
    client.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert client.get("/").status_code == 302
    client.post("/accounts/2fa/authenticate/", {"code": pyotp.TOTP(secret).now()})
    assert client.get("/").status_code == 200


def test_other_roles_are_not_forced(role_world):
    organization_settings_update(actor=None, mfa_required_roles=[Role.FINANCE])
    client = Client()
    client.force_login(role_world.user(Role.AUDITOR))
    assert client.get("/").status_code == 200


def test_api_tokens_unaffected_by_mfa_enrolment(role_world, make_token_client):
    organization_settings_update(actor=None, mfa_required_roles=[Role.FINANCE])
    assert make_token_client(role_world.user(Role.FINANCE)).get("/api/v1/me").status_code == 200
