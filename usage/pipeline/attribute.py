"""Attribution: a record's own department wins; else the highest-priority rule whose dimension
matches; else UNALLOCATED (DESIGN.md, Attribution)."""

from __future__ import annotations

from collections.abc import Iterable

from ..models import AttributionRule
from .normalise import Row

# rule index: dimension → value → (priority, -rule id, department id, rule id); the best rule for
# each (dimension, value), so a record needs one dict lookup per dimension in use.
RuleIndex = dict[str, dict[str, tuple[int, int, int, int]]]


def rule_index(rules: Iterable[AttributionRule] | None = None) -> RuleIndex:
    rules = AttributionRule.objects.all() if rules is None else rules
    index: RuleIndex = {}
    for rule in rules:
        entry = (rule.priority, -rule.pk, rule.department_id, rule.pk)
        values = index.setdefault(rule.dimension, {})
        if rule.value not in values or entry > values[rule.value]:
            values[rule.value] = entry
    return index


def best_rule(index: RuleIndex, dims: dict[str, str | None], tags: dict[str, str]) -> tuple[int, int, int, int] | None:
    best = None
    for dimension, values in index.items():
        value = tags.get(dimension[4:]) if dimension.startswith("tag:") else dims.get(dimension)
        if value is None:
            continue
        candidate = values.get(value)
        if candidate is not None and (best is None or candidate > best):
            best = candidate
    return best


def attribute(rows: list[Row], index: RuleIndex, unallocated_id: int) -> None:
    for row in rows:
        if row.department_explicit:
            continue
        match = (
            best_rule(
                index,
                {
                    "api_key_id": row.api_key_id,
                    "project_id": row.project_id,
                    "workspace_id": row.workspace_id,
                    "user_id": row.user_id,
                },
                row.tags,
            )
            if index
            else None
        )
        if match is None:
            row.department_id, row.attribution_rule_id = unallocated_id, None
        else:
            row.department_id, row.attribution_rule_id = match[2], match[3]
