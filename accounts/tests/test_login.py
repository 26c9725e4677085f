"""Signing in: allauth login, no public sign-up, throttling, service accounts kept out, reset."""

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client, override_settings

from core.roles import Role
from core.testing import PASSWORD

pytestmark = pytest.mark.django_db


def login(client: Client, username: str, password: str = PASSWORD):
    return client.post("/accounts/login/", {"login": username, "password": password})


def test_login_then_dashboard(role_world):
    client = Client()
    assert client.get("/").status_code == 302
    response = login(client, "t-finance")
    assert response.status_code == 302 and response["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert b"Dashboard" in page.content


def test_login_by_email(role_world):
    client = Client()
    assert login(client, "t-finance@example.com").status_code == 302
    assert client.get("/").status_code == 200


def test_wrong_password_stays_on_login(role_world):
    response = login(Client(), "t-finance", "wrong")
    assert response.status_code == 200
    assert b"not correct" in response.content


def test_no_public_signup(role_world):
    response = Client().get("/accounts/signup/")
    assert b"Sign Up Closed" in response.content or response.status_code in (403, 404)
    response = Client().post(
        "/accounts/signup/",
        {
            "username": "intruder",
            "email": "i@example.com",
            "password1": "x-Long-enough-1",
            "password2": "x-Long-enough-1",
        },
    )
    from accounts.models import User

    assert not User.objects.filter(username="intruder").exists()
    assert b"sign up" not in Client().get("/accounts/login/").content.lower()


def test_service_account_cannot_sign_in(role_world):
    client = Client()
    response = login(client, "t-service")
    assert client.get("/").status_code == 302  # still anonymous
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@override_settings(ACCOUNT_RATE_LIMITS={"login_failed": "3/m/ip,3/5m/key"})
def test_failed_logins_are_throttled(role_world):
    cache.clear()
    client = Client()
    for _ in range(3):
        login(client, "t-finance", "wrong")
    response = login(client, "t-finance")  # even the right password is refused for a while
    assert response.status_code in (200, 429)
    assert client.get("/").status_code == 302
    cache.clear()


def test_password_reset_sends_mail(role_world):
    mail.outbox.clear()
    response = Client().post("/accounts/password/reset/", {"email": "t-finance@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and "t-finance@example.com" in mail.outbox[0].to
    assert "/accounts/password/reset/key/" in mail.outbox[0].body


def test_logout(role_world):
    client = Client()
    login(client, "t-finance")
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302


def test_role_of_user_shown_in_shell(role_world):
    client = Client()
    client.force_login(role_world.user(Role.PROCUREMENT))
    assert b"Procurement" in client.get("/").content
