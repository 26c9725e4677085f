"""Attribution rules and re-attribution: changing a rule moves the records it concerns (those
whose dimension has the rule's old or new value) to their new department, rollups included."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from core.services import job_run_create
from procurement.selectors import unallocated_department

from ..models import AttributionRule
from ..pipeline.persist import EMPTY_ROLLUP, rollup_upsert_sql

RULE_FIELDS = ("priority", "dimension", "value", "department", "description")


def _dimension_filter(pairs: list[tuple[str, str]]) -> tuple[str, list]:
    clauses, params = [], []
    for dimension, value in pairs:
        if dimension.startswith("tag:"):
            clauses.append("r.tags ->> %s = %s")
            params += [dimension[4:], value]
        else:
            clauses.append(f"r.{dimension} = %s")  # a validated dimension name, never user text
            params.append(value)
    return " OR ".join(clauses) or "FALSE", params


def _schedule(pairs: list[tuple[str, str]], actor) -> None:
    job_run_create(
        kind="reattribution", created_by=actor, params={"pairs": [list(p) for p in pairs]}, task="usage.reattribute"
    )


@transaction.atomic
def attribution_rule_save(*, rule: AttributionRule | None = None, actor, **fields) -> AttributionRule:
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise TypeError(f"Unknown attribution rule fields: {', '.join(sorted(unknown))}")
    before = (rule.dimension, rule.value) if rule and rule.pk else None
    rule = rule or AttributionRule()
    for name, value in fields.items():
        setattr(rule, name, value)
    rule.value = (rule.value or "").strip()
    rule.full_clean()
    rule._history_user = actor
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError as exc:
        raise ValidationError({"value": ["A rule for this dimension, value and priority exists."]}) from exc
    _schedule(sorted({p for p in (before, (rule.dimension, rule.value)) if p}), actor)
    return rule


@transaction.atomic
def attribution_rule_delete(*, rule: AttributionRule, actor) -> None:
    pair = (rule.dimension, rule.value)
    rule._history_user = actor
    rule.delete()
    _schedule([pair], actor)


def reattribute(pairs: list[tuple[str, str]] | None = None) -> dict:
    """Recompute the department of records without their own department. With `pairs`, only
    records having one of those dimension values are looked at. Returns how many moved."""
    where, params = _dimension_filter(pairs) if pairs is not None else ("TRUE", [])
    with transaction.atomic(), connection.cursor() as cursor:
        unallocated_id = unallocated_department().pk
        cursor.execute("DROP TABLE IF EXISTS usage_reattributed")
        cursor.execute(
            f"""
            CREATE TEMP TABLE usage_reattributed ON COMMIT DROP AS
            SELECT r.id, coalesce(m.department_id, %s) AS department_id, m.id AS rule_id
            FROM usage_record r
            LEFT JOIN LATERAL (
                SELECT a.id, a.department_id FROM usage_attributionrule a
                WHERE (a.dimension = 'api_key_id' AND a.value = r.api_key_id)
                   OR (a.dimension = 'project_id' AND a.value = r.project_id)
                   OR (a.dimension = 'workspace_id' AND a.value = r.workspace_id)
                   OR (a.dimension = 'user_id' AND a.value = r.user_id)
                   OR (a.dimension LIKE 'tag:%%' AND r.tags ->> substr(a.dimension, 5) = a.value)
                ORDER BY a.priority DESC, a.id ASC
                LIMIT 1
            ) m ON TRUE
            WHERE NOT r.department_explicit AND ({where})
            """,
            [unallocated_id, *params],
        )
        cursor.execute(
            """
            DELETE FROM usage_reattributed x USING usage_record r
            WHERE r.id = x.id AND r.department_id = x.department_id
              AND r.attribution_rule_id IS NOT DISTINCT FROM x.rule_id
            """
        )
        cursor.execute("SELECT count(*) FROM usage_reattributed")
        (moved,) = cursor.fetchone()
        if moved:
            join = "FROM usage_record r JOIN usage_reattributed x ON x.id = r.id"
            cursor.execute(rollup_upsert_sql(join, sign=-1, table_alias="r"))
            cursor.execute(
                """
                UPDATE usage_record r SET department_id = x.department_id, attribution_rule_id = x.rule_id,
                       updated_at = now()
                FROM usage_reattributed x WHERE x.id = r.id
                """
            )
            cursor.execute(rollup_upsert_sql(join, sign=1, table_alias="r"))
            cursor.execute(
                f"DELETE FROM usage_daily_rollup WHERE {EMPTY_ROLLUP} AND day IN "
                "(SELECT DISTINCT r.usage_date FROM usage_record r JOIN usage_reattributed x ON x.id = r.id)"
            )
    return {"moved": moved, "message": f"{moved} records re-attributed"}
