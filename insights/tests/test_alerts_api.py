"""The alerts API (API.md: `alerts/`, `alert-rules/`, the inbox): roles, department scoping,
acknowledge/resolve transitions, evaluating on demand, rules' validation, and the inbox's unread
count. Every request carries a real bearer token."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from core.roles import Role
from core.testing import ALL_ROLES, APIResourceContract, assert_error_shape, expected_status, token_client
from insights.alerts.delivery import alert_deliver
from insights.models import Alert, AlertRule, InboxItem
from insights.services.alerts import alert_raise, alerts_evaluate

from .alerts_world import budget_world, candidate

pytestmark = pytest.mark.django_db


def raise_alert(key: str, department=None, **fields) -> Alert:
    alert, _ = alert_raise(candidate=candidate(key, department_id=department.pk if department else None, **fields))
    return alert


# Alerts ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [None, *ALL_ROLES], ids=lambda r: getattr(r, "value", "anonymous"))
def test_who_lists_alerts(role, role_world):
    raise_alert("a", role_world.inside)
    client = token_client(role_world.user(role)) if role else APIClient()
    response = client.get("/api/v1/alerts/")
    assert response.status_code == expected_status(role, "alert", "view", ok=200)
    if response.status_code != 200:
        assert_error_shape(response)


def test_managers_see_their_departments_alerts_only(role_world):
    mine = raise_alert("mine", role_world.inside)
    child = raise_alert("child", role_world.inside_child)
    theirs = raise_alert("theirs", role_world.outside)
    company = raise_alert("company")
    manager = token_client(role_world.user(Role.DEPARTMENT_MANAGER), scope="read")
    listed = {a["id"] for a in manager.get("/api/v1/alerts/").json()["results"]}
    assert listed == {mine.pk, child.pk}
    assert manager.get(f"/api/v1/alerts/{theirs.pk}/").status_code == 404
    assert manager.get(f"/api/v1/alerts/{company.pk}/").status_code == 404  # company-wide: not a manager's
    finance = token_client(role_world.user(Role.FINANCE))
    assert finance.get("/api/v1/alerts/").json()["count"] == 4


def test_filters(role_world):
    budget_world(role_world)
    raise_alert("x", role_world.outside, type=Alert.Type.COMPLIANCE, severity="critical")
    client = token_client(role_world.user(Role.AUDITOR))
    alerts_evaluate(today=date(2026, 5, 1), types=[Alert.Type.BUDGET_THRESHOLD])

    def ids(**query):
        return {a["dedup_key"] for a in client.get("/api/v1/alerts/", query).json()["results"]}

    assert len(ids(type="budget_threshold")) == 2
    assert ids(department="T-OUT") == {"compliance:budget:test-x:FY2026"}
    assert ids(severity="critical") == {"compliance:budget:test-x:FY2026"}
    assert len(ids(department="T-IN")) == 2 and ids(status="resolved") == set()
    assert ids(vendor="nobody") == set()
    response = client.get("/api/v1/alerts/", {"type": "nonsense"})
    assert response.status_code == 400 and "type" in response.json()["extra"]["fields"]


def test_the_alert_as_json(role_world):
    alert = raise_alert("json", role_world.inside)
    body = token_client(role_world.user(Role.FINANCE)).get(f"/api/v1/alerts/{alert.pk}/").json()
    assert body["dedup_key"] == "budget_threshold:budget:test-json:FY2026"
    assert (body["type"], body["type_label"], body["severity"], body["status"]) == (
        "budget_threshold",
        "Budget threshold crossed",
        "warning",
        "open",
    )
    assert body["department"] == "T-IN" and body["vendor"] is None and body["url"] == f"/alerts/{alert.pk}/"
    assert body["deliveries"] == []


@pytest.mark.parametrize("path", ["acknowledge", "acknowledge/"])
def test_acknowledge_then_resolve_then_409(path, role_world):
    alert = raise_alert("flow", role_world.inside)
    manager = token_client(role_world.user(Role.DEPARTMENT_MANAGER))
    response = manager.post(f"/api/v1/alerts/{alert.pk}/{path}", {"note": "Looking into it"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "acknowledged" and body["acknowledged_by"] == "t-department_manager"
    assert body["acknowledged_at"] and "(acknowledged): Looking into it" in body["note"]

    again = manager.post(f"/api/v1/alerts/{alert.pk}/acknowledge", format="json")
    assert again.status_code == 409 and "already acknowledged" in again.json()["message"]

    resolved = manager.post(f"/api/v1/alerts/{alert.pk}/resolve", {"note": "Quota raised"}, format="json")
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    assert resolved.json()["resolved_by"] == "t-department_manager"
    late = manager.post(f"/api/v1/alerts/{alert.pk}/acknowledge", format="json")
    assert late.status_code == 409
    assert_error_shape(late)
    assert "a resolved alert cannot be acknowledged" in late.json()["message"]
    assert manager.post(f"/api/v1/alerts/{alert.pk}/resolve/", format="json").status_code == 409
    alert.refresh_from_db()
    assert [h.status for h in alert.history.order_by("history_date")] == ["open", "acknowledged", "resolved"]


def test_resolving_an_open_alert_directly(role_world):
    alert = raise_alert("direct")
    response = token_client(role_world.user(Role.PROCUREMENT)).post(f"/api/v1/alerts/{alert.pk}/resolve", format="json")
    assert response.status_code == 200 and response.json()["status"] == "resolved"


@pytest.mark.parametrize("role", ALL_ROLES, ids=lambda r: r.value)
def test_who_may_acknowledge(role, role_world):
    alert = raise_alert("who", role_world.inside)
    response = token_client(role_world.user(role)).post(f"/api/v1/alerts/{alert.pk}/acknowledge", format="json")
    assert response.status_code == expected_status(role, "alert", "change", ok=200)


def test_a_manager_cannot_act_on_another_departments_alert(role_world):
    alert = raise_alert("other", role_world.outside)
    manager = token_client(role_world.user(Role.DEPARTMENT_MANAGER))
    assert manager.post(f"/api/v1/alerts/{alert.pk}/resolve", format="json").status_code == 404
    read_only = token_client(role_world.user(Role.FINANCE), scope="read")
    assert read_only.post(f"/api/v1/alerts/{alert.pk}/resolve", format="json").status_code == 403


def test_evaluate_on_demand(role_world):
    budget_world(role_world)
    client = token_client(role_world.user(Role.FINANCE))
    response = client.post(
        "/api/v1/alerts/evaluate", {"as_of": "2026-05-01", "types": ["budget_threshold"]}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["raised"] == 2 and body["by_type"]["budget_threshold"]["raised"] == 2 and body["errors"] == []
    again = client.post(
        "/api/v1/alerts/evaluate/", {"as_of": "2026-05-01", "types": ["budget_threshold"]}, format="json"
    )
    assert again.json()["raised"] == 0 and again.json()["repeated"] == 2
    auditor = token_client(role_world.user(Role.AUDITOR))
    assert auditor.post("/api/v1/alerts/evaluate", format="json").status_code == 403
    bad = client.post("/api/v1/alerts/evaluate", {"types": ["nope"]}, format="json")
    assert bad.status_code == 400


# Rules ----------------------------------------------------------------------------------------------


class TestAlertRuleContract(APIResourceContract):
    resource = "alert_rule"
    basename = "alertrule"

    def make_object(self, world, department):
        return AlertRule.objects.create(name=f"Rule {AlertRule.objects.count()}", roles=["finance"], channels=["inbox"])

    def create_payload(self, world):
        return {
            "name": "Ops",
            "types": ["feed_stale"],
            "recipients": {"roles": ["admin"], "addresses": ["ops@example.com"]},
            "channels": ["email", "inbox"],
        }

    def update_payload(self, world, obj):
        return {"min_severity": "warning"}


def test_rules_validate_channels_webhook_url_roles_and_thresholds(role_world):
    client = token_client(role_world.user(Role.ADMIN))

    def post(**body):
        body.setdefault("name", "R")
        return client.post("/api/v1/alert-rules/", body, format="json")

    no_url = post(channels=["webhook"])
    assert no_url.status_code == 400 and "webhook_url" in no_url.json()["extra"]["fields"]
    no_people = post(channels=["inbox"], recipients={"addresses": ["a@example.com"]})
    assert no_people.status_code == 400
    assert "inbox rule needs roles" in no_people.json()["extra"]["fields"]["recipients"]["roles"][0]
    service = post(channels=["email"], recipients={"roles": ["service"]})
    assert service.status_code == 400 and "recipients" in service.json()["extra"]["fields"]
    assert post(channels=["pigeon"], recipients={"roles": ["admin"]}).status_code == 400
    assert post(channels=[], recipients={"roles": ["admin"]}).status_code == 400
    bad_threshold = post(channels=["inbox"], recipients={"roles": ["admin"]}, thresholds={"budget_threshold": "lots"})
    assert bad_threshold.status_code == 400 and "thresholds" in bad_threshold.json()["extra"]["fields"]
    unknown_type = post(channels=["inbox"], recipients={"roles": ["admin"]}, thresholds={"weather": 1})
    assert unknown_type.status_code == 400
    bad_address = post(channels=["email"], recipients={"addresses": ["not-an-address"]})
    assert bad_address.status_code == 400


def test_the_webhook_secret_is_write_only(role_world):
    client = token_client(role_world.user(Role.FINANCE))
    created = client.post(
        "/api/v1/alert-rules/",
        {
            "name": "Slack",
            "channels": ["webhook"],
            "webhook_url": "https://hooks.example.com/T/B/x",
            "webhook_secret": "top-secret",
            "thresholds": {"budget_threshold": 100},
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert "webhook_secret" not in body and body["webhook_secret_set"] is True
    assert body["recipients"] == {"roles": [], "addresses": []} and body["thresholds"] == {"budget_threshold": 100}
    rule = AlertRule.objects.get(name="Slack")
    assert "top-secret" not in rule.webhook_secret
    kept = client.patch(f"/api/v1/alert-rules/{rule.pk}/", {"min_severity": "critical"}, format="json")
    assert kept.status_code == 200 and kept.json()["webhook_secret_set"] is True
    removed = client.patch(f"/api/v1/alert-rules/{rule.pk}/", {"webhook_secret": ""}, format="json")
    assert removed.json()["webhook_secret_set"] is False


def test_the_default_rules_are_there(role_world):
    names = [
        r["name"] for r in token_client(role_world.user(Role.AUDITOR)).get("/api/v1/alert-rules/").json()["results"]
    ]
    assert "Finance: budgets, commitments and FX" in names and "Managers: their departments' budgets" in names


# The inbox -----------------------------------------------------------------------------------------------


def test_inbox_unread_count_read_and_read_all(role_world):
    AlertRule.objects.all().delete()
    AlertRule.objects.create(name="Inbox", roles=["finance", "department_manager"], channels=["inbox"])
    first = raise_alert("one", role_world.inside)
    second = raise_alert("two", role_world.outside)
    company = raise_alert("three")
    for alert in (first, second, company):
        alert_deliver(alert=alert)

    finance = token_client(role_world.user(Role.FINANCE))
    body = finance.get("/api/v1/inbox/").json()
    assert (body["count"], body["unread"]) == (3, 3)
    assert {item["alert"]["id"] for item in body["results"]} == {first.pk, second.pk, company.pk}
    item = next(i for i in body["results"] if i["alert"]["id"] == first.pk)
    read = finance.post(f"/api/v1/inbox/{item['id']}/read")
    assert read.status_code == 200 and read.json()["unread"] is False
    assert finance.get("/api/v1/inbox/").json()["unread"] == 2
    assert finance.get("/api/v1/inbox/", {"unread": "true"}).json()["count"] == 2
    marked = finance.post("/api/v1/inbox/read-all")
    assert marked.status_code == 200 and marked.json() == {"marked": 2, "unread": 0}

    manager = token_client(role_world.user(Role.DEPARTMENT_MANAGER))
    mine = manager.get("/api/v1/inbox/").json()
    assert (mine["count"], mine["unread"]) == (1, 1)  # T-IN's only: not T-OUT's, not the company-wide one
    assert mine["results"][0]["alert"]["id"] == first.pk
    assert manager.post(f"/api/v1/inbox/{item['id']}/read/").status_code == 404  # finance's item
    auditor = token_client(role_world.user(Role.AUDITOR))
    assert auditor.get("/api/v1/inbox/").json() | {"results": None} == {
        "count": 0,
        "next": None,
        "previous": None,
        "unread": 0,
        "results": None,
    }
    assert auditor.post("/api/v1/inbox/read-all/").status_code == 200
    assert token_client(role_world.user(Role.SERVICE)).get("/api/v1/inbox/").status_code == 403
    assert InboxItem.objects.filter(user=role_world.user(Role.DEPARTMENT_MANAGER)).count() == 1


def test_the_schema_documents_the_alert_endpoints(role_world):
    schema = token_client(role_world.user(Role.ADMIN)).get(reverse("api-schema"), {"format": "json"}).json()
    for path in (
        "/api/v1/alerts/",
        "/api/v1/alerts/evaluate",
        "/api/v1/alerts/{id}/acknowledge",
        "/api/v1/alert-rules/",
        "/api/v1/inbox/",
        "/api/v1/inbox/read-all",
    ):
        assert path in schema["paths"], path
