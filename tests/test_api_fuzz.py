"""API fuzzing (schemathesis) of the whole OpenAPI schema: requests generated from our own schema
for every operation, sent with real bearer tokens of every role, against a database holding one
object of each kind (so generated requests also reach existing objects, not only 404s).

No answer may be a server error, and every JSON error answers in API.md's shape
{"message": str, "extra": object}. Writes are included: the test runs in a transaction that is
rolled back. Background work is queued on commit, which never comes here, so tasks do not run
(the ingestion worker path is exercised by tests/test_hostile_inputs.py).

FUZZ_EXAMPLES (default 450) is the number of generated cases, spread evenly over the
operations (at least 2 each); every case is sent once per role. A deep campaign:
`FUZZ_EXAMPLES=2000 python -m scripts.test tests/test_api_fuzz.py -n 0`.
"""

from __future__ import annotations

import os
import re
import time
from datetime import date

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import DatabaseError, close_old_connections, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from core.roles import Role
from core.testing import PASSWORD, bearer_header, build_role_world

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

ROLES = tuple(Role)
# Not fuzzed, and why:
# - none. Uploads (usage/files, agreement and vendor invoice documents, fx-rates/import) are
#   fuzzed like the rest; their hostile contents are in tests/test_hostile_inputs.py.
EXCLUDED: tuple[str, ...] = ()
LOOKUP = re.compile(r"\{(\w+)\}")


@pytest.fixture
def keep_test_connection():
    """The WSGI app would close the database connection after each request (as in production);
    inside a test transaction it must stay open, as Django's own test client arranges."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def seed(world) -> None:
    """One object of each kind the API addresses: vendors with list prices, a source, usage
    (with a rejected row), an agreement with rules, commitments and SLA clauses, a budget, an
    attribution rule, an FX rate, a closed month with its invoices."""
    from billing.services.invoices import invoices_generate
    from billing.services.periods import period_close
    from contracts.tests.factories import ensure_fin, ensure_vendor, payload
    from core.testing import token_client
    from procurement.tests.factories import BudgetFactory
    from usage import services as usage_services
    from usage.tests.factories import record
    from usage.tests.factories import world as usage_world

    finance = world.user(Role.FINANCE)
    usage_world()
    ensure_vendor()
    ensure_fin()
    procurement = token_client(world.user(Role.PROCUREMENT))
    response = procurement.post("/api/v1/agreements/", payload(status="active"), format="json")
    assert response.status_code == 201, response.json()
    BudgetFactory(department=world.inside, fiscal_year=2026)
    token_client(finance).post(
        "/api/v1/attribution-rules/",
        {"priority": 1, "dimension": "project_id", "value": "proj-1", "department": world.inside.code},
        format="json",
    )
    token_client(finance).post(
        "/api/v1/fx-rates/", {"date": "2026-03-02", "base": "EUR", "quote": "USD", "rate": "1.08"}, format="json"
    )
    records = [record(i, department=world.inside.code) for i in range(6)] + [record(9, vendor="nobody")]
    usage_services.records_ingest(records=list(enumerate(records)), actor=finance)
    period_close(month=date(2026, 3, 1), actor=finance, acknowledge_unrated=True, acknowledge_unallocated=True)
    invoices_generate(month=date(2026, 3, 1), actor=finance)


def known_values(admin_header: str) -> dict[str, list[str]]:
    """For each path with one parameter, the keys of the objects that exist (read from the
    list endpoint), so generated cases can address real objects."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=admin_header)
    found: dict[str, list[str]] = {}
    for prefix, field in (
        ("agreements", "reference"),
        ("alert-rules", "id"),
        ("alerts", "id"),
        ("approvals", "id"),
        ("attribution-rules", "id"),
        ("budgets", "id"),
        ("departments", "code"),
        ("forecast-scenarios", "id"),
        ("fx-rates", "id"),
        ("gl-accounts", "id"),
        ("inbox", "id"),
        ("invoices", "id"),
        ("periods", "period"),
        ("reconciliations", "id"),
        ("reports", "id"),
        ("runs", "id"),
        ("sla-evaluations", "id"),
        ("tokens", "id"),
        ("usage/runs", "id"),
        ("usage/sources", "slug"),
        ("users", "username"),
        ("vendor-certifications", "id"),
        ("vendor-cost-lines", "id"),
        ("vendor-invoices", "id"),
        ("vendor-models", "id"),
        ("vendors", "slug"),
    ):
        response = client.get(f"/api/v1/{prefix}/", {"page_size": 50})
        if response.status_code != 200:
            continue
        body = response.json()
        rows = body.get("results", body) if isinstance(body, dict) else body
        values = [str(row[field]) for row in rows if isinstance(row, dict) and row.get(field) not in (None, "")]
        if prefix == "periods":
            values = [v[:7] for v in values]  # 2026-03-01 → 2026-03 in the URL
        found[prefix] = values
    return found


