"""Attacks on sign-in and on API credentials.

Sign-in: failed passwords lock the account (whatever address they come from) and the address
(whatever accounts it tries), with a message that says so; the right password is refused too while
the lock lasts. The API takes no passwords, so it is no way around the lock, and guessing bearer
tokens is cut off per address. Tokens: only a hash at rest, scopes that cap the role, expiry and
revocation that take effect on the very next request. MFA required for a role: a session that has
not enrolled reaches nothing but enrolment, API and files included.
"""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from config.settings import base as production_defaults
from core.roles import Role
from core.testing import PASSWORD, assert_error_shape, bearer_header

pytestmark = pytest.mark.django_db

LOCKED = b"Too many failed login attempts"


@pytest.fixture
def production_login_limits(settings):
    """The limits a deployment runs with (config/settings/base.py), not the tests' generous ones."""
    cache.clear()
    settings.ACCOUNT_RATE_LIMITS = production_defaults.ACCOUNT_RATE_LIMITS
    yield production_defaults.ACCOUNT_RATE_LIMITS["login_failed"]
    cache.clear()


def attempt(username: str, password: str, ip: str) -> tuple[Client, object]:
    client = Client(REMOTE_ADDR=ip)
    return client, client.post("/accounts/login/", {"login": username, "password": password})


def signed_in(client: Client) -> bool:
    return client.get("/").status_code == 200


def test_production_limits_are_per_ip_and_per_account(production_login_limits):
    # 10 a minute per address, 5 per 5 minutes per account (README: Accounts, sign-in)
    assert production_login_limits == "10/m/ip,5/5m/key"


def test_failures_lock_the_account_whatever_the_address(role_world, production_login_limits):
    for i in range(5):
        _, response = attempt("t-finance", "wrong password", f"10.1.0.{i}")
        assert response.status_code == 200 and LOCKED not in response.content
    client, response = attempt("t-finance", PASSWORD, "10.1.0.99")  # the right password, a new address
    assert response.status_code == 200 and LOCKED in response.content
    assert not signed_in(client)
    # by email too: the lock is on the account, not on the word typed
    client, response = attempt("t-finance@example.com", PASSWORD, "10.1.0.98")
    assert LOCKED in response.content and not signed_in(client)
    # another account from those addresses is not locked
    client, response = attempt("t-auditor", PASSWORD, "10.1.0.1")
    assert response.status_code == 302 and signed_in(client)


def test_failures_lock_the_address_whatever_the_account(role_world, production_login_limits):
    for i in range(10):
        _, response = attempt(f"nobody-{i}", "wrong password", "10.2.0.1")
        assert LOCKED not in response.content
    client, response = attempt("t-procurement", PASSWORD, "10.2.0.1")
    assert LOCKED in response.content and not signed_in(client)
    client, response = attempt("t-procurement", PASSWORD, "10.2.0.2")  # elsewhere: fine
    assert response.status_code == 302 and signed_in(client)


def test_a_good_sign_in_does_not_count_as_a_failure(role_world, production_login_limits):
    for i in range(8):
        client, response = attempt("t-finance", PASSWORD, f"10.3.0.{i}")
        assert response.status_code == 302 and signed_in(client)


def test_api_takes_no_passwords(role_world, production_login_limits):
    """Basic authentication with a correct password is refused: the API is no way around the
    sign-in limits or MFA."""
    credentials = base64.b64encode(f"t-admin:{PASSWORD}".encode()).decode()
    response = APIClient().get("/api/v1/me", HTTP_AUTHORIZATION=f"Basic {credentials}")
    assert response.status_code == 401
    assert_error_shape(response)
    response = APIClient().post(
        "/api/v1/users/", {"username": "x", "role": "admin"}, HTTP_AUTHORIZATION=f"Basic {credentials}"
    )
    assert response.status_code == 401


