"""Every registered endpoint and page, for every role (issue: the permission framework).

1. Every route names a policy resource from core/policy.py (or is one of the few public ones).
2. Every page and API list without parameters answers each role as the policy says, and an
   anonymous caller is sent to the login page (UI) or gets 401 in the error shape (API).
Every other route — detail pages, files, PDFs, exports and writes, with objects inside and outside
a manager's departments — is walked by tests/test_security_matrix.py; creates, updates and deletes
that succeed are covered per resource by `core.testing.APIResourceContract`.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from core.policy import POLICY, VIEW, can
from core.roles import Role
from core.testing import assert_error_shape, token_client

from .routes import PUBLIC_PREFIXES, all_routes

ROUTES = all_routes()
PROTECTED = [r for r in ROUTES if not r.path.startswith(PUBLIC_PREFIXES)]


def test_routes_were_found():
    names = {r.name for r in ROUTES}
    assert {"insights:dashboard", "core:settings", "api:user-list", "api:me"} <= names


@pytest.mark.parametrize("route", PROTECTED, ids=lambda r: r.path or "/")
def test_every_route_declares_a_policy(route):
    view = route.view
    resource = getattr(view, "policy_resource", None)
    assert resource in POLICY, f"{route.path} ({view}) declares no policy_resource from core/policy.py"


UI_PAGES = [r for r in PROTECTED if not r.is_api and not r.has_parameters and r.answers_get]
API_GETS = [r for r in PROTECTED if r.is_api and not r.has_parameters and r.answers_get]


# Reads that need query parameters to answer at all.
QUERIES = {
    "api:fxrate-convert": {"amount": "1", "from": "EUR", "to": "EUR", "date": "2026-01-01"},
    "api:usage-summary": {"start": "2026-01-01", "end": "2026-02-01"},
}


def _expected(route, role: Role) -> int:
    view = route.view
    user = type("U", (), {"is_authenticated": True, "is_active": True, "role": role.value})()
    if can(user, view.policy_resource, getattr(view, "policy_action", None) or VIEW):
        return 200
    if getattr(view, "owner_field", None):
        return 200  # their own objects only
    return 403


@pytest.mark.django_db
@pytest.mark.parametrize("route", UI_PAGES, ids=lambda r: r.path or "/")
def test_pages_answer_each_role_as_the_policy_says(route, role_world):
    url = route.url
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("account_login"))
    for role in Role:
        client = Client()
        client.force_login(role_world.user(role))
        response = client.get(url)
        assert response.status_code == _expected(route, role), (url, role, response.status_code)


@pytest.mark.django_db
@pytest.mark.parametrize("route", API_GETS, ids=lambda r: r.path)
def test_api_reads_answer_each_role_as_the_policy_says(route, role_world):
    url = route.url
    anonymous = Client().get(url)
    assert anonymous.status_code == 401
    assert_error_shape(anonymous)
    for role in Role:
        response = token_client(role_world.user(role), scope="read").get(url, QUERIES.get(route.name, {}))
        expected = _expected(route, role)
        if route.name == "api:me":
            expected = 200
        assert response.status_code == expected, (url, role, response.status_code, response.content[:200])
        if expected == 403:
            assert_error_shape(response)


def test_matrix_covers_pages_and_api():
    assert len(UI_PAGES) >= 4 and len(API_GETS) >= 4
