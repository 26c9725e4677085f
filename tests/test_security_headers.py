"""Security headers on every kind of answer, and CSRF on every session-authenticated write.

GIVEN the real middleware stack, WHEN a page, an API answer, a PDF, a CSV or XLSX export, an error
page or error JSON (401, 403, 404, 500) is fetched, THEN each carries the Content-Security-Policy
and the other headers; files come as attachments the browser may not sniff. A browser session that
writes (API or page) without the CSRF token is refused; with it, it is not; bearer tokens need none.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from core.roles import Role
from core.testing import assert_error_shape, token_client

pytestmark = pytest.mark.django_db


def assert_security_headers(response, what: str) -> None:
    csp = response.get("Content-Security-Policy", "")
    for directive in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"):
        assert directive in csp, f"{what}: CSP lacks {directive!r}: {csp!r}"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, what
    assert response.get("X-Frame-Options") == "DENY", what
    assert response.get("X-Content-Type-Options") == "nosniff", what
    assert response.get("Referrer-Policy") == "same-origin", what
    assert response.get("Cross-Origin-Opener-Policy") == "same-origin", what


@pytest.fixture
def issued_invoice(role_world):
    from billing.models import Invoice

    return Invoice.objects.create(
        department=role_world.inside,
        period=date(2026, 3, 1),
        currency="USD",
        total=Decimal("10"),
        status=Invoice.Status.ISSUED,
        number="CB-2026-000001",
        issued_at=timezone.now(),
        pdf=b"%PDF-1.4 headers",
    )


def test_every_kind_of_answer_carries_the_headers(role_world, issued_invoice, settings):
    finance = Client()
    finance.force_login(role_world.user(Role.FINANCE))
    api = token_client(role_world.user(Role.FINANCE), scope="read")
    manager = Client()
    manager.force_login(role_world.user(Role.DEPARTMENT_MANAGER))
    answers = {
        "page": (finance.get("/"), 200),
        "login page": (Client().get("/accounts/login/"), 200),
        "API JSON": (api.get("/api/v1/vendors/"), 200),
        "API PDF": (api.get(f"/api/v1/invoices/{issued_invoice.pk}/pdf"), 200),
        "page PDF": (finance.get(f"/invoices/{issued_invoice.pk}/pdf/"), 200),
        "CSV export": (finance.get("/invoices/?_export=csv"), 200),
        "XLSX export": (finance.get("/invoices/?_export=xlsx"), 200),
        "GL export CSV": (api.get("/api/v1/gl-export/", {"period": "2026-03"}), 200),
        "404 page": (finance.get("/no-such-page/"), 404),
        "404 API": (api.get("/api/v1/vendors/no-such-vendor/"), 404),
        "403 page": (manager.get("/settings/users/"), 403),
        "403 API": (token_client(role_world.user(Role.SERVICE), scope="read").get("/api/v1/vendors/"), 403),
        "401 API": (APIClient().get("/api/v1/vendors/"), 401),
        "redirect to login": (Client().get("/invoices/"), 302),
        "health": (Client().get("/healthz"), 200),
    }
    for what, (response, status) in answers.items():
        assert response.status_code == status, (what, response.status_code)
        assert_security_headers(response, what)
    for what in ("API PDF", "page PDF", "CSV export", "XLSX export", "GL export CSV"):
        response = answers[what][0]
        assert "attachment" in response.get("Content-Disposition", ""), what
    assert answers["API PDF"][0]["Content-Type"] == "application/pdf"


@pytest.mark.urls("core.tests.urls_errors")
def test_a_server_error_carries_the_headers_and_no_details(role_world):
    client = APIClient(raise_request_exception=False)
    response = client.get("/api/v1/boom")
    assert response.status_code == 500
    assert_error_shape(response)
    assert b"kaboom" not in response.content and b"Traceback" not in response.content
    assert_security_headers(response, "500 API")


# CSRF ----------------------------------------------------------------------------------------------


def csrf_session(user) -> tuple[Client, str]:
    """A browser-like session that checks CSRF, and the token its pages carry."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/")  # sets the CSRF cookie
    return client, client.cookies["csrftoken"].value


def test_session_api_writes_need_the_csrf_token(role_world):
    client, token = csrf_session(role_world.user(Role.FINANCE))
    body = {"date": "2026-03-02", "base": "EUR", "quote": "USD", "rate": "1.08"}
    refused = client.post("/api/v1/fx-rates/", body, content_type="application/json")
    assert refused.status_code == 403
    assert_error_shape(refused)
    assert "CSRF" in refused.json()["message"]
    from core.models import FxRate

    assert not FxRate.objects.filter(date="2026-03-02").exists()
    accepted = client.post("/api/v1/fx-rates/", body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201, accepted.content
    # PATCH and DELETE alike
    rate_id = accepted.json()["id"]
    assert (
        client.patch(f"/api/v1/fx-rates/{rate_id}/", {"rate": "2"}, content_type="application/json").status_code == 403
    )
    assert client.delete(f"/api/v1/fx-rates/{rate_id}/").status_code == 403
    assert FxRate.objects.filter(pk=rate_id, rate=Decimal("1.08")).exists()


def test_session_page_writes_need_the_csrf_token(role_world):
    from procurement.models import Vendor

    client, token = csrf_session(role_world.user(Role.PROCUREMENT))
    form = {"slug": "csrf-vendor", "name": "CSRF", "kind": "producer", "country": "US", "billing_currency": "USD"}
    refused = client.post("/vendors/new/", form)
    assert refused.status_code == 403
    assert not Vendor.objects.filter(slug="csrf-vendor").exists()
    accepted = client.post("/vendors/new/", {**form, "csrfmiddlewaretoken": token})
    assert accepted.status_code != 403
    # signing out without the token is refused too (no cross-site logout)
    assert client.post("/accounts/logout/").status_code == 403
    assert client.get("/").status_code == 200


def test_sign_in_needs_the_csrf_token(role_world):
    client = Client(enforce_csrf_checks=True)
    from core.testing import PASSWORD

    assert client.post("/accounts/login/", {"login": "t-finance", "password": PASSWORD}).status_code == 403
    assert client.get("/").status_code == 302


def test_bearer_tokens_need_no_csrf_token(role_world):
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(
        HTTP_AUTHORIZATION=token_client(role_world.user(Role.FINANCE))._credentials["HTTP_AUTHORIZATION"]
    )
    body = {"date": "2026-03-03", "base": "EUR", "quote": "USD", "rate": "1.08"}
    assert client.post("/api/v1/fx-rates/", body, format="json").status_code == 201


def test_session_cookies_are_not_readable_by_scripts(role_world):
    from core.testing import PASSWORD

    client = Client()
    page = client.get("/accounts/login/")
    assert page.cookies["csrftoken"]["httponly"] and page.cookies["csrftoken"]["samesite"] == "Lax"
    signed_in = client.post("/accounts/login/", {"login": "t-finance", "password": PASSWORD})
    assert signed_in.status_code == 302
    assert signed_in.cookies["sessionid"]["httponly"] and signed_in.cookies["sessionid"]["samesite"] == "Lax"