@override_settings(API_TOKEN_FAILED_PER_MINUTE=5)
def test_guessing_bearer_tokens_is_cut_off_per_address(role_world):
    cache.clear()
    good = bearer_header(role_world.user(Role.FINANCE), scope="read")
    attacker = APIClient(REMOTE_ADDR="10.4.0.1")
    for i in range(5):
        response = attacker.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer tl_guess{i}_{'x' * 43}")
        assert response.status_code == 401
        assert_error_shape(response)
    # the 6th: throttled, even with a real token (a lucky guess gains nothing)
    response = attacker.get("/api/v1/me", HTTP_AUTHORIZATION=good)
    assert response.status_code == 429
    assert_error_shape(response)
    assert response.json()["extra"]["wait_seconds"] > 0
    # another address is not affected
    assert APIClient(REMOTE_ADDR="10.4.0.2").get("/api/v1/me", HTTP_AUTHORIZATION=good).status_code == 200
    cache.clear()


def test_good_tokens_do_not_count_towards_the_cut_off(role_world):
    cache.clear()
    with override_settings(API_TOKEN_FAILED_PER_MINUTE=3):
        client = APIClient(REMOTE_ADDR="10.5.0.1")
        client.credentials(HTTP_AUTHORIZATION=bearer_header(role_world.user(Role.AUDITOR), scope="read"))
        assert all(client.get("/api/v1/me").status_code == 200 for _ in range(10))
    cache.clear()


# Tokens ---------------------------------------------------------------------------------------------


