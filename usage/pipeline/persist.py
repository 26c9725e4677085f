"""Persist a batch: binary COPY into staging, then set-based SQL against the global key table.

1. COPY the rows into a temporary staging table (binary; no per-row ORM saves).
2. Optimistically, all keys are new: the keys, their records (rated in SQL at list price) and
   their rollups go in with ONE statement inserting the keys plainly, inside a savepoint.
3. If a key was known (or another batch inserted it meanwhile), that statement fails on the
   unique key and rolls back to the savepoint; the batch then goes the careful way: lock the
   known keys in key order (so concurrent batches cannot deadlock) — same content is a
   duplicate, other content a restatement — and insert the rest with ON CONFLICT DO NOTHING,
   looking again until every staged row is accounted for.
4. Restatements: the old version goes to history, its rollup contribution is taken out, the
   record and its key take the new values, the new values are added to the rollups.

Everything runs in the caller's transaction, so a batch is applied whole or not at all; with
READ COMMITTED each statement sees what concurrent batches committed before it, so two clients
sending overlapping batches at the same moment end with every record once and the latest values.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from django.db import IntegrityError, connection, transaction

from .normalise import Row
from .rate import RatingTables

STAGE_TYPES = [
    ("ord", "int4"),
    ("record_id", "int8"),
    ("key", "bytea"),
    ("content", "bytea"),
    ("external_id", "text"),
    ("source_id", "int8"),
    ("vendor_id", "int8"),
    ("model", "text"),
    ("bucket_start", "timestamptz"),
    ("bucket_end", "timestamptz"),
    ("usage_date", "date"),
    ("input_tokens", "int8"),
    ("cached_input_tokens", "int8"),
    ("cache_write_tokens", "int8"),
    ("output_tokens", "int8"),
    ("requests", "int8"),
    ("failed_requests", "int8"),
    ("latency_ms", "float8"),
    ("latency_p50_ms", "float8"),
    ("latency_p90_ms", "float8"),
    ("project_id", "text"),
    ("api_key_id", "text"),
    ("workspace_id", "text"),
    ("user_id", "text"),
    ("service_tier", "text"),
    ("region", "text"),
    ("tags", "text"),
    ("department_id", "int8"),
    ("department_explicit", "bool"),
    ("attribution_rule_id", "int8"),
]
SQL_TYPES = {"int4": "integer", "int8": "bigint", "float8": "double precision", "bool": "boolean"}
STAGE_DDL = f"""
CREATE TEMP TABLE IF NOT EXISTS usage_stage ({", ".join(f"{n} {SQL_TYPES.get(t, t)}" for n, t in STAGE_TYPES)})
    ON COMMIT DROP;
CREATE TEMP TABLE IF NOT EXISTS usage_stage_old (
    key bytea PRIMARY KEY, record_id bigint, same boolean, mine boolean NOT NULL DEFAULT FALSE
) ON COMMIT DROP;
CREATE TEMP TABLE IF NOT EXISTS usage_price (
    vendor_id bigint, model text, valid_from date, valid_to date, currency text,
    p_input numeric, p_cached numeric, p_write numeric, p_output numeric
) ON COMMIT DROP;
CREATE TEMP TABLE IF NOT EXISTS usage_fx (
    currency text, day date, num numeric, den numeric, rate numeric, rate_date date, status text
) ON COMMIT DROP;
TRUNCATE usage_stage, usage_stage_old, usage_price, usage_fx;
"""
# the input columns a record takes straight from staging
PLAIN = [
    "key",
    "external_id",
    "source_id",
    "vendor_id",
    "model",
    "bucket_start",
    "bucket_end",
    "usage_date",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "requests",
    "failed_requests",
    "latency_ms",
    "latency_p50_ms",
    "latency_p90_ms",
    "project_id",
    "api_key_id",
    "workspace_id",
    "user_id",
    "service_tier",
    "region",
    "department_id",
    "department_explicit",
    "attribution_rule_id",
]
# rating at list price, in integers (see rate.py); `c.cu` is the cost in 10⁻¹² units
RATED = {
    "tags": "s.tags::jsonb",
    "rating": "CASE WHEN p.vendor_id IS NULL THEN 'unpriced' ELSE 'list' END",
    "agreement_id": "NULL::bigint",
    "off_contract": "TRUE",
    "off_contract_reporting": "c.reporting",
    "cost": "c.cost",
    "list_cost": "c.cost",
    "cost_currency": "coalesce(p.currency, '')",
    "cost_reporting": "c.reporting",
    "list_cost_reporting": "c.reporting",
    "reporting_currency": "%(reporting)s",
    "fx_rate": "f.rate",
    "fx_date": "f.rate_date",
    "fx_status": "coalesce(f.status, '')",
}
RECORD_COLUMNS = PLAIN + list(RATED)
RATING_JOINS = """
    LEFT JOIN usage_price p ON p.vendor_id = s.vendor_id AND p.model = s.model
        AND s.usage_date >= p.valid_from AND (p.valid_to IS NULL OR s.usage_date <= p.valid_to)
    LEFT JOIN usage_fx f ON f.currency = p.currency AND f.day = s.usage_date
    CROSS JOIN LATERAL (
        SELECT s.input_tokens::numeric * p.p_input + s.cached_input_tokens::numeric * p.p_cached
             + s.cache_write_tokens::numeric * p.p_write + s.output_tokens::numeric * p.p_output AS cu
    ) u
    CROSS JOIN LATERAL (
        SELECT u.cu * 0.000000000001 AS cost, div(2 * u.cu * f.num + f.den, 2 * f.den) * 0.000000000001 AS reporting
    ) c
