"""The alert pages per role: the list (the inbox), an alert with its history and deliveries,
acknowledge and resolve (htmx and plain), the unread badge in the sidebar, and the rules."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from core.roles import Role
from insights.alerts.delivery import alert_deliver
from insights.models import Alert, AlertRule, InboxItem
from insights.services.alerts import alert_raise
from procurement.tests.helpers import field_block

from .alerts_world import candidate

pytestmark = pytest.mark.django_db
STAFF = [Role.ADMIN, Role.PROCUREMENT, Role.FINANCE, Role.DEPARTMENT_MANAGER, Role.AUDITOR]


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alerts(role_world):
    """Alerts in T-IN, T-OUT and company-wide, in the inboxes of finance and the manager."""
    AlertRule.objects.all().delete()
    AlertRule.objects.create(name="Inbox", roles=["finance", "department_manager"], channels=["inbox"])
    made = {}
    for key, department in (("in", role_world.inside), ("out", role_world.outside), ("company", None)):
        alert, _ = alert_raise(
            candidate=candidate(key, department_id=department.pk if department else None, title=f"Alert about {key}")
        )
        alert_deliver(alert=alert)
        made[key] = alert
    return made


@pytest.mark.parametrize("role", [*STAFF, Role.SERVICE], ids=lambda r: r.value)
def test_the_list_per_role(role, role_world, alerts):
    response = browser(role_world.user(role)).get("/alerts/")
    if role == Role.SERVICE:
        assert response.status_code == 403
        return
    assert response.status_code == 200
    html = response.content.decode()
    titles = set(re.findall(r"Alert about (\w+)", html))
    assert titles == ({"in"} if role == Role.DEPARTMENT_MANAGER else {"in", "out", "company"})
    may_act = role != Role.AUDITOR
    assert ("Acknowledge</button>" in html) == may_act
    assert ("Evaluate now" in html) == may_act
    assert ('href="/alerts/rules/"' in html) == (role != Role.DEPARTMENT_MANAGER)


def test_anonymous_is_sent_to_sign_in(alerts):
    response = Client().get("/alerts/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_unread_badge_new_marks_and_the_inbox_filter(role_world, alerts):
    finance = browser(role_world.user(Role.FINANCE))
    html = finance.get("/alerts/").content.decode()
    assert re.search(
        r'<span class="nav-link-title">Alerts</span>\s*<span id="nav-badge-insights-alert-list" class="ms-auto">'
        r'<span class="badge[^"]*"[^>]*>3<',
        html,
    )
    assert html.count(">New</span>") == 3 and "3 unread in your inbox" in html
    finance.get(f"/alerts/{alerts['out'].pk}/")  # opening an alert reads it
    html = finance.get("/alerts/?inbox=unread").content.decode()
    assert set(re.findall(r"Alert about (\w+)", html)) == {"in", "company"}
    assert "2 unread in your inbox" in html
    response = finance.post("/alerts/inbox/read-all/", {"next": "/alerts/"})
    assert response.status_code == 302 and "2 alerts marked read." in [
        str(m) for m in get_messages(response.wsgi_request)
    ]
    html = finance.get("/alerts/").content.decode()
    assert re.search(
        r'<span class="nav-link-title">Alerts</span>\s*'
        r'<span id="nav-badge-insights-alert-list" class="ms-auto"></span>',
        html,
    )
    assert "Nothing unread in your inbox" in html
    auditor = browser(role_world.user(Role.AUDITOR))  # nothing in their inbox, no badge
    assert not re.search(
        r'nav-link-title">Alerts</span>\s*<span id="nav-badge[^>]*><span class="badge',
        auditor.get("/").content.decode(),
    )


def test_the_alert_page(role_world, alerts):
    alert = alerts["in"]
    finance = browser(role_world.user(Role.FINANCE))
    html = finance.get(f"/alerts/{alert.pk}/").content.decode()
    assert "Alert about in" in html and "Budget threshold crossed" in html and "Deliveries" in html
    assert "t-finance" in html and "Change history" in html and alert.dedup_key in html
    assert InboxItem.objects.get(user=role_world.user(Role.FINANCE), alert=alert).read_at is not None

    manager = browser(role_world.user(Role.DEPARTMENT_MANAGER))
    page = manager.get(f"/alerts/{alert.pk}/").content.decode()
    assert "Alert about in" in page and "Deliveries" not in page  # who else received it is not theirs to see
    assert manager.get(f"/alerts/{alerts['out'].pk}/").status_code == 404
    assert manager.get(f"/alerts/{alerts['company'].pk}/").status_code == 404


def test_acknowledge_with_htmx_swaps_the_status_cell(role_world, alerts):
    alert = alerts["in"]
    manager = browser(role_world.user(Role.DEPARTMENT_MANAGER))
    response = manager.post(f"/alerts/{alert.pk}/acknowledge/", {"next": "/alerts/"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    fragment = response.content.decode()
    assert fragment.startswith(f'<div id="alert-actions-{alert.pk}"') and "Acknowledged" in fragment
    assert "Acknowledge</button>" not in fragment and "Resolve</button>" in fragment
    alert.refresh_from_db()
    assert alert.status == "acknowledged" and alert.acknowledged_by == role_world.user(Role.DEPARTMENT_MANAGER)

    again = manager.post(f"/alerts/{alert.pk}/acknowledge/", HTTP_HX_REQUEST="true").content.decode()
    assert 'role="alert"' in again and "already acknowledged" in again


def test_resolve_from_the_alert_page_with_a_note(role_world, alerts):
    alert = alerts["company"]
    procurement = browser(role_world.user(Role.PROCUREMENT))
    response = procurement.post(f"/alerts/{alert.pk}/resolve/", {"note": "Renewed with the vendor"})
    assert response.status_code == 302 and response["Location"] == f"/alerts/{alert.pk}/"
    alert.refresh_from_db()
    assert alert.status == "resolved" and "t-procurement (resolved): Renewed with the vendor" in alert.note
    html = procurement.get(f"/alerts/{alert.pk}/").content.decode()
    assert "Renewed with the vendor" in html and "Resolved" in html and "Acknowledge</button>" not in html
    refused = procurement.post(f"/alerts/{alert.pk}/acknowledge/", follow=True)
    assert "a resolved alert cannot be acknowledged" in refused.content.decode()


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.SERVICE], ids=lambda r: r.value)
def test_who_may_not_act(role, role_world, alerts):
    response = browser(role_world.user(role)).post(f"/alerts/{alerts['in'].pk}/resolve/")
    assert response.status_code == 403
    assert Alert.objects.get(pk=alerts["in"].pk).status == "open"


def test_a_manager_cannot_act_outside_their_departments(role_world, alerts):
    manager = browser(role_world.user(Role.DEPARTMENT_MANAGER))
    assert manager.post(f"/alerts/{alerts['out'].pk}/resolve/").status_code == 404


def test_evaluate_now_and_export(role_world, alerts):
    finance = browser(role_world.user(Role.FINANCE))
    response = finance.post("/alerts/evaluate/", follow=True)
    assert response.status_code == 200 and "Evaluated:" in response.content.decode()
    assert finance.get("/alerts/?sort=-severity").status_code == 200  # ranked info < warning < critical
    csv = finance.get("/alerts/?_export=csv")
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    assert "budget_threshold" in csv.content.decode() and "Alert about out" in csv.content.decode()


# Rules ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", STAFF, ids=lambda r: r.value)
def test_the_rules_page_per_role(role, role_world, alerts):
    response = browser(role_world.user(role)).get("/alerts/rules/")
    if role == Role.DEPARTMENT_MANAGER:
        assert response.status_code == 403
        return
    assert response.status_code == 200
    html = response.content.decode()
    assert "Inbox" in html and "Finance, Department manager" in html
    assert ('href="/alerts/rules/new/"' in html) == (role in (Role.ADMIN, Role.FINANCE))
    new = browser(role_world.user(role)).get("/alerts/rules/new/")
    assert new.status_code == (200 if role in (Role.ADMIN, Role.FINANCE) else 403)


def test_create_edit_and_delete_a_rule(role_world):
    admin = browser(role_world.user(Role.ADMIN))
    form = {
        "name": "Slack #finops",
        "types": ["budget_threshold", "vendor_concentration"],
        "addresses": "",
        "channels": ["webhook"],
        "webhook_url": "",
        "webhook_secret": "s3cret",
        "min_severity": "warning",
        "thresholds": '{"budget_threshold": 100}',
        "is_active": "on",
    }
    refused = admin.post("/alerts/rules/new/", form)
    assert refused.status_code == 200
    assert "A webhook rule needs the URL to post to." in field_block(refused.content.decode(), "webhook_url")

    form["webhook_url"] = "https://hooks.slack.example.com/services/T/B/X"
    response = admin.post("/alerts/rules/new/", form)
    assert response.status_code == 302 and response["Location"] == "/alerts/rules/"
    rule = AlertRule.objects.get(name="Slack #finops")
    assert rule.types == ["budget_threshold", "vendor_concentration"] and rule.thresholds == {"budget_threshold": 100}
    assert rule.webhook_secret and "s3cret" not in rule.webhook_secret

    edit = admin.get(f"/alerts/rules/{rule.pk}/edit/").content.decode()
    assert "A secret is stored." in edit and "s3cret" not in edit and "gAAAA" not in edit
    form.update(
        webhook_secret="",
        min_severity="critical",
        addresses="a@example.com, B@example.com",
        channels=["webhook", "email"],
    )
    assert admin.post(f"/alerts/rules/{rule.pk}/edit/", form).status_code == 302
    rule.refresh_from_db()
    assert rule.min_severity == "critical" and rule.webhook_secret  # an empty field keeps the secret
    assert rule.addresses == ["a@example.com", "b@example.com"]

    bad = admin.post(f"/alerts/rules/{rule.pk}/edit/", {**form, "thresholds": "{nope"})
    assert "Not JSON" in field_block(bad.content.decode(), "thresholds")

    assert browser(role_world.user(Role.PROCUREMENT)).post(f"/alerts/rules/{rule.pk}/delete/").status_code == 403
    assert admin.post(f"/alerts/rules/{rule.pk}/delete/").status_code == 302
    assert not AlertRule.objects.filter(pk=rule.pk).exists()
