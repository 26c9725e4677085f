"""Changing attribution rules re-attributes the records they concern (rollups included), in an
audited background run; a record's own department is never moved."""

import pytest

from core.models import JobRun
from core.roles import Role
from core.testing import APIResourceContract, token_client
from usage.models import AttributionRule, DailyRollup, UsageRecord

from .factories import record, world

pytestmark = pytest.mark.django_db


def by_department():
    return dict(UsageRecord.objects.values_list("external_id", "department__code"))


def rollup_tokens():
    return {(r.department.code): r.input_tokens for r in DailyRollup.objects.select_related("department")}


def test_rule_changes_move_records_and_rollups(role_world, django_capture_on_commit_callbacks):
    world()
    finance = token_client(role_world.user(Role.FINANCE))
    batch = [
        record(0, external_id="a", api_key_id="key-1", input_tokens=10),
        record(0, external_id="b", api_key_id="key-2", input_tokens=20),
        record(0, external_id="c", api_key_id="key-1", department="T-OUT", input_tokens=40),
    ]
    finance.post("/api/v1/usage/records", batch, format="json")
    assert by_department() == {"a": "UNALLOCATED", "b": "UNALLOCATED", "c": "T-OUT"}

    with django_capture_on_commit_callbacks(execute=True):
        response = finance.post(
            "/api/v1/attribution-rules/",
            {"priority": 10, "dimension": "api_key_id", "value": "key-1", "department": "T-IN"},
            format="json",
        )
    assert response.status_code == 201, response.content
    assert by_department() == {"a": "T-IN", "b": "UNALLOCATED", "c": "T-OUT"}
    assert rollup_tokens() == {"T-IN": 10, "UNALLOCATED": 20, "T-OUT": 40}
    run = JobRun.objects.filter(kind="reattribution").latest("created_at")
    assert run.status == "succeeded" and run.result["moved"] == 1 and run.created_by == role_world.user(Role.FINANCE)

    rule_id = response.json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        finance.patch(f"/api/v1/attribution-rules/{rule_id}/", {"value": "key-2"}, format="json")
    assert by_department() == {"a": "UNALLOCATED", "b": "T-IN", "c": "T-OUT"}
    assert rollup_tokens() == {"T-IN": 20, "UNALLOCATED": 10, "T-OUT": 40}

    with django_capture_on_commit_callbacks(execute=True):
        finance.delete(f"/api/v1/attribution-rules/{rule_id}/")
    assert by_department() == {"a": "UNALLOCATED", "b": "UNALLOCATED", "c": "T-OUT"}
    assert rollup_tokens() == {"UNALLOCATED": 30, "T-OUT": 40}
    assert AttributionRule.history.filter(history_type="-").exists()


def test_priority_and_tags(role_world, django_capture_on_commit_callbacks):
    world()
    finance = token_client(role_world.user(Role.FINANCE))
    finance.post(
        "/api/v1/usage/records", [record(0, external_id="a", project_id="p", tags={"team": "x"})], format="json"
    )
    with django_capture_on_commit_callbacks(execute=True):
        finance.post(
            "/api/v1/attribution-rules/",
            {"priority": 5, "dimension": "project_id", "value": "p", "department": "T-IN"},
            format="json",
        )
        finance.post(
            "/api/v1/attribution-rules/",
            {"priority": 50, "dimension": "tag:team", "value": "x", "department": "T-OUT"},
            format="json",
        )
    assert by_department() == {"a": "T-OUT"}


def test_bad_dimension_refused(role_world):
    response = token_client(role_world.user(Role.FINANCE)).post(
        "/api/v1/attribution-rules/", {"dimension": "email", "value": "x", "department": "T-IN"}, format="json"
    )
    assert response.status_code == 400 and "dimension" in response.json()["extra"]["fields"]


class TestAttributionRuleAPI(APIResourceContract):
    resource = "attribution_rule"
    basename = "attributionrule"

    def make_object(self, world, department):
        return AttributionRule.objects.get_or_create(
            dimension="project_id", value="p1", priority=1, defaults={"department": world.inside}
        )[0]

    def create_payload(self, world):
        return {"priority": 7, "dimension": "user_id", "value": "u1", "department": "T-IN"}

    def update_payload(self, world, obj):
        return {"value": "p2"}


class TestSourceAPI(APIResourceContract):
    resource = "usage_source"
    basename = "source"
    lookup_field = "slug"

    def make_object(self, world, department):
        from usage.models import Source

        return Source.objects.get_or_create(slug="feed", defaults={"name": "Feed"})[0]

    def create_payload(self, world):
        return {"slug": "openai-prod", "name": "OpenAI production", "format": "openai_usage", "vendor": None}

    def update_payload(self, world, obj):
        return {"is_active": False}
