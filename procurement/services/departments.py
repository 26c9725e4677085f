"""Departments: the cost-centre tree and its managers."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError

from core.exceptions import Conflict
from core.roles import Role

from ..models import Department
from ._common import clean_or_raise, refuse_unknown_fields

DEPARTMENT_FIELDS = ("code", "name", "parent")

# Moves in the tree are serialised by this transaction-level advisory lock, so two people
# moving A under B and B under A at the same moment cannot build a cycle between them.
_TREE_LOCK_KEY = 0x7470_6465_7074  # "tpdept"


def _lock_tree() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_TREE_LOCK_KEY])


def _refuse_system(department: Department, verb: str) -> None:
    if department.is_system:
        raise Conflict(
            f"{department.code} is kept by TokenLedger for usage no attribution rule matches; it cannot be {verb}."
        )


def _parent_error(department: Department) -> str | None:
    parent = department.parent
    if parent is None:
        return None
    if parent.is_system:
        return f"{parent.code} is kept by TokenLedger and cannot have sub-departments."
    if department.pk is None:
        return None  # a new department has no sub-departments yet, so it cannot close a loop
    parent_of = dict(Department.objects.values_list("id", "parent_id"))
    current: int | None = parent.pk
    seen: set[int] = set()
    while current is not None and current not in seen:
        if current == department.pk:
            return (
                f"{department.code} cannot be placed under {parent.code}: {parent.code} is "
                f"{department.code} itself or one of its sub-departments, and a department cannot "
                "be its own ancestor."
            )
        seen.add(current)
        current = parent_of.get(current)
    return None


def _resolve_managers(usernames: Sequence[str]) -> tuple[list, list[str]]:
    """The users behind the usernames, and what is wrong with them (unknown, not a manager)."""
    User = get_user_model()
    wanted = list(dict.fromkeys(u.strip() for u in usernames if u and u.strip()))
    users = {u.username: u for u in User.objects.filter(username__in=wanted)}
    problems: list[str] = []
    unknown = [name for name in wanted if name not in users]
    if unknown:
        problems.append(f"Unknown user(s): {', '.join(unknown)}.")
    wrong_role = [users[name] for name in wanted if name in users and users[name].role != Role.DEPARTMENT_MANAGER]
    if wrong_role:
        described = ", ".join(f"{u.username} is {u.get_role_display() or 'without a role'}" for u in wrong_role)
        problems.append(f"Only users with the department manager role can manage a department: {described}.")
    inactive = [name for name in wanted if name in users and not users[name].is_active]
    if inactive:
        problems.append(f"Inactive user(s) cannot manage a department: {', '.join(inactive)}.")
    return [users[name] for name in wanted if name in users], problems


def _set_managers_quietly(department: Department, users: list) -> bool:
    """Replace the managers without a history row per added or removed person; the caller
    saves the department afterwards, which records one row with the new managers."""
    if {u.pk for u in users} == set(department.managers.values_list("pk", flat=True)):
        return False
    department.skip_history_when_saving = True
    try:
        department.managers.set(users)
    finally:
        del department.skip_history_when_saving
    return True


@transaction.atomic
def department_save(
    *, department: Department | None = None, actor, managers: Sequence[str] | None = None, **fields
) -> Department:
    """Create a department (department=None) or change one. `managers` (usernames of department
    managers), when given, replaces the list. The system department cannot be changed."""
    refuse_unknown_fields(fields, DEPARTMENT_FIELDS, "department")
    if department is not None and department.pk:
        _refuse_system(department, "changed")
    department = department or Department()
    previous_parent_id = department.parent_id
    for name, value in fields.items():
        setattr(department, name, value)
    department.code = (department.code or "").strip()
    department.name = (department.name or "").strip()

    errors: dict[str, list[str]] = {}
    if department.pk and department.parent_id != previous_parent_id:
        _lock_tree()
    if parent_error := _parent_error(department):
        errors["parent"] = [parent_error]
    manager_users = None
    if managers is not None:
        manager_users, problems = _resolve_managers(managers)
        if problems:
            errors["managers"] = problems
    clean_or_raise(department, errors)

    department._history_user = actor
    try:
        with transaction.atomic():
            if department.pk is None:
                department.save()  # the "created" history row
                if manager_users and _set_managers_quietly(department, manager_users):
                    department.save(update_fields=["updated_at"])  # a row with the managers
            else:
                if manager_users is not None:
                    _set_managers_quietly(department, manager_users)
                department.save()  # one history row with the fields and the managers
    except IntegrityError as exc:  # the same code created at the same moment
        raise ValidationError({"code": [f"A department with the code {department.code} already exists."]}) from exc
    return department


def department_delete(*, department: Department, actor) -> None:
    """Only an unused leaf can go: sub-departments, budgets and usage keep a department."""
    _refuse_system(department, "deleted")
    children = list(department.children.order_by("code").values_list("code", flat=True))
    if children:
        shown = ", ".join(children[:5]) + (f" and {len(children) - 5} more" if len(children) > 5 else "")
        raise Conflict(
            f"{department.code} has sub-departments ({shown}); move or delete them first.",
            extra={"children": children},
        )
    budgets = department.budgets.count()
    if budgets:
        raise Conflict(
            f"{department.code} has {budgets} budget{'s' if budgets != 1 else ''}; delete "
            f"{'them' if budgets != 1 else 'it'} first or keep the department for the history."
        )
    try:
        with transaction.atomic():
            department._history_user = actor
            department.delete()
    except ProtectedError as exc:
        raise Conflict(
            f"{department.code} has usage, invoices or other records and cannot be deleted; it stays for the history."
        ) from exc
