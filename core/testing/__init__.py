"""Generic test bases: the role matrix every endpoint and page is checked against.

`APIResourceContract` (NetBox's APIViewTestCases): a model's whole API permission test is a few
lines of data — the resource, the route, how to make an object (inside or outside a manager's
departments) and what to send — and it checks list, retrieve, create, update and delete for
anonymous callers and every role, with real bearer tokens, plus department scoping.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from core.policy import CHANGE, VIEW, access_for, can
from core.roles import Role


def _shared_data() -> Path:
    """The public data set (`../shared/data`): TOKENLEDGER_SHARED_DATA, else beside the clone,
    else the workplace's copy. Tests that read it skip where none exists."""
    from django.conf import settings

    candidates = [
        os.environ.get("TOKENLEDGER_SHARED_DATA", ""),
        Path(settings.BASE_DIR).parent / "shared" / "data",
        "/work/shared/data",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return Path(settings.BASE_DIR).parent / "shared" / "data"


SHARED_DATA = _shared_data()
needs_shared_data = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="the shared data set is not on this machine")

PASSWORD = "correct-horse-battery-staple"
ALL_ROLES = list(Role)


@dataclass
class RoleWorld:
    """One user per role. The department manager manages `inside` (and so its child
    `inside_child`), not `outside`."""

    users: dict[Role, Any]
    inside: Any
    inside_child: Any
    outside: Any

    def user(self, role: Role):
        return self.users[role]


def build_role_world() -> RoleWorld:
    from accounts.services import user_create_or_update
    from procurement.models import Department

    root = Department.objects.get_or_create(code="T-ROOT", defaults={"name": "Test root"})[0]
    inside = Department.objects.get_or_create(code="T-IN", defaults={"name": "Managed", "parent": root})[0]
    inside_child = Department.objects.get_or_create(
        code="T-IN-SUB", defaults={"name": "Managed child", "parent": inside}
    )[0]
    outside = Department.objects.get_or_create(code="T-OUT", defaults={"name": "Not managed", "parent": root})[0]
    users = {}
    for role in Role:
        users[role], _ = user_create_or_update(
            username=f"t-{role.value}",
            role=role,
            email=f"t-{role.value}@example.com",
            departments=["T-IN"] if role == Role.DEPARTMENT_MANAGER else [],
            password=PASSWORD,
            validate_new_password=False,
        )
    return RoleWorld(users=users, inside=inside, inside_child=inside_child, outside=outside)


def bearer_header(user, scope: str = "write", sources: list[str] | None = None) -> str:
    """`Bearer <token>` for a real token of the user (created directly, whatever the scope)."""
    from accounts.models import ApiToken
    from accounts.services import _new_token_text

    key_id, text = _new_token_text()
    ApiToken.objects.create(
        user=user, key_id=key_id, token_hash=ApiToken.hash_token(text), scope=scope, source_slugs=sources or []
    )
    return f"Bearer {text}"


