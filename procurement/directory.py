"""procurement's answers to core.directory: which departments a manager sees."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from .models import Department


def descendant_ids(root_ids: Iterable[int]) -> set[int]:
    """The given departments and every department below them (one query for the whole tree)."""
    children: dict[int | None, list[int]] = defaultdict(list)
    for dept_id, parent_id in Department.objects.values_list("id", "parent_id"):
        children[parent_id].append(dept_id)
    seen: set[int] = set()
    stack = list(root_ids)
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        stack.extend(children.get(current, ()))
    return seen


class DepartmentDirectory:
    def visible_department_ids(self, user) -> frozenset[int]:
        managed = Department.managers.through.objects.filter(user_id=user.pk).values_list("department_id", flat=True)
        return frozenset(descendant_ids(managed))

    def managed_department_codes(self, user) -> list[str]:
        return list(Department.objects.filter(managers=user).order_by("code").values_list("code", flat=True))

    def unknown_department_codes(self, codes: Sequence[str]) -> list[str]:
        known = set(Department.objects.filter(code__in=codes).values_list("code", flat=True))
        return [code for code in codes if code not in known]

    def set_managed_departments(self, user, codes: Sequence[str], actor=None) -> None:
        """Changed from each department's side, so the department's history records it (by `actor`)."""
        wanted = set(Department.objects.filter(code__in=codes))
        current = set(Department.objects.filter(managers=user))
        for department in current - wanted:
            department._history_user = actor
            department.managers.remove(user)
        for department in wanted - current:
            department._history_user = actor
            department.managers.add(user)
