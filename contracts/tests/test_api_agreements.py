"""Agreements through the API: API.md's JSON, nested lists replaced as amendments keeping ids,
validation a procurement officer understands, one active agreement per vendor, documents."""

from datetime import date

import pytest

from contracts.models import Agreement, PriceRule
from core.models import StoredFile
from core.roles import Role
from core.testing import APIResourceContract, assert_error_shape, token_client

from .factories import API_EXAMPLE, ensure_fin, ensure_vendor, make_agreement, payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def procurement(role_world):
    ensure_vendor()
    ensure_fin()
    return token_client(role_world.user(Role.PROCUREMENT))


class TestAgreementAPI(APIResourceContract):
    resource = "agreement"
    basename = "agreement"
    lookup_field = "reference"

    def make_object(self, world, department):
        return Agreement.objects.filter(reference="FA-TEST").first() or make_agreement()

    def create_payload(self, world):
        ensure_vendor()
        ensure_fin()
        return payload(reference="FA-NEW")

    def update_payload(self, world, obj):
        return {"po_number": "PO-9"}


def test_api_md_example_round_trips(procurement):
    response = procurement.post("/api/v1/agreements/", API_EXAMPLE, format="json")
    assert response.status_code == 201, response.content
    body = procurement.get("/api/v1/agreements/FA-2026-01/").json()
    for field in (
        "reference",
        "vendor",
        "start",
        "end",
        "currency",
        "status",
        "payment_terms_days",
        "auto_renew",
        "notice_days",
        "po_number",
    ):
        assert body[field] == API_EXAMPLE[field], field
    rule = body["price_rules"][0]
    assert isinstance(rule["id"], int)
    assert {k: v for k, v in rule.items() if k != "id"} == {
        **API_EXAMPLE["price_rules"][0],
        "tiers": [{"from_tokens": 0, "price": "0.270000"}, {"from_tokens": 100000000000, "price": "0.200000"}],
    }
    commitment = body["commitments"][0]
    assert commitment["amount"] == "500000000000.000000" and commitment["central_department"] == "FIN"
    assert commitment["shortfall_price"] == "0.250000" and commitment["token_classes"] == []
    clause = body["sla_clauses"][0]
    assert clause["models"] == ["deepseek-chat"] and clause["bands"][1] == {
        "breach_over": "500.0000",
        "credit_percent": "15.00",
    }
    assert body["pending_approval"] is None


def test_nested_list_replaced_as_amendment_keeping_ids(procurement):
    body = procurement.post("/api/v1/agreements/", API_EXAMPLE, format="json").json()
    first_id = body["price_rules"][0]["id"]
    rules = [
        {**API_EXAMPLE["price_rules"][0], "tiers": [{"from_tokens": 0, "price": "0.25"}]},  # same rule, new tiers
        {
            "model_pattern": "deepseek-reasoner",
            "token_class": "output",
            "schedule": "flat",
            "tiers": [{"from_tokens": 0, "price": "2.19"}],
            "effective_from": "2026-07-01",
        },
    ]
    response = procurement.patch("/api/v1/agreements/FA-2026-01/", {"price_rules": rules}, format="json")
    assert response.status_code == 200, response.content
    after = response.json()["price_rules"]
    by_pattern = {r["model_pattern"]: r for r in after}
    assert by_pattern["deepseek-*"]["id"] == first_id  # matched by its natural key: kept its id
    assert by_pattern["deepseek-*"]["tiers"] == [{"from_tokens": 0, "price": "0.250000"}]
    # the commitments and SLA clauses were not sent, so they are unchanged
    assert len(response.json()["commitments"]) == 1 and len(response.json()["sla_clauses"]) == 1
    # sending the list with ids: drop the new rule, keep the first by id
    response = procurement.patch(
        "/api/v1/agreements/FA-2026-01/", {"price_rules": [{**by_pattern["deepseek-*"]}]}, format="json"
    )
    assert [r["id"] for r in response.json()["price_rules"]] == [first_id]
    amendments = procurement.get("/api/v1/agreements/FA-2026-01/amendments/").json()
    assert [a["number"] for a in amendments] == [3, 2, 1]
    assert amendments[1]["rerate_from"] == "2026-01-01"  # the changed open-dated rule re-rates from the start
    assert amendments[1]["changed_by"] == "t-procurement"
    assert "price_rules" in amendments[1]["changes"]