def test_no_server_errors_and_errors_in_shape(keep_test_connection):
    world = build_role_world()
    seed(world)
    headers = {role: bearer_header(world.user(role)) for role in ROLES}
    known = known_values(headers[Role.ADMIN])
    # the fuzzer must not lock itself out: our users' own tokens and accounts are not offered
    own = {f"t-{role.value}" for role in ROLES}
    known["users"] = [u for u in known.get("users", []) if u not in own]
    known["tokens"] = []
    # Django's test client (used above) connects close_old_connections again after each request
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)

    schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if not any(re.search(x, op.path) for x in EXCLUDED)]
    assert len(operations) >= 150, len(operations)
    total = int(os.environ.get("FUZZ_EXAMPLES", "450"))
    per_operation = max(2, total // len(operations))

    stats = {"cases": 0, "requests": 0, "statuses": {}}
    started = time.monotonic()

    def restore(role: Role) -> None:
        """A case may have changed one of our users (PUT users/t-…) or revoked its token: put
        them back so the next cases are still authenticated."""
        from accounts.services import user_create_or_update

        user = world.user(role)
        user_create_or_update(
            username=user.username,
            role=role,
            email=user.email,
            departments=[world.inside.code] if role == Role.DEPARTMENT_MANAGER else [],
            password=PASSWORD,
            validate_new_password=False,
        )
        headers[role] = bearer_header(user)

    def sender(operation, pool: list[str]):
        params = LOOKUP.findall(operation.path)

        @settings(
            max_examples=per_operation,
            deadline=None,
            database=None,
            derandomize=os.environ.get("FUZZ_SEED") is None and total < 1000,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(), known_key=st.sampled_from(pool) if pool else st.none())
        def send(case, known_key):
            if known_key is not None and len(params) == 1:
                case.path_parameters = {**(case.path_parameters or {}), params[0]: known_key}
            stats["cases"] += 1
            for role in ROLES:
                # each request in a savepoint: a request that failed in the database (answered 400)
                # must not leave the test's transaction aborted for the next one, as it would not
                # in production, where every request has its own transaction
                savepoint = transaction.savepoint()
                response = case.call(headers={"Authorization": headers[role]})
                try:
                    transaction.savepoint_commit(savepoint)
                except DatabaseError:
                    transaction.savepoint_rollback(savepoint)
                stats["requests"] += 1
                stats["statuses"][response.status_code] = stats["statuses"].get(response.status_code, 0) + 1
                where = (role.value, case.method, case.formatted_path, response.status_code)
                case.validate_response(response, checks=[not_a_server_error])
                assert response.status_code < 500, where
                if response.status_code >= 400 and "json" in response.headers.get("Content-Type", ""):
                    body = response.json()
                    assert isinstance(body, dict) and set(body) == {"message", "extra"}, (where, body)
                    assert isinstance(body["message"], str) and body["message"], (where, body)
                    assert isinstance(body["extra"], dict), (where, body)
                if response.status_code == 401:
                    restore(role)

        return send

    failures = []
    for operation in operations:
        prefix = re.match(r"^/api/v1/(.+?)/\{", operation.path)
        try:
            sender(operation, known.get(prefix.group(1), []) if prefix else [])()
        except Exception as exc:  # every operation is fuzzed; the failures are reported together
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")

    elapsed = time.monotonic() - started
    print(
        f"\nfuzz: {len(operations)} operations, {stats['cases']} cases, {stats['requests']} requests "
        f"in {elapsed:.1f} s; statuses {dict(sorted(stats['statuses'].items()))}"
    )
    assert not failures, "\n\n".join(failures)
    assert stats["statuses"].get(200, 0) + stats["statuses"].get(201, 0) > 0
