"""Users through the API: the role matrix, plus what an administrator needs to manage people."""

import pytest

from accounts.models import User
from core.roles import Role
from core.testing import APIResourceContract, assert_error_shape, token_client

pytestmark = pytest.mark.django_db


class TestUserAPI(APIResourceContract):
    resource = "user"
    basename = "user"
    lookup_field = "username"
    delete_status = 204

    def make_object(self, world, department):
        obj, _ = User.objects.get_or_create(username="someone", defaults={"role": Role.AUDITOR})
        return obj

    def create_payload(self, world):
        return {
            "username": "newbie",
            "role": "finance",
            "email": "newbie@example.com",
            "password": "a-long-unusual-passphrase-42",
        }

    def update_payload(self, world, obj):
        return {"role": "procurement"}


def test_admin_creates_manager_with_departments(role_world):
    client = token_client(role_world.user(Role.ADMIN))
    response = client.post(
        "/api/v1/users/",
        {"username": "mgr2", "role": "department_manager", "departments": ["T-OUT"], "email": "m2@example.com"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["departments"] == ["T-OUT"]
    assert "password" not in response.json()
    user = User.objects.get(username="mgr2")
    assert not user.has_usable_password()  # signs in by SSO or password reset


def test_unknown_department_is_a_field_error(role_world):
    client = token_client(role_world.user(Role.ADMIN))
    response = client.post(
        "/api/v1/users/", {"username": "mgr3", "role": "department_manager", "departments": ["NOPE"]}, format="json"
    )
    assert response.status_code == 400
    assert_error_shape(response)
    assert "departments" in response.json()["extra"]["fields"]
    assert not User.objects.filter(username="mgr3").exists()


def test_weak_password_refused_through_api(role_world):
    client = token_client(role_world.user(Role.ADMIN))
    response = client.post(
        "/api/v1/users/", {"username": "weak", "role": "finance", "password": "password"}, format="json"
    )
    assert response.status_code == 400
    assert "password" in response.json()["extra"]["fields"]


def test_delete_deactivates_and_keeps_history(role_world):
    client = token_client(role_world.user(Role.ADMIN))
    target = role_world.user(Role.AUDITOR)
    assert client.delete(f"/api/v1/users/{target.username}/").status_code == 204
    target.refresh_from_db()
    assert target.is_active is False
    last = target.history.first()
    assert last.is_active is False and last.history_user == role_world.user(Role.ADMIN)


def test_role_change_is_in_history(role_world):
    admin = role_world.user(Role.ADMIN)
    target = role_world.user(Role.AUDITOR)
    token_client(admin).patch(f"/api/v1/users/{target.username}/", {"role": "finance"}, format="json")
    records = list(target.history.order_by("-history_date")[:2])
    assert records[0].role == "finance" and records[1].role == "auditor"
    assert records[0].history_user == admin
