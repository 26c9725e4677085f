"""The browser set-up itself: Chromium starts, the pages load their styles and scripts under the
app's CSP, and a person signs in through the form and lands on the dashboard."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from core.roles import Role

from .conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_sign_in_lands_on_the_dashboard(page, role_world):
    sign_in(page, role_world.user(Role.AUDITOR))
    assert urlsplit(page.url).path == "/"
    assert page.get_by_role("heading", name="Dashboard").is_visible()
    assert page.get_by_text("Successfully signed in as t-auditor").is_visible()
    # Tabler's stylesheet is applied (served by the live server's static files handler)
    assert page.evaluate("getComputedStyle(document.querySelector('.page')).display") != "inline"
