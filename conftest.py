"""Fixtures shared by every test. The database is the real PostgreSQL chosen by scripts/test.py."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from core.testing import build_role_world, token_client


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def role_world(db):
    """One user per role; the manager manages T-IN (and its child), not T-OUT."""
    return build_role_world()


@pytest.fixture
def make_token_client(db):
    return token_client


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
