"""The policy table itself: the rules of DESIGN.md's role table hold for every resource."""

import pytest

from core.policy import CHANGE, POLICY, VIEW, UnknownResource, access_for, can
from core.roles import Role


class FakeUser:
    is_authenticated = True
    is_active = True

    def __init__(self, role):
        self.role = role


@pytest.mark.parametrize("resource", sorted(POLICY))
def test_auditor_reads_everything_and_changes_nothing(resource):
    auditor = FakeUser(Role.AUDITOR)
    access = access_for(resource)
    assert can(auditor, resource, VIEW)
    for action in (CHANGE, *access.actions):
        assert not can(auditor, resource, action), (resource, action)


@pytest.mark.parametrize("resource", sorted(POLICY))
def test_service_account_only_ingests(resource):
    service = FakeUser(Role.SERVICE)
    access = access_for(resource)
    allowed = [a for a in (VIEW, CHANGE, *access.actions) if can(service, resource, a)]
    assert allowed == (["ingest"] if resource == "usage" else [])


def test_roles_change_what_design_gives_them():
    expectations = {
        Role.ADMIN: ["settings", "user", "api_token", "usage_source"],
        Role.PROCUREMENT: ["vendor", "vendor_certification", "vendor_model", "agreement"],
        Role.FINANCE: [
            "department",
            "budget",
            "fx_rate",
            "attribution_rule",
            "invoice",
            "vendor_invoice",
            "reconciliation",
        ],
    }
    for role, resources in expectations.items():
        for resource in resources:
            assert can(FakeUser(role), resource, CHANGE), (role, resource)
    assert can(FakeUser(Role.FINANCE), "period", "close")
    assert not can(FakeUser(Role.PROCUREMENT), "period", "close")
    assert not can(FakeUser(Role.FINANCE), "agreement", CHANGE)
    assert not can(FakeUser(Role.PROCUREMENT), "budget", CHANGE)


def test_department_manager_sees_only_scoped_money():
    manager = FakeUser(Role.DEPARTMENT_MANAGER)
    for resource in ("usage", "budget", "invoice", "forecast", "alert", "department", "dashboard"):
        assert can(manager, resource, VIEW) and access_for(resource).department_scoped
    for resource in ("agreement", "vendor_invoice", "reconciliation", "user", "settings"):
        assert not can(manager, resource, VIEW)


def test_nobody_without_a_role_or_inactive():
    assert not can(FakeUser(""), "vendor", VIEW)
    inactive = FakeUser(Role.ADMIN)
    inactive.is_active = False
    assert not can(inactive, "settings", VIEW)


def test_unknown_resource_is_a_programming_error():
    with pytest.raises(UnknownResource):
        can(FakeUser(Role.ADMIN), "nope", VIEW)
