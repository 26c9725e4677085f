"""Who may read and change what: the one table every API endpoint and UI page consults.

A resource names a kind of object or screen. Each maps actions to the roles allowed to perform
them: `view` for reading, `change` for create/update/delete, and named actions (`approve`,
`issue`, `close`, `ingest`, ...) for business actions. Department managers only ever see objects
of their own departments and sub-departments on resources marked `department_scoped`; the
querysets enforce that (see core.scoping), so another department's object answers 404.

The auditor reads everything and changes nothing; a service account only ingests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .roles import ACTORS, NOBODY, READERS, STAFF, Role, roles

VIEW = "view"
CHANGE = "change"


@dataclass(frozen=True)
class Access:
    view: frozenset[Role]
    change: frozenset[Role] = NOBODY
    actions: Mapping[str, frozenset[Role]] = field(default_factory=dict)
    department_scoped: bool = False

    def roles_for(self, action: str) -> frozenset[Role]:
        if action == VIEW:
            return self.view
        if action == CHANGE:
            return self.change
        return self.actions.get(action, NOBODY)


ADMIN = roles(Role.ADMIN)
PROCUREMENT = roles(Role.PROCUREMENT)
FINANCE = roles(Role.FINANCE)

POLICY: dict[str, Access] = {
    # Screens
    "dashboard": Access(view=STAFF, department_scoped=True),
    "settings": Access(view=READERS, change=ADMIN),
    # Accounts
    "user": Access(view=roles(Role.ADMIN, Role.AUDITOR), change=ADMIN),
    # Everyone manages their own tokens; this entry is about everybody else's.
    "api_token": Access(view=roles(Role.ADMIN, Role.AUDITOR), change=ADMIN),
    "job_run": Access(view=READERS),
    "history": Access(view=READERS),
    # Four-eyes requests: readers see them; approving needs the target resource's "approve" right.
    "approval": Access(view=READERS, change=PROCUREMENT | FINANCE),
    # Procurement domain
    "vendor": Access(view=STAFF, change=PROCUREMENT),
    "vendor_certification": Access(view=STAFF, change=PROCUREMENT),
    "vendor_model": Access(view=READERS, change=PROCUREMENT),
    "department": Access(view=STAFF, change=FINANCE, department_scoped=True),
    "budget": Access(view=STAFF, change=FINANCE, department_scoped=True),
    "fx_rate": Access(view=STAFF, change=FINANCE),
    "agreement": Access(view=READERS, change=PROCUREMENT, actions={"approve": PROCUREMENT | FINANCE}),
    # Usage
    # Pulling a source now: its administrators, and finance who answer for the figures.
    "usage_source": Access(view=READERS, change=ADMIN, actions={"pull": ADMIN | FINANCE}),
    "usage": Access(
        view=STAFF,
        department_scoped=True,
        actions={"ingest": roles(Role.SERVICE, Role.ADMIN, Role.FINANCE)},
    ),
    "ingestion_run": Access(view=READERS, change=FINANCE),
    "attribution_rule": Access(view=READERS, change=FINANCE),
    "vendor_cost_line": Access(view=READERS),
    # Billing
    "period": Access(view=READERS, actions={"close": FINANCE}),
    "invoice": Access(
        view=STAFF,
        change=FINANCE,
        department_scoped=True,
        actions={"approve": FINANCE, "issue": FINANCE},
    ),
    "vendor_invoice": Access(view=READERS, change=FINANCE, actions={"approve": FINANCE}),
    "reconciliation": Access(view=READERS, change=FINANCE),
    "accrual": Access(view=roles(Role.ADMIN, Role.FINANCE, Role.AUDITOR)),
    "gl_account": Access(view=READERS, change=FINANCE),
    "sla_evaluation": Access(view=READERS, change=PROCUREMENT | FINANCE),
    "scorecard": Access(view=READERS),
    # Insights
    # What falls due to vendors when (insights.selectors.cash): company-wide money, no managers.
    "cash": Access(view=READERS),
    "forecast": Access(view=STAFF, change=FINANCE | PROCUREMENT, department_scoped=True),
    "alert": Access(view=STAFF, change=ACTORS, department_scoped=True),
    "alert_rule": Access(view=READERS, change=ADMIN | FINANCE),
    "report": Access(view=STAFF, department_scoped=True, actions={"send": FINANCE}),
}


class UnknownResource(LookupError):
    pass


def access_for(resource: str) -> Access:
    try:
        return POLICY[resource]
    except KeyError:
        raise UnknownResource(f"No policy entry for resource {resource!r}; add it to core/policy.py") from None


def user_role(user) -> Role | None:
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return None
    try:
        return Role(user.role)
    except ValueError:
        return None


def can(user, resource: str, action: str = VIEW) -> bool:
    """True when the user's role may perform `action` on `resource` (before department scoping)."""
    role = user_role(user)
    return role is not None and role in access_for(resource).roles_for(action)


def is_department_scoped(user, resource: str) -> bool:
    """True when this user sees only their departments' objects of this resource."""
    return user_role(user) == Role.DEPARTMENT_MANAGER and access_for(resource).department_scoped
