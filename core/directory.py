"""Questions a lower layer asks of a higher one, answered by implementations registered at start-up.

Imports run downward (DESIGN.md, Architecture): `core` and `accounts` cannot import `procurement`
or `usage`, yet the permission framework must know a manager's departments and API tokens must
name real sources. The higher app registers its implementation in `AppConfig.ready()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class DepartmentDirectory(Protocol):
    def visible_department_ids(self, user) -> frozenset[int]:
        """Ids of the departments the user manages and all their sub-departments."""

    def managed_department_codes(self, user) -> list[str]: ...

    def unknown_department_codes(self, codes: Sequence[str]) -> list[str]: ...

    def set_managed_departments(self, user, codes: Sequence[str], actor=None) -> None: ...


class SourceDirectory(Protocol):
    def unknown_source_slugs(self, slugs: Sequence[str]) -> list[str]: ...


class _Registry:
    departments: DepartmentDirectory | None = None
    sources: SourceDirectory | None = None


registry = _Registry()


def departments() -> DepartmentDirectory:
    if registry.departments is None:
        raise RuntimeError("No department directory registered (is the procurement app installed?)")
    return registry.departments


def sources() -> SourceDirectory:
    if registry.sources is None:
        raise RuntimeError("No source directory registered (is the usage app installed?)")
    return registry.sources