"""
RECORD_EXPRESSIONS = [*(f"s.{c}" for c in PLAIN), *RATED.values()]
RECORD_VALUES = ", ".join(RECORD_EXPRESSIONS)
ROLLUP_SUMS = [
    ("records", "count(*)"),
    ("input_tokens", "sum({t}.input_tokens)"),
    ("cached_input_tokens", "sum({t}.cached_input_tokens)"),
    ("cache_write_tokens", "sum({t}.cache_write_tokens)"),
    ("output_tokens", "sum({t}.output_tokens)"),
    ("requests", "sum({t}.requests)"),
    ("failed_requests", "sum({t}.failed_requests)"),
    ("cost", "coalesce(sum({t}.cost_reporting), 0)"),
    ("list_cost", "coalesce(sum({t}.list_cost_reporting), 0)"),
    ("unpriced_records", "count(*) FILTER (WHERE {t}.cost_reporting IS NULL)"),
    ("off_contract_cost", "coalesce(sum({t}.off_contract_reporting), 0)"),
    ("agreement_cost", "coalesce(sum({t}.cost) FILTER (WHERE {t}.agreement_id IS NOT NULL), 0)"),
]
# a rollup row left with nothing in it (true-ups are booked on rollup rows without records)
EMPTY_ROLLUP = "records = 0 AND true_up_cost = 0 AND agreement_cost = 0"
RETURNED = (
    "usage_date, department_id, vendor_id, model, input_tokens, cached_input_tokens, cache_write_tokens, "
    "output_tokens, requests, failed_requests, cost, cost_reporting, list_cost_reporting, off_contract_reporting, "
    "agreement_id"
)


@dataclass
class Persisted:
    accepted: int
    duplicates: int
    restated: int
    # vendor → earliest usage date restated records had before (their tier counters lost tokens)
    moved_from: dict | None = None


def rollup_upsert_sql(select_from: str, *, sign: int, table_alias: str) -> str:
    """INSERT … SELECT grouped sums (× sign) ON CONFLICT adding them to the rollups. `select_from`
    supplies rows (alias `table_alias`) with the record columns."""
    minus = "-" if sign < 0 else ""
    sums = ", ".join(f"{minus}{expr.format(t=table_alias)}" for _, expr in ROLLUP_SUMS)
    names = ", ".join(name for name, _ in ROLLUP_SUMS)
    updates = ", ".join(f"{name} = usage_daily_rollup.{name} + excluded.{name}" for name, _ in ROLLUP_SUMS)
    t = table_alias
    return f"""
