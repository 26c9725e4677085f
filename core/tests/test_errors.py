"""Every API error answers {"message", "extra"} (API.md, Errors)."""

import pytest
from django.test import Client, override_settings

from core.roles import Role
from core.testing import assert_error_shape

pytestmark = pytest.mark.django_db


def test_unknown_api_path_is_404_json(role_world, make_token_client):
    response = make_token_client(role_world.user(Role.ADMIN)).get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert_error_shape(response)


def test_unknown_page_is_friendly_html(role_world):
    client = Client()
    client.force_login(role_world.user(Role.FINANCE))
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"Page not found" in response.content


def test_validation_errors_name_their_fields(role_world, make_token_client):
    response = make_token_client(role_world.user(Role.ADMIN)).patch(
        "/api/v1/settings", {"reporting_currency": "XXX1", "fiscal_year_start_month": 13}, format="json"
    )
    assert response.status_code == 400
    assert_error_shape(response)
    fields = response.json()["extra"]["fields"]
    assert set(fields) == {"reporting_currency", "fiscal_year_start_month"}
    assert response.json()["message"].startswith("Invalid input: ")


def test_method_not_allowed(role_world, make_token_client):
    response = make_token_client(role_world.user(Role.ADMIN)).put("/api/v1/runs/", {}, format="json")
    assert response.status_code == 405
    assert_error_shape(response)


def test_unsupported_media_type(role_world, make_token_client):
    response = make_token_client(role_world.user(Role.ADMIN)).generic(
        "PATCH", "/api/v1/settings", "<xml/>", content_type="application/xml"
    )
    assert response.status_code == 415
    assert_error_shape(response)


def test_malformed_json(role_world, make_token_client):
    response = make_token_client(role_world.user(Role.ADMIN)).generic(
        "PATCH", "/api/v1/settings", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert_error_shape(response)


def test_throttled_requests_get_429(role_world, make_token_client, settings):
    from rest_framework.settings import api_settings
    from rest_framework.throttling import SimpleRateThrottle

    original = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = {**api_settings.DEFAULT_THROTTLE_RATES, "user": "2/minute"}
    try:
        from django.core.cache import cache

        cache.clear()
        client = make_token_client(role_world.user(Role.FINANCE))
        statuses = [client.get("/api/v1/me").status_code for _ in range(3)]
        assert statuses[:2] == [200, 200] and statuses[2] == 429
        response = client.get("/api/v1/me")
        assert_error_shape(response)
        assert response.json()["extra"]["wait_seconds"] > 0
    finally:
        SimpleRateThrottle.THROTTLE_RATES = original
        cache.clear()


@override_settings(ROOT_URLCONF="core.tests.urls_errors", DEBUG_PROPAGATE_EXCEPTIONS=False)
def test_server_error_in_api_is_json():
    client = Client(raise_request_exception=False)
    response = client.get("/api/v1/boom")
    assert response.status_code == 500
    assert response.json() == {"message": "Internal server error; the team has been told.", "extra": {}}


def test_nul_characters_are_refused_not_a_server_error(role_world, make_token_client):
    client = make_token_client(role_world.user(Role.PROCUREMENT))
    for response in (
        client.get("/api/v1/vendors/", {"slug": "a\x00b"}),
        client.get("/api/v1/vendors/a%00b/"),
        client.post("/api/v1/vendor-certifications/", {"vendor": "x\x00", "kind": "iso_27001"}, format="json"),
        client.post(
            "/api/v1/vendor-certifications/",
            "vendor=x%00&kind=iso_27001",
            content_type="application/x-www-form-urlencoded",
        ),
    ):
        assert response.status_code == 400, response.content
        assert_error_shape(response)
    page = Client()
    page.force_login(role_world.user(Role.PROCUREMENT))
    assert page.post("/vendors/new/", {"name": "x\x00"}).status_code == 400