def test_amendment_rerates_from_the_earliest_affected_date(procurement):
    procurement.post("/api/v1/agreements/", payload(price_rules=[]), format="json")
    rule = {
        "model_pattern": "deepseek-chat",
        "token_class": "output",
        "schedule": "flat",
        "tiers": [{"from_tokens": 0, "price": "1.10"}],
        "effective_from": "2026-09-01",
    }
    procurement.patch("/api/v1/agreements/FA-2026-01/", {"price_rules": [rule]}, format="json")
    latest = procurement.get("/api/v1/agreements/FA-2026-01/amendments/").json()[0]
    assert latest["rerate_from"] == "2026-09-01"
    procurement.patch("/api/v1/agreements/FA-2026-01/", {"po_number": "PO-1"}, format="json")
    assert procurement.get("/api/v1/agreements/FA-2026-01/amendments/").json()[0]["rerate_from"] is None


def test_unknown_nested_id_refused(procurement):
    procurement.post("/api/v1/agreements/", API_EXAMPLE, format="json")
    rules = [{**API_EXAMPLE["price_rules"][0], "id": 999999}]
    response = procurement.patch("/api/v1/agreements/FA-2026-01/", {"price_rules": rules}, format="json")
    assert response.status_code == 400
    assert response.json()["extra"]["fields"]["price_rules"][0]["id"]


def _rule(pattern="deepseek-*", token_class="input", tiers=(("0", "0.27"),), schedule="graduated", **extra):
    return {
        "model_pattern": pattern,
        "token_class": token_class,
        "schedule": schedule,
        "tiers": [{"from_tokens": int(f), "price": p} for f, p in tiers],
        **extra,
    }


@pytest.mark.parametrize(
    ("changes", "where", "fragment"),
    [
        ({"price_rules": [_rule(tiers=(("10", "0.2"),))]}, ("price_rules", 0, "tiers"), "start at 0"),
        (
            {"price_rules": [_rule(tiers=(("0", "0.2"), ("100", "0.1"), ("50", "0.05")))]},
            ("price_rules", 0, "tiers"),
            "ascend",
        ),
        ({"price_rules": [_rule(tiers=(("0", "-0.2"),))]}, ("price_rules", 0, "tiers"), "negative"),
        (
            {"price_rules": [_rule(tiers=(("0", "0.2"), ("5", "0.1")), schedule="flat")]},
            ("price_rules", 0, "schedule"),
            "exactly one tier",
        ),
        (
            {"price_rules": [_rule(effective_from="2025-06-01")]},
            ("price_rules", 0, "effective_from"),
            "inside the term",
        ),
        (
            {"price_rules": [_rule(), _rule(pattern="deepseek-?hat")]},
            ("price_rules", 1, "model_pattern"),
            "equal specificity",
        ),
        ({"price_rules": [_rule(), _rule()]}, ("price_rules", 1, "model_pattern"), "equal specificity"),
        (
            {"commitments": [{**API_EXAMPLE["commitments"][0], "shortfall_price": None}]},
            ("commitments", 0, "shortfall_price"),
            "needs a shortfall price",
        ),
        (
            {"commitments": [{**API_EXAMPLE["commitments"][0], "central_department": None}]},
            ("commitments", 0, "central_department"),
            "carries the shortfall",
        ),
        (
            {"commitments": [{**API_EXAMPLE["commitments"][0], "unit": "USD", "shortfall_price": None}]},
            ("commitments", 0, "unit"),
            "agreement's currency",
        ),
        (
            {"commitments": [{**API_EXAMPLE["commitments"][0], "amount": "10.5"}]},
            ("commitments", 0, "amount"),
            "whole number",
        ),
        (
            {
                "sla_clauses": [
                    {
                        **API_EXAMPLE["sla_clauses"][0],
                        "bands": [
                            {"breach_over": "500", "credit_percent": "5"},
                            {"breach_over": "0", "credit_percent": "15"},
                        ],
                    }
                ]
            },
            ("sla_clauses", 0, "bands"),
            "ascend",
        ),
        (
            {"sla_clauses": [{**API_EXAMPLE["sla_clauses"][0], "cap_percent": "10"}]},
            ("sla_clauses", 0, "bands"),
            "exceeds the cap",
        ),
        (
            {"sla_clauses": [{**API_EXAMPLE["sla_clauses"][0], "metric": "availability", "target": "120"}]},
            ("sla_clauses", 0, "target"),
            "at most 100",
        ),
    ],
)
def test_invalid_tables_answer_400_naming_row_and_field(procurement, changes, where, fragment):
    response = procurement.post("/api/v1/agreements/", payload(**changes), format="json")
    assert response.status_code == 400, response.content
    assert_error_shape(response)
    collection, index, field = where
    messages = response.json()["extra"]["fields"][collection][index][field]
    assert any(fragment in m for m in messages), messages
    assert not Agreement.objects.exists()  # nothing half-applied


