import pytest
from django.test import Client

from core.navigation import navigation_for
from core.roles import Role

pytestmark = pytest.mark.django_db


def labels(sections):
    return [item["label"] for section in sections for item in section["items"]]


def test_menu_follows_the_role(role_world):
    assert {"Users", "Settings", "API tokens"} <= set(labels(navigation_for(role_world.user(Role.ADMIN), "/")))
    manager = labels(navigation_for(role_world.user(Role.DEPARTMENT_MANAGER), "/"))
    assert "Users" not in manager and "Settings" not in manager and "Dashboard" in manager


def test_only_the_most_specific_entry_is_active(role_world):
    sections = navigation_for(role_world.user(Role.ADMIN), "/settings/api-tokens/")
    active = [item["label"] for section in sections for item in section["items"] if item["active"]]
    assert active == ["API tokens"]


def test_current_page_marked_for_assistive_tech(role_world):
    client = Client()
    client.force_login(role_world.user(Role.ADMIN))
    html = client.get("/settings/").content.decode()
    assert 'aria-current="page"' in html
