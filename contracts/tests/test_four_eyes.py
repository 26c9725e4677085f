"""Four-eyes: with the setting on, activating or amending an agreement needs a second person."""

import pytest

from accounts.models import ApprovalRequest
from contracts.models import Agreement
from core.roles import Role
from core.services import organization_settings_update
from core.testing import token_client

from .factories import API_EXAMPLE, ensure_fin, ensure_vendor, payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(role_world):
    ensure_vendor()
    ensure_fin()
    organization_settings_update(actor=None, four_eyes_enabled=True)
    return role_world


def test_activation_waits_for_a_second_person(world):
    buyer = token_client(world.user(Role.PROCUREMENT))
    response = buyer.post("/api/v1/agreements/", payload(status="active"), format="json")
    assert response.status_code == 202, response.content
    approval_id = response.json()["approval"]
    assert response.json()["agreement"]["status"] == "draft"
    assert response.json()["agreement"]["pending_approval"] == approval_id

    # the requester cannot approve; an auditor cannot; a manager cannot even see it
    response = buyer.post(f"/api/v1/approvals/{approval_id}/approve/", {}, format="json")
    assert response.status_code == 403 and "second person" in response.json()["message"]
    assert token_client(world.user(Role.AUDITOR)).post(f"/api/v1/approvals/{approval_id}/approve/").status_code == 403
    assert token_client(world.user(Role.DEPARTMENT_MANAGER)).get(f"/api/v1/approvals/{approval_id}/").status_code == 403

    finance = token_client(world.user(Role.FINANCE))
    response = finance.post(f"/api/v1/approvals/{approval_id}/approve/", {"note": "checked the PDF"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "approved" and response.json()["decided_by"] == "t-finance"
    agreement = Agreement.objects.get(reference="FA-2026-01")
    assert agreement.status == "active"
    latest = agreement.amendments.first()
    assert latest.changed_by.username == "t-procurement" and latest.approved_by.username == "t-finance"
    record = agreement.history.first()
    assert record.history_user.username == "t-procurement" and "approved by t-finance" in record.history_change_reason
    # approving twice is a conflict
    assert finance.post(f"/api/v1/approvals/{approval_id}/approve/").status_code == 409


def test_changes_to_an_active_agreement_wait_and_can_be_rejected(world):
    organization_settings_update(actor=None, four_eyes_enabled=False)
    buyer = token_client(world.user(Role.PROCUREMENT))
    buyer.post("/api/v1/agreements/", payload(status="active"), format="json")
    organization_settings_update(actor=None, four_eyes_enabled=True)

    response = buyer.patch("/api/v1/agreements/FA-2026-01/", {"payment_terms_days": 90}, format="json")
    assert response.status_code == 202
    approval_id = response.json()["approval"]
    assert Agreement.objects.get().payment_terms_days == 60  # not applied yet
    # a second change while one waits is refused
    response = buyer.patch("/api/v1/agreements/FA-2026-01/", {"po_number": "X"}, format="json")
    assert response.status_code == 409
    # invalid changes are refused at once, not at approval time
    organization_settings_update(actor=None, four_eyes_enabled=True)

    colleague = token_client(world.user(Role.PROCUREMENT))  # another token, same user: still the requester
    assert colleague.post(f"/api/v1/approvals/{approval_id}/approve/").status_code == 403
    response = token_client(world.user(Role.FINANCE)).post(
        f"/api/v1/approvals/{approval_id}/reject/", {"note": "no"}, format="json"
    )
    assert response.json()["status"] == "rejected"
    assert Agreement.objects.get().payment_terms_days == 60


def test_invalid_change_refused_immediately_under_four_eyes(world):
    buyer = token_client(world.user(Role.PROCUREMENT))
    bad = payload(
        status="active", price_rules=[{**API_EXAMPLE["price_rules"][0], "tiers": [{"from_tokens": 5, "price": "1"}]}]
    )
    response = buyer.post("/api/v1/agreements/", bad, format="json")
    assert response.status_code == 400
    assert not Agreement.objects.exists() and not ApprovalRequest.objects.exists()


def test_requester_may_withdraw(world):
    buyer = token_client(world.user(Role.PROCUREMENT))
    approval_id = buyer.post("/api/v1/agreements/", payload(status="active"), format="json").json()["approval"]
    response = buyer.post(f"/api/v1/approvals/{approval_id}/reject/", {}, format="json")
    assert response.json()["status"] == "cancelled"


def test_drafts_change_freely_under_four_eyes(world):
    buyer = token_client(world.user(Role.PROCUREMENT))
    assert buyer.post("/api/v1/agreements/", payload(), format="json").status_code == 201
    assert buyer.patch("/api/v1/agreements/FA-2026-01/", {"po_number": "PO-2"}, format="json").status_code == 200


def test_pending_activation_freezes_the_draft(world):
    buyer = token_client(world.user(Role.PROCUREMENT))
    approval_id = buyer.post("/api/v1/agreements/", payload(status="active"), format="json").json()["approval"]
    # neither an edit nor a delete may change what the approver is asked to approve
    response = buyer.patch("/api/v1/agreements/FA-2026-01/", {"payment_terms_days": 5}, format="json")
    assert response.status_code == 409 and f"#{approval_id}" in response.json()["message"]
    assert buyer.delete("/api/v1/agreements/FA-2026-01/").status_code == 409
    finance = token_client(world.user(Role.FINANCE))
    assert finance.post(f"/api/v1/approvals/{approval_id}/approve/").status_code == 200
    assert Agreement.objects.get().payment_terms_days == 60


def test_approving_a_vanished_agreement_is_a_conflict_not_a_crash(world):
    buyer = token_client(world.user(Role.PROCUREMENT))
    approval_id = buyer.post("/api/v1/agreements/", payload(status="active"), format="json").json()["approval"]
    Agreement.objects.all().delete()  # e.g. removed by an administrator in the database
    response = token_client(world.user(Role.FINANCE)).post(f"/api/v1/approvals/{approval_id}/approve/")
    assert response.status_code == 409 and "no longer exists" in response.json()["message"]
