"""The API's rate limits count in the shared cache; when that cache is unreachable the API keeps
answering (unthrottled, with a warning in the log) instead of failing every request."""

from __future__ import annotations

import logging

import pytest
from django.core.cache import caches
from django.test import override_settings
from rest_framework.test import APIClient

from core.roles import Role
from core.testing import bearer_header

pytestmark = pytest.mark.django_db

DEAD_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:9/0",  # the discard port: nothing answers
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}


def _get(role_world, role, path="/api/v1/vendors/"):
    client = APIClient()
    return client.get(path, HTTP_AUTHORIZATION=bearer_header(role_world.user(role)))


def test_the_api_answers_when_the_throttling_cache_is_down(role_world, caplog):
    with override_settings(CACHES=DEAD_REDIS), caplog.at_level(logging.WARNING, logger="core.api.throttling"):
        assert "RedisCache" in type(caches["default"]).__name__  # Django's signal swapped the cache
        response = _get(role_world, Role.FINANCE)
        anonymous = APIClient().get("/api/v1/vendors/")
    assert response.status_code == 200, response.content
    assert anonymous.status_code == 401 and set(anonymous.json()) == {"message", "extra"}
    assert any("the cache is unavailable" in r.getMessage() for r in caplog.records), caplog.text


def test_with_the_cache_up_the_limit_still_holds(role_world, monkeypatch):
    from django.core.cache import cache

    from core.api.throttling import UserThrottle

    monkeypatch.setattr(UserThrottle, "THROTTLE_RATES", {"user": "2/minute", "anon": "2/minute"})
    cache.clear()
    statuses = [_get(role_world, Role.AUDITOR).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
