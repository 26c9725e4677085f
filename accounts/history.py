"""The change history is append-only, in the database itself.

Every django-simple-history table gets a trigger that refuses UPDATE and DELETE, so no page, API,
bug or injected statement of the application can rewrite or erase who changed what. New rows
(INSERT) are untouched, so recording history costs nothing more.

Retention and repairs are deliberate acts: `history_maintenance()` lifts the guard for one
transaction (`SET LOCAL tokenledger.history_maintenance = 'on'`), and `manage.py history_purge`
uses it to drop rows older than a retention period. A database administrator who wants the guard
to hold against the application's own role as well can also REVOKE UPDATE, DELETE on these tables
from it (README, Security).

The triggers are (re)installed after every `migrate` (post_migrate), so a model that gains
HistoricalRecords later is covered without a migration of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

GUARD_FUNCTION = "tokenledger_history_append_only"
GUARD_TRIGGER = "history_append_only"
MAINTENANCE_SETTING = "tokenledger.history_maintenance"

_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION {GUARD_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('{MAINTENANCE_SETTING}', true) = 'on' THEN
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the change history is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def history_models() -> list:
    from django.apps import apps
    from simple_history.models import HistoricalChanges

    return [
        model
        for model in apps.get_models(include_auto_created=True)
        if issubclass(model, HistoricalChanges) and not model._meta.proxy
    ]


def history_tables() -> list[str]:
    """The tables of every historical model (django-simple-history), sorted."""
    return sorted({model._meta.db_table for model in history_models()})


def install_history_guard(using: str = "default") -> list[str]:
    """Create the guard function and a trigger on every history table; answers the tables."""
    from django.db import connections

    tables = history_tables()
    with connections[using].cursor() as cursor:
        cursor.execute(_FUNCTION_SQL)
        existing = {
            row[0]
            for row in _fetch(
                cursor,
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()",
            )
        }
        for table in tables:
            if table not in existing:
                continue
            cursor.execute(
                f'CREATE OR REPLACE TRIGGER {GUARD_TRIGGER} BEFORE UPDATE OR DELETE ON "{table}" '
                f"FOR EACH ROW EXECUTE FUNCTION {GUARD_FUNCTION}()"
            )
    return [t for t in tables if t in existing]


def _fetch(cursor, sql: str):
    cursor.execute(sql)
    return cursor.fetchall()


def guarded_tables() -> set[str]:
    with connection.cursor() as cursor:
        rows = _fetch(
            cursor,
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            f"WHERE t.tgname = '{GUARD_TRIGGER}' AND NOT t.tgisinternal",
        )
    return {row[0] for row in rows}


@contextmanager
def history_maintenance() -> Iterator[None]:
    """Lift the guard inside this block only (retention purges, repairs); it is back on after,
    even when the block runs inside a longer transaction."""
    # On an error the atomic block rolls back to its savepoint, which undoes the SET LOCAL too.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL {MAINTENANCE_SETTING} = 'on'")
        yield
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL {MAINTENANCE_SETTING} = 'off'")


def install_on_migrate(sender, using="default", **kwargs) -> None:
    install_history_guard(using=using)
