"""The six roles of DESIGN.md ("Who uses it, and how") and the groups the policy table uses."""

from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Administrator"
    PROCUREMENT = "procurement", "Procurement"
    FINANCE = "finance", "Finance"
    DEPARTMENT_MANAGER = "department_manager", "Department manager"
    AUDITOR = "auditor", "Auditor"
    SERVICE = "service", "Service account"


def roles(*members: Role) -> frozenset[Role]:
    return frozenset(members)


NOBODY: frozenset[Role] = frozenset()
# Company-wide readers: they see every department's figures.
READERS = roles(Role.ADMIN, Role.PROCUREMENT, Role.FINANCE, Role.AUDITOR)
# Every person who logs in; department managers are scoped to their departments where it applies.
STAFF = READERS | {Role.DEPARTMENT_MANAGER}
# People who act on what they see (acknowledging an alert, ...): staff but the read-only auditor.
ACTORS = STAFF - {Role.AUDITOR}