INSERT INTO usage_daily_rollup (day, department_id, vendor_id, model, {names})
SELECT {t}.usage_date, {t}.department_id, {t}.vendor_id, {t}.model, {sums}
{select_from}
GROUP BY {t}.usage_date, {t}.department_id, {t}.vendor_id, {t}.model
ORDER BY {t}.usage_date, {t}.department_id, {t}.vendor_id, {t}.model
ON CONFLICT (day, department_id, vendor_id, model) DO UPDATE SET {updates}
"""


def _copy_stage(cursor, rows: list[Row], tables: RatingTables, ids: list[int]) -> None:
    with cursor.copy(f"COPY usage_stage ({', '.join(n for n, _ in STAGE_TYPES)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types([t for _, t in STAGE_TYPES])
        for record_id, r in zip(ids, rows, strict=True):
            copy.write_row(
                (
                    r.index,
                    record_id,
                    r.key,
                    r.content,
                    r.external_id,
                    r.source_id,
                    r.vendor_id,
                    r.model,
                    r.bucket_start,
                    r.bucket_end,
                    r.usage_date,
                    r.input_tokens,
                    r.cached_input_tokens,
                    r.cache_write_tokens,
                    r.output_tokens,
                    r.requests,
                    r.failed_requests,
                    r.latency_ms,
                    r.latency_p50_ms,
                    r.latency_p90_ms,
                    r.project_id,
                    r.api_key_id,
                    r.workspace_id,
                    r.user_id,
                    r.service_tier,
                    r.region,
                    orjson.dumps(r.tags).decode() if r.tags else "{}",
                    r.department_id,
                    r.department_explicit,
                    r.attribution_rule_id,
                )
            )
    if tables.prices:
        with cursor.copy("COPY usage_price FROM STDIN") as copy:
            for row in tables.prices:
                copy.write_row(row)
    if tables.fx:
        with cursor.copy("COPY usage_fx FROM STDIN") as copy:
            for row in tables.fx:
                copy.write_row(row)
    # statistics for the two small tables, so rating joins them by hash instead of sorting the batch
    cursor.execute("ANALYZE usage_price, usage_fx")


LOCK_KNOWN = """
INSERT INTO usage_stage_old (key, record_id, same)
SELECT s.key, k.record_id, k.content = s.content
FROM usage_stage s JOIN usage_key k ON k.key = s.key
WHERE NOT EXISTS (SELECT 1 FROM usage_stage_old o WHERE o.key = s.key)
ORDER BY s.key
FOR UPDATE OF k
"""


def _insert_new(cursor, *, run_id, reporting: str, careful: bool) -> int:
    """Keys never seen, their records and their rollups, in one statement. Returns how many.

    Record ids were taken from the sequence for every staged row beforehand, so records need no
    join back to the keys inserted: in the fast way the statement inserts all fresh keys or
    fails as a whole; the careful way (ON CONFLICT) inserts the records of the keys it got."""
    fresh = "NOT EXISTS (SELECT 1 FROM usage_stage_old o WHERE o.key = s.key)"
    if careful:
        keys_then = f"""
        keys AS (
            INSERT INTO usage_key (key, record_id, bucket_start, content, version)
            SELECT s.key, s.record_id, s.bucket_start, s.content, 1 FROM usage_stage s WHERE {fresh} ORDER BY s.key
            ON CONFLICT (key) DO NOTHING
            RETURNING key, record_id
        ), mark AS (
            INSERT INTO usage_stage_old (key, record_id, same, mine) SELECT key, record_id, TRUE, TRUE FROM keys
        ),"""
        source = "usage_stage s JOIN keys k ON k.key = s.key"
        where = "TRUE"
    else:
        keys_then = f"""
        keys AS (
            INSERT INTO usage_key (key, record_id, bucket_start, content, version)
            SELECT s.key, s.record_id, s.bucket_start, s.content, 1 FROM usage_stage s WHERE {fresh} ORDER BY s.key
        ),"""
        source = "usage_stage s"
        where = fresh
    cursor.execute(
        f"""
        WITH {keys_then} recs AS (
            INSERT INTO usage_record (id, {", ".join(RECORD_COLUMNS)}, version, run_id, created_at, updated_at)
            SELECT s.record_id, {RECORD_VALUES}, 1, %(run)s, now(), now()
            FROM {source} {RATING_JOINS}
            WHERE {where}
            RETURNING {RETURNED}
        ), rolled AS (
            {rollup_upsert_sql("FROM recs r", sign=1, table_alias="r")}
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM recs)
        """,
        {"run": run_id, "reporting": reporting},
    )
    return cursor.fetchone()[0]


def _restate(cursor, *, run_id, reporting: str) -> dict:
    cursor.execute(
        "SELECT r.vendor_id, min(r.usage_date) FROM usage_record r "
        "JOIN usage_stage_old o ON o.record_id = r.id AND NOT o.same GROUP BY r.vendor_id"
    )
    moved_from = dict(cursor.fetchall())
    cursor.execute(
        """
        INSERT INTO usage_record_version (record_id, version, data, superseded_at, superseded_by_run_id)
        SELECT r.id, r.version, to_jsonb(r) - 'key', now(), %s
        FROM usage_record r JOIN usage_stage_old o ON o.record_id = r.id AND NOT o.same
        """,
        [run_id],
    )
    cursor.execute(
        rollup_upsert_sql(
            "FROM usage_record r JOIN usage_stage_old o ON o.record_id = r.id AND NOT o.same", sign=-1, table_alias="r"
        )
    )
    assignments = ", ".join(f"{c} = v.{c}" for c in RECORD_COLUMNS if c != "key")
    named = ", ".join(f"{expr} AS {name}" for name, expr in zip(RECORD_COLUMNS, RECORD_EXPRESSIONS, strict=True))
    cursor.execute(
        f"""
        WITH v AS (
            SELECT o.record_id, {named}
            FROM usage_stage s JOIN usage_stage_old o ON o.key = s.key AND NOT o.same {RATING_JOINS}
        )
        UPDATE usage_record r SET {assignments}, version = r.version + 1, run_id = %(run)s, updated_at = now()
        FROM v WHERE r.id = v.record_id
        """,
        {"run": run_id, "reporting": reporting},
    )
    cursor.execute(
        """
        UPDATE usage_key k SET content = s.content, bucket_start = s.bucket_start, version = k.version + 1
        FROM usage_stage s JOIN usage_stage_old o ON o.key = s.key AND NOT o.same
        WHERE k.key = s.key
        """
    )
    cursor.execute(
        rollup_upsert_sql(
            "FROM usage_record r JOIN usage_stage_old o ON o.record_id = r.id AND NOT o.same", sign=1, table_alias="r"
        )
    )
    # a restated record may have left an emptied rollup row behind
    cursor.execute(
        f"DELETE FROM usage_daily_rollup WHERE {EMPTY_ROLLUP} AND day IN (SELECT DISTINCT usage_date FROM usage_stage)"
    )
    return moved_from


_SEQUENCE: list[str] = []


def _record_sequence(cursor) -> str:
    """The record id sequence's name, looked up once per process (not once per row)."""
    if not _SEQUENCE:
        cursor.execute("SELECT pg_get_serial_sequence('usage_record', 'id')")
        _SEQUENCE.append(cursor.fetchone()[0])
    return _SEQUENCE[0]