def token_client(user, scope: str = "write", sources: list[str] | None = None) -> APIClient:
    """An API client authenticated by a real bearer token of the user."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer_header(user, scope, sources))
    return client


def database_url_for_subprocess() -> str:
    """The URL of the database this test runs on, for processes the test starts."""
    from urllib.parse import quote

    from django.db import connection

    db = connection.settings_dict
    host = db["HOST"] or db.get("OPTIONS", {}).get("host", "")
    if host.startswith("/"):
        return f"postgres://{db['USER']}@/{quote(host, safe='')}/{db['NAME']}"
    return f"postgres://{db['USER']}@{host or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def expected_status(role: Role | None, resource: str, action: str, *, ok: int, in_scope: bool = True) -> int:
    if role is None:
        return 401
    access = access_for(resource)

    class _U:  # the policy only looks at these attributes
        is_authenticated = True
        is_active = True

    user = _U()
    user.role = role.value
    if not can(user, resource, action):
        return 403
    if role == Role.DEPARTMENT_MANAGER and access.department_scoped and not in_scope:
        return 404
    return ok


def assert_error_shape(response) -> None:
    body = response.json()
    assert set(body) == {"message", "extra"}, body
    assert isinstance(body["message"], str) and body["message"], body
    assert isinstance(body["extra"], dict), body


class APIResourceContract:
    """Subclass with:

    resource      the policy resource name
    basename      the router basename ("api:<basename>-list" / "-detail")
    lookup_field  attribute used in the detail URL (default "pk")

    make_object(world, department)  an instance, placed in `department` when the resource is
                                    department-scoped (the argument is ignored otherwise)
    create_payload(world)           a valid body for POST
    update_payload(world, obj)      a valid body for PATCH
    """

    resource: str
    basename: str
    lookup_field = "pk"
    supports_create = True
    supports_update = True
    supports_delete = True
    create_status = 201
    delete_status = 204

    # hooks --------------------------------------------------------------------------------
    def make_object(self, world: RoleWorld, department):
        raise NotImplementedError

    def create_payload(self, world: RoleWorld) -> dict:
        raise NotImplementedError

    def update_payload(self, world: RoleWorld, obj) -> dict:
        raise NotImplementedError

    # helpers --------------------------------------------------------------------------------
    @property
    def scoped(self) -> bool:
        return access_for(self.resource).department_scoped

    def list_url(self) -> str:
        return reverse(f"api:{self.basename}-list")

    def detail_url(self, obj) -> str:
        return reverse(f"api:{self.basename}-detail", kwargs={self.lookup_field: getattr(obj, self.lookup_field)})

    def client_for(self, world: RoleWorld, role: Role | None) -> APIClient:
        return APIClient() if role is None else token_client(world.user(role))

    # the contract ---------------------------------------------------------------------------------
    @pytest.mark.parametrize("role", [None, *ALL_ROLES], ids=lambda r: getattr(r, "value", "anonymous"))
    def test_list(self, role, role_world):
        self.make_object(role_world, role_world.inside)
        response = self.client_for(role_world, role).get(self.list_url())
        assert response.status_code == expected_status(role, self.resource, VIEW, ok=200), response.content
        if response.status_code != 200:
            assert_error_shape(response)
        else:
            body = response.json()
            assert {"count", "next", "previous", "results"} <= set(body)

    @pytest.mark.parametrize("role", [None, *ALL_ROLES], ids=lambda r: getattr(r, "value", "anonymous"))
    def test_retrieve(self, role, role_world):
        obj = self.make_object(role_world, role_world.inside)
        response = self.client_for(role_world, role).get(self.detail_url(obj))
        assert response.status_code == expected_status(role, self.resource, VIEW, ok=200), response.content

    @pytest.mark.parametrize("role", [None, *ALL_ROLES], ids=lambda r: getattr(r, "value", "anonymous"))
    def test_create(self, role, role_world):
        if not self.supports_create:
            pytest.skip("no create on this resource")
        response = self.client_for(role_world, role).post(
            self.list_url(), self.create_payload(role_world), format="json"
        )
        assert response.status_code == expected_status(role, self.resource, CHANGE, ok=self.create_status), (
            response.content
        )
        if response.status_code >= 400:
            assert_error_shape(response)

    @pytest.mark.parametrize("role", [None, *ALL_ROLES], ids=lambda r: getattr(r, "value", "anonymous"))
    def test_update(self, role, role_world):
        if not self.supports_update:
            pytest.skip("no update on this resource")
        obj = self.make_object(role_world, role_world.inside)
        response = self.client_for(role_world, role).patch(
            self.detail_url(obj), self.update_payload(role_world, obj), format="json"
        )
        assert response.status_code == expected_status(role, self.resource, CHANGE, ok=200), response.content

    @pytest.mark.parametrize("role", [None, *ALL_ROLES], ids=lambda r: getattr(r, "value", "anonymous"))
    def test_delete(self, role, role_world):
        if not self.supports_delete:
            pytest.skip("no delete on this resource")
        obj = self.make_object(role_world, role_world.inside)
        response = self.client_for(role_world, role).delete(self.detail_url(obj))
        assert response.status_code == expected_status(role, self.resource, CHANGE, ok=self.delete_status), (
            response.content
        )

    def test_read_token_cannot_change(self, role_world):
        writer = next((r for r in ALL_ROLES if expected_status(r, self.resource, CHANGE, ok=200) == 200), None)
        if writer is None or not self.supports_create:
            pytest.skip("nobody changes this resource")
        client = token_client(role_world.user(writer), scope="read")
        response = client.post(self.list_url(), self.create_payload(role_world), format="json")
        assert response.status_code == 403
        assert_error_shape(response)

    def test_manager_sees_only_own_departments(self, role_world):
        if not self.scoped:
            pytest.skip("not department-scoped")
        mine = self.make_object(role_world, role_world.inside)
        child = self.make_object(role_world, role_world.inside_child)
        theirs = self.make_object(role_world, role_world.outside)
        client = token_client(role_world.user(Role.DEPARTMENT_MANAGER), scope="read")
        listed = client.get(self.list_url(), {"page_size": 1000}).json()["results"]
        keys = {str(item[self.lookup_field if self.lookup_field != "pk" else "id"]) for item in listed}
        assert str(getattr(mine, self.lookup_field)) in keys
        assert str(getattr(child, self.lookup_field)) in keys
        assert str(getattr(theirs, self.lookup_field)) not in keys
        assert client.get(self.detail_url(theirs)).status_code == 404
