"""The user and token pages: what an administrator and an ordinary user do in the browser."""

import re

import pytest
from django.test import Client

from accounts.models import ApiToken, User
from core.roles import Role
from usage.models import Source

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_admin_creates_and_edits_a_manager(role_world):
    client = signed_in(role_world.user(Role.ADMIN))
    response = client.post(
        "/settings/users/new/",
        {
            "username": "mina",
            "email": "mina@example.com",
            "role": "department_manager",
            "departments": "t-in, T-OUT",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    mina = User.objects.get(username="mina")
    assert set(mina.managed_departments.values_list("code", flat=True)) == {"T-IN", "T-OUT"}
    page = client.get("/settings/users/mina/")
    assert b'value="T-IN, T-OUT"' in page.content
    response = client.post(
        "/settings/users/mina/", {"role": "department_manager", "departments": "NOPE", "is_active": "on"}
    )
    assert response.status_code == 200 and b"Unknown department code(s): NOPE" in response.content


def test_user_list_filters_and_exports(role_world):
    client = signed_in(role_world.user(Role.ADMIN))
    page = client.get("/settings/users/", {"role": "auditor"})
    assert b"t-auditor" in page.content and b"t-finance" not in page.content
    csv = client.get("/settings/users/", {"role": "auditor", "_export": "csv"})
    assert csv["Content-Type"].startswith("text/csv")
    lines = csv.content.decode().strip().splitlines()
    assert lines[0].startswith("Username") and len(lines) == 2 and "t-auditor" in lines[1]
    xlsx = client.get("/settings/users/", {"_export": "xlsx"})
    assert xlsx.content[:2] == b"PK"  # a zip container: a real spreadsheet


def test_token_created_shown_once_then_revoked(role_world):
    Source.objects.create(slug="gw", name="Gateway")
    client = signed_in(role_world.user(Role.FINANCE))
    response = client.post("/settings/api-tokens/new/", {"name": "reports", "scope": "read", "expires_days": "30"})
    assert response.status_code == 200
    text = re.search(rb'value="(tl_[^"]+)"', response.content).group(1).decode()
    token = ApiToken.objects.get(name="reports")
    assert token.user == role_world.user(Role.FINANCE) and token.matches(text)
    listing = client.get("/settings/api-tokens/")
    assert text.encode() not in listing.content and f"tl_{token.key_id}_".encode() in listing.content
    assert client.post(f"/settings/api-tokens/{token.pk}/revoke/").status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_token_form_errors_beside_fields(role_world):
    client = signed_in(role_world.user(Role.ADMIN))
    response = client.post(
        "/settings/api-tokens/new/", {"scope": "ingest", "user": "t-service", "sources": "missing", "expires_days": "5"}
    )
    assert response.status_code == 400 and b"Unknown source(s): missing" in response.content


def test_one_cannot_revoke_someone_elses_token(role_world):
    theirs = ApiToken.objects.create(user=role_world.user(Role.PROCUREMENT), key_id="abc", token_hash="x", scope="read")
    client = signed_in(role_world.user(Role.FINANCE))
    assert client.post(f"/settings/api-tokens/{theirs.pk}/revoke/").status_code == 404
    assert b"abc" not in client.get("/settings/api-tokens/").content