def test_more_specific_rules_may_overlap(procurement):
    rules = [_rule(), _rule(pattern="deepseek-chat", tiers=(("0", "0.14"),)), _rule(pattern="deepseek-c*")]
    response = procurement.post("/api/v1/agreements/", payload(price_rules=rules), format="json")
    assert response.status_code == 201, response.content
    # equal specificity is fine when the dates do not overlap
    rules = [_rule(effective_to="2026-06-30"), _rule(effective_from="2026-07-01", tiers=(("0", "0.2"),))]
    response = procurement.patch("/api/v1/agreements/FA-2026-01/", {"price_rules": rules}, format="json")
    assert response.status_code == 200, response.content


def test_type_errors_from_the_serializer_share_the_shape(procurement):
    bad = payload(price_rules=[_rule(tiers=(("0", "0.1234567"),))], start="not-a-date")
    response = procurement.post("/api/v1/agreements/", bad, format="json")
    assert response.status_code == 400
    fields = response.json()["extra"]["fields"]
    assert "start" in fields and "price_rules" in fields


def test_one_active_agreement_per_vendor_per_date(procurement):
    assert procurement.post("/api/v1/agreements/", payload(status="active"), format="json").status_code == 201
    overlapping = payload(
        reference="FA-2026-02",
        status="active",
        start="2026-06-01",
        end="2027-05-31",
        price_rules=[],
        commitments=[],
        sla_clauses=[],
    )
    response = procurement.post("/api/v1/agreements/", overlapping, format="json")
    assert response.status_code == 400
    assert "already active" in response.json()["extra"]["fields"]["status"][0]
    # the same agreement as a draft is fine, and active after the first one ends
    assert procurement.post("/api/v1/agreements/", {**overlapping, "status": "draft"}, format="json").status_code == 201
    later = {**overlapping, "reference": "FA-2027-01", "start": "2027-01-01", "end": "2027-12-31", "status": "active"}
    assert procurement.post("/api/v1/agreements/", later, format="json").status_code == 201


def test_database_refuses_two_active_even_without_the_service(procurement):
    from django.db import IntegrityError, transaction

    a = make_agreement("A1", status="active")
    with pytest.raises(IntegrityError), transaction.atomic():
        Agreement.objects.create(
            reference="A2",
            vendor=a.vendor,
            start=date(2026, 3, 1),
            end=date(2026, 4, 1),
            currency="CNY",
            status="active",
        )


def test_reference_cannot_change_and_only_drafts_delete(procurement):
    procurement.post("/api/v1/agreements/", payload(status="active"), format="json")
    response = procurement.patch("/api/v1/agreements/FA-2026-01/", {"reference": "X"}, format="json")
    assert response.status_code == 400
    response = procurement.delete("/api/v1/agreements/FA-2026-01/")
    assert response.status_code == 409 and "only drafts" in response.json()["message"]


def test_signed_document_stored_in_postgres_and_downloaded_with_permission(procurement, role_world):
    from django.core.files.uploadedfile import SimpleUploadedFile

    procurement.post("/api/v1/agreements/", API_EXAMPLE, format="json")
    pdf = SimpleUploadedFile("signed.pdf", b"%PDF-1.7 signed contract", content_type="application/pdf")
    response = procurement.post("/api/v1/agreements/FA-2026-01/document/", {"file": pdf}, format="multipart")
    assert response.status_code == 200, response.content
    assert response.json()["signed_document"] == "/api/v1/agreements/FA-2026-01/document/"
    stored = StoredFile.objects.get()
    assert bytes(stored.content) == b"%PDF-1.7 signed contract" and stored.name.startswith("agreements/FA-2026-01/")
    download = token_client(role_world.user(Role.AUDITOR)).get("/api/v1/agreements/FA-2026-01/document/")
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"%PDF-1.7 signed contract"
    assert (
        token_client(role_world.user(Role.DEPARTMENT_MANAGER))
        .get("/api/v1/agreements/FA-2026-01/document/")
        .status_code
        == 403
    )
    finance = token_client(role_world.user(Role.FINANCE))
    assert finance.post("/api/v1/agreements/FA-2026-01/document/", {"file": pdf}, format="multipart").status_code == 403


def test_filters(procurement):
    procurement.post("/api/v1/agreements/", payload(status="active"), format="json")
    procurement.post(
        "/api/v1/agreements/",
        payload(reference="FA-OLD", start="2024-01-01", end="2024-12-31", price_rules=[], status="expired"),
        format="json",
    )

    def refs(**params):
        return [a["reference"] for a in procurement.get("/api/v1/agreements/", params).json()["results"]]

    assert refs(active_on="2026-05-05") == ["FA-2026-01"]
    assert refs(status="expired") == ["FA-OLD"]
    assert refs(vendor="deepseek", ordering="start") == ["FA-OLD", "FA-2026-01"]


def test_price_rule_history_kept(procurement):
    procurement.post("/api/v1/agreements/", API_EXAMPLE, format="json")
    rule = PriceRule.objects.get()
    assert rule.history.first().history_user.username == "t-procurement"