def _all_text_in_database() -> str:
    """Every text and JSON column of the accounts tables and their history, as one string."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name LIKE 'accounts_%%' "
            "AND data_type IN ('text', 'character varying', 'jsonb', 'json')"
        )
        columns = cursor.fetchall()
        chunks = []
        for table, column in columns:
            cursor.execute(f'SELECT "{column}"::text FROM "{table}"')
            chunks.extend(value for (value,) in cursor.fetchall() if value)
    return "\n".join(chunks)


def test_token_text_is_never_stored(role_world, make_token_client):
    admin = make_token_client(role_world.user(Role.ADMIN))
    response = admin.post("/api/v1/tokens/", {"scope": "read", "name": "ci"}, format="json")
    assert response.status_code == 201
    text = response.json()["token"]
    secret = text.rsplit("_", 1)[1]
    stored = _all_text_in_database()
    assert secret not in stored and text not in stored
    # and it is never shown again
    token_id = response.json()["id"]
    assert admin.get(f"/api/v1/tokens/{token_id}/").json().get("token") in (None, "")
    page = Client()
    page.force_login(role_world.user(Role.ADMIN))
    assert secret.encode() not in page.get("/settings/api-tokens/").content


def test_revocation_and_expiry_take_effect_on_the_next_request(role_world):
    owner = role_world.user(Role.FINANCE)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer_header(owner, scope="write"))
    me = client.get("/api/v1/me")
    assert me.status_code == 200
    token_id = client.get("/api/v1/tokens/").json()["results"][0]["id"]
    assert client.post(f"/api/v1/tokens/{token_id}/revoke/").status_code == 200
    response = client.get("/api/v1/me")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert_error_shape(response)
    assert "revoked" in response.json()["message"]

    from accounts.models import ApiToken

    client.credentials(HTTP_AUTHORIZATION=bearer_header(owner, scope="read"))
    assert client.get("/api/v1/me").status_code == 200
    ApiToken.objects.filter(user=owner, revoked_at__isnull=True).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = client.get("/api/v1/me")
    assert response.status_code == 401 and "expired" in response.json()["message"]


def test_tokens_expire_by_default(role_world, make_token_client):
    response = make_token_client(role_world.user(Role.FINANCE)).post(
        "/api/v1/tokens/", {"scope": "read"}, format="json"
    )
    from accounts.models import ApiToken

    token = ApiToken.objects.get(pk=response.json()["id"])
    days = (token.expires_at - timezone.now()).days
    assert settings.API_TOKEN_DEFAULT_EXPIRY_DAYS - 1 <= days <= settings.API_TOKEN_DEFAULT_EXPIRY_DAYS


def test_deactivating_a_user_stops_their_tokens(role_world, make_token_client):
    client = make_token_client(role_world.user(Role.PROCUREMENT), scope="read")
    assert client.get("/api/v1/vendors/").status_code == 200
    assert make_token_client(role_world.user(Role.ADMIN)).delete("/api/v1/users/t-procurement/").status_code in (
        200,
        204,
    )
    assert client.get("/api/v1/vendors/").status_code == 401


def test_only_administrators_revoke_other_peoples_tokens(role_world, make_token_client):
    """The auditor sees every token but revokes only their own (a write; the auditor changes nothing)."""
    from accounts.models import ApiToken

    make_token_client(role_world.user(Role.FINANCE), scope="read")
    victim = ApiToken.objects.get(user=role_world.user(Role.FINANCE))
    auditor = make_token_client(role_world.user(Role.AUDITOR))
    assert auditor.get(f"/api/v1/tokens/{victim.pk}/").status_code == 200
    for response in (
        auditor.post(f"/api/v1/tokens/{victim.pk}/revoke/"),
        auditor.delete(f"/api/v1/tokens/{victim.pk}/"),
    ):
        assert response.status_code == 403
        assert_error_shape(response)
    page = Client()
    page.force_login(role_world.user(Role.AUDITOR))
    assert page.post(f"/settings/api-tokens/{victim.pk}/revoke/").status_code == 403
    victim.refresh_from_db()
    assert victim.revoked_at is None
    # an administrator may
    assert make_token_client(role_world.user(Role.ADMIN)).post(f"/api/v1/tokens/{victim.pk}/revoke/").status_code == 200


@pytest.mark.parametrize(
    ("scope", "method", "url", "body", "allowed"),
    [
        ("read", "get", "/api/v1/vendors/", None, True),
        ("read", "post", "/api/v1/vendors/", {"slug": "x"}, False),
        ("ingest", "get", "/api/v1/vendors/", None, False),
        ("ingest", "get", "/api/v1/users/", None, False),
        ("write", "post", "/api/v1/users/", {"username": "x"}, False),  # procurement: not their role
    ],
)
def test_scopes_cap_what_a_token_does(scope, method, url, body, allowed, role_world):
    from usage.models import Source

    Source.objects.create(slug="scope-src", name="s")
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=bearer_header(
            role_world.user(Role.PROCUREMENT), scope=scope, sources=["scope-src"] if scope == "ingest" else None
        )
    )
    response = getattr(client, method)(url, body, format="json") if body else getattr(client, method)(url)
    if allowed:
        assert response.status_code == 200
    else:
        assert response.status_code == 403
        assert_error_shape(response)


# MFA -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/v1/me"),
        ("get", "/api/v1/vendors/"),
        ("post", "/api/v1/fx-rates/"),
        ("post", "/api/v1/tokens/"),  # no minting a token to get round enrolment
        ("post", "/settings/api-tokens/new/"),
        ("get", "/invoices/?_export=csv"),
        ("get", "/budgets/?_export=xlsx"),
        ("get", "/settings/"),
        ("get", "/usage/"),
    ],
)
def test_unenrolled_session_in_an_mfa_role_reaches_nothing(method, url, role_world):
    from core.services import organization_settings_update

    organization_settings_update(actor=None, mfa_required_roles=[Role.FINANCE])
    client = Client()
    client.force_login(role_world.user(Role.FINANCE))
    response = getattr(client, method)(url)
    if url.startswith("/api/"):
        assert response.status_code == 403
        assert_error_shape(response)
        assert "Two-factor" in response.json()["message"]
    else:
        assert response.status_code == 302 and response["Location"] == "/accounts/2fa/totp/activate/"
    from accounts.models import ApiToken

    assert not ApiToken.objects.filter(user=role_world.user(Role.FINANCE)).exists()


def test_mfa_from_the_environment_applies_too(role_world, settings):
    settings.MFA_REQUIRED_ROLES = [Role.ADMIN.value]
    client = Client()
    client.force_login(role_world.user(Role.ADMIN))
    assert client.get("/api/v1/users/").status_code == 403
    other = Client()
    other.force_login(role_world.user(Role.FINANCE))
    assert other.get("/api/v1/vendors/").status_code == 200


def test_bearer_tokens_work_when_the_cache_is_down(role_world, settings):
    """The failure counter lives in the shared cache; a cache outage must not become an API outage."""
    good = bearer_header(role_world.user(Role.FINANCE), scope="read")
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"}
    }
    assert APIClient().get("/api/v1/me", HTTP_AUTHORIZATION=good).status_code == 200
    response = APIClient().get("/api/v1/me", HTTP_AUTHORIZATION="Bearer tl_nope_nope")
    assert response.status_code == 401
    assert_error_shape(response)
