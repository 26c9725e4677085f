"""API fuzz smoke test (schemathesis) of the vendor invoice, reconciliation, accrual, GL export
and GL account endpoints, as tests/test_api_fuzz.py does for the reference data: requests
generated from our own OpenAPI schema, sent with a finance token. No answer may be a server
error, and every error answers in API.md's shape {"message", "extra"}."""

import os

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from core.roles import Role
from core.testing import bearer_header, build_role_world

from .reconciliation_world import vendor

PATHS = r"^/api/v1/(vendor-invoices|reconciliations|accruals|gl-export|gl-accounts)(/|$)"
pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def keep_test_connection():
    """The WSGI app would close the database connection after each request; inside a test
    transaction it must stay open."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_no_server_errors_and_errors_in_shape(keep_test_connection):
    schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    operations = schema.include(path_regex=PATHS).exclude(path_regex=r"/document/$")
    world = build_role_world()
    vendor("acme", "Acme", "USD")
    headers = {"Authorization": bearer_header(world.user(Role.FINANCE))}
    seen: set[tuple[str, str]] = set()

    @settings(
        max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(operations.as_strategy())
    def send(case):
        seen.add((case.method, case.path))
        response = case.call(headers=headers)
        case.validate_response(response, checks=[not_a_server_error])
        if response.status_code >= 400 and response.headers.get("Content-Type", "").startswith("application/json"):
            body = response.json()
            assert set(body) == {"message", "extra"}, (case.method, case.path, response.status_code, body)

    send()
    assert len(seen) >= 12, sorted(seen)