def persist(rows: list[Row], tables: RatingTables, *, run_id: int | None, reporting_currency: str) -> Persisted:
    """Write one generation of rows (keys distinct within it). Call inside a transaction."""
    if not rows:
        return Persisted(0, 0, 0)
    if not connection.in_atomic_block:
        raise RuntimeError("persist() must run inside a transaction (the staging tables drop on commit)")
    with connection.cursor() as cursor:
        cursor.execute(STAGE_DDL)
        cursor.execute(
            "SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [_record_sequence(cursor), len(rows)]
        )
        ids = [row[0] for row in cursor.fetchall()]
        _copy_stage(cursor, rows, tables, ids)
        try:
            with transaction.atomic():  # a savepoint: a concurrent batch may insert one of our keys
                accepted = _insert_new(cursor, run_id=run_id, reporting=reporting_currency, careful=False)
        except IntegrityError:
            accepted = 0
            while True:  # the careful way: take what others inserted as known, insert the rest
                cursor.execute(LOCK_KNOWN)
                accepted += _insert_new(cursor, run_id=run_id, reporting=reporting_currency, careful=True)
                cursor.execute(
                    "SELECT count(*) FROM usage_stage s WHERE NOT EXISTS "
                    "(SELECT 1 FROM usage_stage_old o WHERE o.key = s.key)"
                )
                if cursor.fetchone()[0] == 0:
                    break
        cursor.execute(
            "SELECT count(*) FILTER (WHERE same AND NOT mine), count(*) FILTER (WHERE NOT same) FROM usage_stage_old"
        )
        duplicates, restated = cursor.fetchone()
        moved_from = _restate(cursor, run_id=run_id, reporting=reporting_currency) if restated else None
    return Persisted(accepted=accepted, duplicates=duplicates, restated=restated, moved_from=moved_from)
