"""GET usage/records: records pushed through POST usage/records come back with their contract
rating, newest first, filtered on every listed field, paginated, scoped to a manager's
departments, in a fixed number of queries (the count read from the daily rollups)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.roles import Role
from core.testing import assert_error_shape, token_client
from procurement.services import vendor_save
from usage.models import IngestionRun, Source, UsageRecord

from .factories import record, world

pytestmark = pytest.mark.django_db

URL = "/api/v1/usage/records"
ALL = {"c1", "c2", "o1", "l1", "l2", "m1", "u1"}


def ingest(client, records) -> int:
    response = client.post(URL, records, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["rejected"] == 0 and body["accepted"] == len(records), body
    return body["run"]


def rec(external_id, *, vendor, model, start, department=None, tokens_in=1_000_000, tokens_out=0, **extra):
    body = record(
        0,
        external_id=external_id,
        vendor=vendor,
        model=model,
        bucket_start=start,
        bucket_end=None,
        input_tokens=tokens_in,
        cached_input_tokens=0,
        output_tokens=tokens_out,
        **extra,
    )
    if department:
        body["department"] = department
    return body


@pytest.fixture
def loaded(role_world):
    """acme under agreement FA-ACME (input 0.27 graduated, output 1.10 flat for acme-*), its
    other-model only at list price; openai at list price; mistral bills in EUR without a rate;
    noprice has no price at all. Seven records over four departments, two sources, two runs."""
    world(vendor="acme", model="acme-large", price_in="0.50", price_out="2", cached="0.25")
    world(vendor="acme", model="other-model", price_in="1", price_out="3", cached=None)
    world()
    world(vendor="mistral", currency="EUR", model="mistral-large")
    vendor_save(
        actor=None, slug="noprice", name="No price", kind="producer", country="US", billing_currency="USD", aliases=[]
    )
    Source.objects.create(slug="gw2", name="Second gateway")
    agreement = {
        "reference": "FA-ACME",
        "vendor": "acme",
        "start": "2026-01-01",
        "end": "2026-12-31",
        "currency": "USD",
        "status": "active",
        "price_rules": [
            {
                "model_pattern": "acme-*",
                "token_class": "input",
                "schedule": "graduated",
                "tiers": [{"from_tokens": 0, "price": "0.27"}, {"from_tokens": 100_000_000_000, "price": "0.20"}],
            },
            {
                "model_pattern": "acme-*",
                "token_class": "output",
                "schedule": "flat",
                "tiers": [{"from_tokens": 0, "price": "1.10"}],
            },
        ],
        "commitments": [],
        "sla_clauses": [],
    }
    response = token_client(role_world.user(Role.PROCUREMENT)).post("/api/v1/agreements/", agreement, format="json")
    assert response.status_code == 201, response.content
    finance = token_client(role_world.user(Role.FINANCE))
    first = ingest(
        finance,
        [
            rec(
                "c1",
                vendor="acme",
                model="acme-large",
                start="2026-03-01T00:00:00Z",
                department="T-IN",
                tokens_out=10**6,
            ),
            rec("c2", vendor="acme", model="acme-large", start="2026-03-02T05:00:00Z", department="T-IN-SUB"),
            rec(
                "o1",
                vendor="acme",
                model="other-model",
                start="2026-03-02T05:00:00Z",
                department="T-OUT",
                tokens_out=10**6,
            ),
            rec("l1", vendor="openai", model="gpt-4o", start="2026-03-03T00:00:00Z", department="T-OUT", source="gw2"),
            rec("l2", vendor="openai", model="gpt-4o", start="2026-02-28T23:59:59Z"),
        ],
    )
    second = ingest(
        finance,
        [
            rec("m1", vendor="mistral", model="mistral-large", start="2026-03-04T00:00:00Z", department="T-IN"),
            rec("u1", vendor="noprice", model="mystery", start="2026-03-05T00:00:00Z", department="T-IN"),
        ],
    )
    return {"first": first, "second": second}


def listing(client, **params) -> dict:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def external_ids(client, **params) -> set[str]:
    body = listing(client, page_size=1000, **params)
    found = {r["external_id"] for r in body["results"]}
    assert body["count"] == len(body["results"]) == len(found), (params, body["count"])
    return found


def test_records_come_back_with_their_contract_rating(loaded, role_world):
    rows = {r["external_id"]: r for r in listing(token_client(role_world.user(Role.AUDITOR), scope="read"))["results"]}
    assert set(rows) == ALL
    c1 = rows["c1"]
    # 1 000 000 × 0.27 + 1 000 000 × 1.10 per million tokens
    assert (c1["rating"], c1["agreement"], c1["off_contract"]) == ("contract", "FA-ACME", False)
    assert (c1["cost"], c1["cost_currency"], c1["cost_reporting"]) == ("1.370000000000", "USD", "1.370000000000")
    assert c1["list_cost"] == "2.500000000000" and c1["list_cost_reporting"] == "2.500000000000"  # 0.50 + 2
    assert c1["off_contract_reporting"] == "0.000000000000"
    assert (c1["fx_status"], c1["fx_rate"], c1["reporting_currency"]) == ("same", "1.000000000000", "USD")
    assert c1["rating_detail"]["output"]["rate"] == "1.100000"
    assert (c1["vendor"], c1["source"], c1["department"], c1["model"]) == ("acme", "gw", "T-IN", "acme-large")
    # another model of the same vendor: at list price, still under the agreement, flagged
    o1 = rows["o1"]
    assert (o1["rating"], o1["agreement"], o1["off_contract"]) == ("list", "FA-ACME", True)
    assert o1["cost"] == o1["off_contract_reporting"] == "4.000000000000"
    assert o1["rating_detail"]["input"] == {"list_rate": "1.000000"}
    # no agreement, no rate, no price
    assert (rows["l1"]["rating"], rows["l1"]["agreement"], rows["l1"]["source"]) == ("list", None, "gw2")
    m1 = rows["m1"]
    assert (m1["fx_status"], m1["cost_currency"], m1["cost_reporting"]) == ("missing", "EUR", None)
    u1 = rows["u1"]
    assert (u1["rating"], u1["cost"], u1["fx_status"]) == ("unpriced", None, "")


def test_every_field_as_stored(loaded, role_world):
    stored = UsageRecord.objects.select_related("source", "vendor", "department").get(external_id="c1")
    row = next(r for r in listing(token_client(role_world.user(Role.FINANCE)))["results"] if r["id"] == stored.pk)
    assert row == {
        "id": stored.pk,
        "external_id": "c1",
        "source": "gw",
        "vendor": "acme",
        "model": "acme-large",
        "bucket_start": "2026-03-01T00:00:00Z",
        "bucket_end": None,
        "usage_date": "2026-03-01",
        "input_tokens": 1_000_000,
        "cached_input_tokens": 0,
        "cache_write_tokens": 0,
        "output_tokens": 1_000_000,
        "requests": 3,
        "failed_requests": 0,
        "latency_ms": None,
        "latency_p50_ms": None,
        "latency_p90_ms": None,
        "project_id": "proj-0",
        "api_key_id": None,
        "workspace_id": None,
        "user_id": None,
        "service_tier": None,
        "region": None,
        "tags": {},
        "department": "T-IN",
        "version": 1,
        "run": loaded["first"],
        "rating": "contract",
        "agreement": "FA-ACME",
        "off_contract": False,
        "cost": f"{stored.cost:.12f}",
        "cost_currency": "USD",
        "cost_reporting": f"{stored.cost_reporting:.12f}",
        "list_cost": f"{stored.list_cost:.12f}",
        "list_cost_reporting": f"{stored.list_cost_reporting:.12f}",
        "off_contract_reporting": f"{stored.off_contract_reporting:.12f}",
        "reporting_currency": "USD",
        "fx_rate": f"{stored.fx_rate:.12f}",
        "fx_date": "2026-03-01",
        "fx_status": "same",
        "rating_detail": stored.rating_detail,
    }


def test_decimals_keep_twelve_places(loaded, role_world):
    UsageRecord.objects.filter(external_id="l1").update(cost=Decimal("0.000000000001"))
    row = next(r for r in listing(token_client(role_world.user(Role.FINANCE)))["results"] if r["external_id"] == "l1")
    assert row["cost"] == "0.000000000001"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ALL),
        ({"vendor": "acme"}, {"c1", "c2", "o1"}),
        ({"model": "gpt-4o"}, {"l1", "l2"}),
        ({"model": "nothing-like-it"}, set()),
        ({"department": "T-IN"}, {"c1", "c2", "m1", "u1"}),  # with its sub-department
        ({"department": "T-IN-SUB"}, {"c2"}),
        ({"department": "T-OUT"}, {"o1", "l1"}),
        ({"department": "UNALLOCATED"}, {"l2"}),
        ({"department": "NO-SUCH"}, set()),
        ({"source": "gw2"}, {"l1"}),
        ({"start": "2026-03-01"}, ALL - {"l2"}),
        ({"end": "2026-03-01"}, {"l2"}),  # exclusive, on the UTC usage date
        ({"start": "2026-03-02", "end": "2026-03-03"}, {"c2", "o1"}),
        ({"rating": "contract"}, {"c1", "c2"}),
        ({"rating": "list"}, {"o1", "l1", "l2", "m1"}),
        ({"rating": "unpriced"}, {"u1"}),
        ({"off_contract": "true"}, ALL - {"c1", "c2"}),
        ({"off_contract": "false"}, {"c1", "c2"}),
        ({"fx_status": "missing"}, {"m1"}),
        ({"fx_status": "same"}, {"c1", "c2", "o1", "l1", "l2"}),
        ({"agreement": "FA-ACME"}, {"c1", "c2", "o1"}),
        ({"external_id": "c2"}, {"c2"}),
        ({"vendor": "acme", "department": "T-IN"}, {"c1", "c2"}),
        ({"vendor": "acme", "rating": "list"}, {"o1"}),
        ({"vendor": "openai", "start": "2026-03-01", "model": "gpt-4o"}, {"l1"}),
    ],
    ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else None,
)
def test_each_filter(loaded, role_world, params, expected):
    assert external_ids(token_client(role_world.user(Role.FINANCE)), **params) == expected


def test_run_filter(loaded, role_world):
    client = token_client(role_world.user(Role.FINANCE))
    assert external_ids(client, run=loaded["second"]) == {"m1", "u1"}
    assert external_ids(client, run=loaded["first"]) == {"c1", "c2", "o1", "l1", "l2"}
    assert IngestionRun.objects.filter(pk=loaded["second"]).exists()


@pytest.mark.parametrize(
    "params",
    [
        {"vendor": "nobody"},
        {"source": "nowhere"},
        {"agreement": "FA-NONE"},
        {"start": "yesterday"},
        {"end": "2026-02-30"},
        {"rating": "free"},
        {"fx_status": "fine"},
        {"run": "x"},
    ],
)
def test_bad_filter_values_answer_400(loaded, role_world, params):
    response = token_client(role_world.user(Role.FINANCE)).get(URL, params)
    assert response.status_code == 400, (params, response.content)
    assert_error_shape(response)


def test_newest_first_and_pages_without_overlap(loaded, role_world):
    client = token_client(role_world.user(Role.FINANCE))
    everything = listing(client)["results"]
    order = [(r["bucket_start"], r["id"]) for r in everything]
    assert order == sorted(order, reverse=True)
    assert [r["external_id"] for r in everything][:2] == ["u1", "m1"]
    # c2 and o1 share their bucket_start: the later id comes first
    tied = [r["external_id"] for r in everything if r["bucket_start"] == "2026-03-02T05:00:00Z"]
    assert tied == ["o1", "c2"]

    seen, page, body = [], 1, None
    while True:
        body = listing(client, page_size=2, page=page)
        assert body["count"] == 7
        seen += [r["id"] for r in body["results"]]
        if body["next"] is None:
            break
        assert f"page={page + 1}" in body["next"]
        page += 1
    assert page == 4 and body["previous"] is not None and len(body["results"]) == 1
    assert seen == [r["id"] for r in everything]

    oldest_first = listing(client, ordering="bucket_start")["results"]
    assert [r["id"] for r in oldest_first] == [r["id"] for r in reversed(everything)]

    beyond = client.get(URL, {"page_size": 2, "page": 5})
    assert beyond.status_code == 404
    assert_error_shape(beyond)
    assert len(listing(client, page_size=5000)["results"]) == 7  # capped at 1 000, not refused


def test_manager_sees_only_their_departments(loaded, role_world):
    manager = token_client(role_world.user(Role.DEPARTMENT_MANAGER), scope="read")
    assert external_ids(manager) == {"c1", "c2", "m1", "u1"}  # T-IN and its sub-department
    assert external_ids(manager, department="T-OUT") == set()
    assert external_ids(manager, department="UNALLOCATED") == set()
    assert external_ids(manager, external_id="o1") == set()
    assert external_ids(manager, vendor="acme") == {"c1", "c2"}
    assert external_ids(manager, rating="list") == {"m1"}
    assert external_ids(manager, department="T-IN-SUB") == {"c2"}


def test_who_may_read(loaded, role_world):
    assert token_client(role_world.user(Role.SERVICE), scope="ingest", sources=["gw"]).get(URL).status_code == 403
    assert token_client(role_world.user(Role.SERVICE), scope="read").get(URL).status_code == 403
    anonymous = token_client(role_world.user(Role.FINANCE))
    anonymous.credentials()
    response = anonymous.get(URL)
    assert response.status_code == 401
    assert_error_shape(response)
    for role in (Role.ADMIN, Role.PROCUREMENT, Role.FINANCE, Role.AUDITOR):
        assert token_client(role_world.user(role), scope="read").get(URL).status_code == 200, role
    # a read token lists but does not push
    reader = token_client(role_world.user(Role.FINANCE), scope="read")
    assert reader.post(URL, [record(0)], format="json").status_code == 403


def more_records(client, n: int, department=None):
    ingest(
        client,
        [
            rec(
                f"x{i}",
                vendor="acme",
                model="acme-large",
                start=f"2026-04-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
                department=department,
            )
            for i in range(n)
        ],
    )


def quiet_reader(user):
    """A read client whose token's use is not written down during the test (a token records
    its use at most once a minute; a slow machine could otherwise add that UPDATE anywhere)."""
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import ApiToken

    client = token_client(user, scope="read")
    ApiToken.objects.filter(user=user).update(last_used_at=timezone.now() + timedelta(days=1))
    return client


def _queries_on_records(captured) -> list[str]:
    return [q["sql"] for q in captured if "usage_record" in q["sql"]]


def test_query_count_is_fixed_and_the_count_comes_from_the_rollups(loaded, role_world, django_assert_num_queries):
    client = quiet_reader(role_world.user(Role.FINANCE))
    # the token with its user; the count (rollups); the page (source, vendor, department joined);
    # the page's agreement references
    with django_assert_num_queries(4), CaptureQueriesContext(connection) as captured:
        assert listing(client)["count"] == 7
    on_records = _queries_on_records(captured)
    assert len(on_records) == 1 and "COUNT(" not in on_records[0].upper()
    more_records(token_client(role_world.user(Role.FINANCE)), 60)
    with django_assert_num_queries(4):
        body = listing(client, page_size=100)
    assert body["count"] == 67 and len(body["results"]) == 67
    assert {r["agreement"] for r in body["results"]} == {"FA-ACME", None}


def test_query_count_with_filters(loaded, role_world, django_assert_num_queries):
    more_records(token_client(role_world.user(Role.FINANCE)), 30, department="T-IN-SUB")
    client = quiet_reader(role_world.user(Role.FINANCE))
    # + the vendor (the filter's lookup); the department tree (the code, then the tree)
    with django_assert_num_queries(7), CaptureQueriesContext(connection) as captured:
        assert listing(client, vendor="acme", department="T-ROOT", start="2026-03-01")["count"] == 33
    assert len(_queries_on_records(captured)) == 1
    # a filter the rollups do not keep: the matching records are counted
    with django_assert_num_queries(4), CaptureQueriesContext(connection) as captured:
        assert listing(client, rating="contract")["count"] == 32
    assert any("COUNT(" in sql.upper() for sql in _queries_on_records(captured))
    # a manager: + the departments they manage and the tree
    manager = quiet_reader(role_world.user(Role.DEPARTMENT_MANAGER))
    with django_assert_num_queries(6):
        assert listing(manager)["count"] == 34


def test_count_from_the_rollups_equals_the_records(loaded, role_world):
    """Every combination of the filters the rollups keep counts what a row count gives."""
    more_records(token_client(role_world.user(Role.FINANCE)), 20, department="T-IN-SUB")
    for role in (Role.FINANCE, Role.DEPARTMENT_MANAGER):
        client = token_client(role_world.user(role), scope="read")
        for params in (
            {},
            {"vendor": "acme"},
            {"model": "acme-large"},
            {"department": "T-IN"},
            {"start": "2026-03-02", "end": "2026-04-03"},
            {"vendor": "acme", "model": "acme-large", "department": "T-ROOT", "start": "2026-04-01"},
        ):
            body = listing(client, page_size=1000, **params)
            assert body["count"] == len(body["results"]), (role, params)


def test_pages_read_vendor_by_vendor_equal_the_plain_order(loaded, role_world, monkeypatch):
    """Without a vendor filter a page is sliced from each vendor's first records (the index);
    every page, in either order, with filters and past the depth where the plain query takes
    over, holds exactly what the plain query gives."""
    from usage.selectors import RecordsByVendor

    more_records(token_client(role_world.user(Role.FINANCE)), 25, department="T-IN")
    client = token_client(role_world.user(Role.FINANCE), scope="read")

    def walk(**params):
        ids, page = [], 1
        while True:
            body = listing(client, page_size=4, page=page, **params)
            ids += [r["id"] for r in body["results"]]
            if body["next"] is None:
                return ids
            page += 1

    for params, order in (
        ({}, ("-bucket_start", "-id")),
        ({"ordering": "bucket_start"}, ("bucket_start", "id")),
        ({"department": "T-IN", "rating": "contract"}, ("-bucket_start", "-id")),
    ):
        plain = UsageRecord.objects.order_by(*order)
        if "department" in params:
            plain = plain.filter(department__code__in=["T-IN", "T-IN-SUB"], rating="contract")
        expected = list(plain.values_list("id", flat=True))
        with CaptureQueriesContext(connection) as captured:
            assert walk(**params) == expected, params
        assert any("unnest(ARRAY(" in sql for sql in _queries_on_records(captured))
        monkeypatch.setattr(RecordsByVendor, "DEEP", 6)  # pages past the 6th record: the plain query
        assert walk(**params) == expected, params
        monkeypatch.undo()

    with CaptureQueriesContext(connection) as captured:
        assert external_ids(client, vendor="acme") >= {"c1", "c2", "o1"}
    assert not any("unnest(ARRAY(" in sql for sql in _queries_on_records(captured))
