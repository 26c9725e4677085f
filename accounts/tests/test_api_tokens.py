"""API tokens: hashed, scoped, expiring, revocable, last-used; never more than the user's role."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import api_token_create
from core.roles import Role
from core.testing import assert_error_shape, token_client
from usage.models import Source

pytestmark = pytest.mark.django_db


def bearer(text: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {text}")
    return client


@pytest.mark.parametrize(
    "header",
    ["Bearer nope", "Bearer tl_abc_def", "Bearer tl__x", "Bearer ", "Bearer a b", "Token tl_x_y"],
)
def test_bad_tokens_get_401_in_error_shape(header, role_world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/runs/")
    assert response.status_code == 401
    assert_error_shape(response)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_missing_token_gets_401(api_client, role_world):
    response = api_client.get("/api/v1/users/")
    assert response.status_code == 401
    assert_error_shape(response)


def test_only_a_hash_is_stored(role_world):
    token, text = api_token_create(user=role_world.user(Role.FINANCE), scope="read")
    stored = ApiToken.objects.get(pk=token.pk)
    assert text not in (stored.token_hash, stored.key_id)
    assert stored.token_hash == ApiToken.hash_token(text)
    assert bearer(text).get("/api/v1/me").status_code == 200
    # right key id, wrong secret
    forged = "_".join([*text.split("_")[:2], "x" * 43])
    assert bearer(forged).get("/api/v1/me").status_code == 401


def test_expired_and_revoked_tokens_refused(role_world):
    user = role_world.user(Role.FINANCE)
    token, text = api_token_create(user=user, scope="read", expires_days=1)
    assert bearer(text).get("/api/v1/me").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = bearer(text).get("/api/v1/me")
    assert response.status_code == 401 and "expired" in response.json()["message"]

    token2, text2 = api_token_create(user=user, scope="read")
    response = token_client(user).post(f"/api/v1/tokens/{token2.pk}/revoke/")
    assert response.status_code == 200 and response.json()["status"] == "revoked"
    response = bearer(text2).get("/api/v1/me")
    assert response.status_code == 401 and "revoked" in response.json()["message"]


def test_inactive_user_token_refused(role_world):
    user = role_world.user(Role.FINANCE)
    _, text = api_token_create(user=user, scope="read")
    user.is_active = False
    user.save()
    assert bearer(text).get("/api/v1/me").status_code == 401


def test_last_used_recorded(role_world):
    token, text = api_token_create(user=role_world.user(Role.FINANCE), scope="read")
    assert token.last_used_at is None
    bearer(text).get("/api/v1/me", REMOTE_ADDR="10.1.2.3")
    token.refresh_from_db()
    assert token.last_used_at is not None and token.last_used_ip == "10.1.2.3"


def test_read_scope_cannot_write_even_for_admin(role_world):
    _, text = api_token_create(user=role_world.user(Role.ADMIN), scope="read")
    response = bearer(text).patch("/api/v1/settings", {"reporting_currency": "EUR"}, format="json")
    assert response.status_code == 403
    assert_error_shape(response)


def test_write_scope_never_exceeds_role(role_world):
    # an auditor's write token still cannot change anything
    _, text = api_token_create(user=role_world.user(Role.AUDITOR), scope="write")
    assert bearer(text).get("/api/v1/users/").status_code == 200
    assert bearer(text).patch("/api/v1/settings", {"reporting_currency": "EUR"}, format="json").status_code == 403


def test_ingest_scope_reads_nothing(role_world):
    Source.objects.create(slug="gw", name="Gateway")
    _, text = api_token_create(user=role_world.user(Role.SERVICE), scope="ingest", source_slugs=["gw"])
    assert bearer(text).get("/api/v1/users/").status_code == 403
    assert bearer(text).get("/api/v1/settings").status_code == 403


def test_ingest_token_needs_named_existing_sources(role_world):
    service = role_world.user(Role.SERVICE)
    client = token_client(role_world.user(Role.ADMIN))
    response = client.post("/api/v1/tokens/", {"user": service.username, "scope": "ingest"}, format="json")
    assert response.status_code == 400 and "source_slugs" in response.json()["extra"]["fields"]
    response = client.post(
        "/api/v1/tokens/", {"user": service.username, "scope": "ingest", "sources": ["nope"]}, format="json"
    )
    assert response.status_code == 400 and "nope" in response.json()["message"]
    Source.objects.create(slug="gw", name="Gateway")
    response = client.post(
        "/api/v1/tokens/", {"user": service.username, "scope": "ingest", "sources": ["gw"]}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["token"].startswith("tl_") and body["sources"] == ["gw"] and body["user"] == service.username
    # shown once: a later read does not include it
    assert token_client(role_world.user(Role.ADMIN)).get(f"/api/v1/tokens/{body['id']}/").json()["token"] is None


def test_ingest_token_for_auditor_refused(role_world):
    Source.objects.create(slug="gw", name="Gateway")
    with pytest.raises(ValidationError) as exc:
        api_token_create(user=role_world.user(Role.AUDITOR), scope="ingest", source_slugs=["gw"])
    assert "may not push usage" in str(exc.value)


def test_people_see_and_revoke_only_their_own_tokens(role_world):
    finance, procurement = role_world.user(Role.FINANCE), role_world.user(Role.PROCUREMENT)
    mine, _ = api_token_create(user=finance, scope="read", name="mine")
    theirs, _ = api_token_create(user=procurement, scope="read", name="theirs")
    client = token_client(finance)
    names = {t["name"] for t in client.get("/api/v1/tokens/").json()["results"]}
    assert "mine" in names and "theirs" not in names
    assert client.get(f"/api/v1/tokens/{theirs.pk}/").status_code == 404
    assert client.post(f"/api/v1/tokens/{theirs.pk}/revoke/").status_code == 404
    assert client.delete(f"/api/v1/tokens/{mine.pk}/").status_code == 200
    # nobody but an administrator creates tokens for someone else
    response = client.post("/api/v1/tokens/", {"user": procurement.username, "scope": "read"}, format="json")
    assert response.status_code == 400
    # administrators and auditors see everyone's
    all_names = {
        t["name"] for t in token_client(role_world.user(Role.AUDITOR)).get("/api/v1/tokens/").json()["results"]
    }
    assert {"mine", "theirs"} <= all_names


def test_token_filters(role_world):
    finance = role_world.user(Role.FINANCE)
    api_token_create(user=finance, scope="read", name="a")
    b, _ = api_token_create(user=finance, scope="write", name="b")
    ApiToken.objects.filter(pk=b.pk).update(revoked_at=timezone.now())
    client = token_client(role_world.user(Role.ADMIN))
    active = {
        t["name"]
        for t in client.get("/api/v1/tokens/", {"user": finance.username, "status": "active"}).json()["results"]
    }
    assert "a" in active and "b" not in active
    revoked = {t["name"] for t in client.get("/api/v1/tokens/", {"status": "revoked"}).json()["results"]}
    assert revoked == {"b"}
