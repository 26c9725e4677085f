"""The approvals page: four-eyes requests, pending first, decided by a second person of a role
that may approve them; refusals come back as messages."""

import pytest
from django.test import Client

from accounts import approvals
from accounts.models import ApprovalRequest
from core.roles import Role

pytestmark = pytest.mark.django_db

ACTION = "test.views.change"
APPLIED: list[tuple[int, str]] = []


def _apply(request, approver):
    APPLIED.append((request.pk, approver.username))
    return request


approvals.register(ACTION, _apply)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def ask(user, *, resource="agreement", key="FA-1", summary="Activate FA-1") -> ApprovalRequest:
    return approvals.approval_request_create(
        action=ACTION,
        resource=resource,
        object_key=key,
        summary=summary,
        payload={"status": "active"},
        requested_by=user,
    )


def test_list_shows_pending_first_filters_and_exports(role_world):
    buyer = role_world.user(Role.PROCUREMENT)
    waiting = ask(buyer, key="FA-NEW", summary="Activate FA-NEW")
    done = ask(buyer, key="FA-OLD", summary="Activate FA-OLD")  # asked later, but decided
    approvals.approval_reject(request=done, approver=role_world.user(Role.FINANCE), note="no")

    client = signed_in(role_world.user(Role.AUDITOR))
    page = client.get("/approvals/").content.decode()
    assert page.index("Activate FA-NEW") < page.index("Activate FA-OLD")  # pending first
    assert 'href="/agreements/FA-NEW/"' in page  # the object it is about
    assert f"/approvals/{waiting.pk}/approve/" not in page  # an auditor only reads
    page = client.get("/approvals/", {"status": "rejected"}).content.decode()
    assert "Activate FA-OLD" in page and "Activate FA-NEW" not in page
    page = client.get("/approvals/", {"resource": "invoice"}).content.decode()
    assert "Activate FA" not in page
    csv = client.get("/approvals/", {"_export": "csv"})
    lines = csv.content.decode().strip().splitlines()
    assert csv["Content-Type"].startswith("text/csv") and len(lines) == 3 and "pending" in lines[1]

    finance_page = signed_in(role_world.user(Role.FINANCE)).get("/approvals/").content.decode()
    assert f'action="/approvals/{waiting.pk}/approve/"' in finance_page and "Reject" in finance_page
    requester_page = signed_in(buyer).get("/approvals/").content.decode()
    assert "Withdraw" in requester_page and ">Approve<" not in requester_page
    assert 'href="/approvals/"' in finance_page  # the sidebar entry


def test_second_person_approves_once(role_world):
    request = ask(role_world.user(Role.PROCUREMENT))
    finance = signed_in(role_world.user(Role.FINANCE))
    response = finance.post(f"/approvals/{request.pk}/approve/", {"note": "checked"}, follow=True)
    assert response.redirect_chain[-1][0] == "/approvals/"
    assert f"Approved #{request.pk}: Activate FA-1." in response.content.decode()
    request.refresh_from_db()
    assert (request.status, request.decided_by.username, request.note) == ("approved", "t-finance", "checked")
    assert (request.pk, "t-finance") in APPLIED
    response = finance.post(f"/approvals/{request.pk}/approve/", follow=True)
    assert f"Approval #{request.pk} is already approved." in response.content.decode()


def test_requester_cannot_approve_but_may_withdraw(role_world):
    buyer = role_world.user(Role.PROCUREMENT)
    request = ask(buyer)
    client = signed_in(buyer)
    response = client.post(f"/approvals/{request.pk}/approve/", follow=True)
    assert "a second person must approve" in response.content.decode()
    assert ApprovalRequest.objects.get(pk=request.pk).status == "pending"
    response = client.post(f"/approvals/{request.pk}/reject/", follow=True)
    assert f"Withdrew #{request.pk}" in response.content.decode()
    assert ApprovalRequest.objects.get(pk=request.pk).status == "cancelled"


def test_reject_and_roles_that_may_not_decide(role_world):
    request = ask(role_world.user(Role.FINANCE), resource="invoice", key="CB-1", summary="Issue CB-1")
    buyer = signed_in(role_world.user(Role.PROCUREMENT))
    response = buyer.post(f"/approvals/{request.pk}/reject/", follow=True)
    assert "Your role may not decide on changes to invoices." in response.content.decode()
    for role in (Role.AUDITOR, Role.ADMIN, Role.DEPARTMENT_MANAGER):
        assert signed_in(role_world.user(role)).post(f"/approvals/{request.pk}/approve/").status_code == 403
    assert signed_in(role_world.user(Role.DEPARTMENT_MANAGER)).get("/approvals/").status_code == 403
    assert Client().post(f"/approvals/{request.pk}/approve/")["Location"].startswith("/accounts/login/")

    other = ask(role_world.user(Role.PROCUREMENT))
    finance = signed_in(role_world.user(Role.FINANCE))
    response = finance.post(f"/approvals/{other.pk}/reject/", {"note": "wrong PO", "next": "https://evil.example/"})
    assert response["Location"] == "/approvals/"  # only local redirects
    other.refresh_from_db()
    assert (other.status, other.note) == ("rejected", "wrong PO")
    assert finance.post("/approvals/999999/approve/").status_code == 404
