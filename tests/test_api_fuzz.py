"""API fuzz smoke test (schemathesis): requests generated from our own OpenAPI schema against the
reference-data endpoints, sent with real tokens of the roles that change them. No answer may be a
server error, and every error answers in API.md's shape {"message", "extra"}."""

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from core.roles import Role
from core.testing import bearer_header, build_role_world

REFERENCE_PATHS = (
    r"^/api/v1/(vendors|vendor-certifications|vendor-models|departments|budgets|fx-rates|agreements|"
    r"approvals|settings|me)(/|$)"
)
ROLES = (Role.PROCUREMENT, Role.FINANCE, Role.ADMIN)
pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def keep_test_connection():
    """The WSGI app would close the database connection after each request (as in production);
    inside a test transaction it must stay open, as Django's own test client arranges."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_no_server_errors_and_errors_in_shape(keep_test_connection):
    schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    operations = schema.include(path_regex=REFERENCE_PATHS).exclude(path_regex=r"/(document|import)/$")
    world = build_role_world()
    headers = {role: {"Authorization": bearer_header(world.user(role))} for role in ROLES}
    seen: set[tuple[str, str]] = set()

    @settings(
        max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", "250")),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(operations.as_strategy())
    def send(case):
        seen.add((case.method, case.path))
        for role in ROLES:
            response = case.call(headers=headers[role])
            case.validate_response(response, checks=[not_a_server_error])
            if response.status_code >= 400 and response.headers.get("Content-Type", "").startswith("application/json"):
                body = response.json()
                assert set(body) == {"message", "extra"}, (role, case.method, case.path, response.status_code, body)

    send()
    assert len(seen) >= 20, sorted(seen)  # the generator reached most operations
