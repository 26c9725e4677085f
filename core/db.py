"""Database guarantees that need no PostgreSQL extension.

An exclusion constraint over "same key, overlapping dates" needs btree_gist, which not every
PostgreSQL has (the embedded server of the run command does not). A row trigger gives the same
guarantee: it takes a transaction-scoped advisory lock on the key, so concurrent writers of one
key queue up, then looks for an overlapping row; in a VOLATILE function each query sees what
other transactions committed meanwhile. A clash raises SQLSTATE 23P01 (exclusion_violation),
which Django reports as IntegrityError like the constraint would.
"""

from __future__ import annotations


def no_overlap_trigger(
    *, name: str, table: str, key_columns: list[str], start: str, end: str, condition: str = "TRUE"
) -> tuple[str, str]:
    """(forward, reverse) SQL for a trigger refusing rows of `table` whose [start, end] dates
    (inclusive; a NULL end is open) overlap another row with the same key columns. `condition`
    (on NEW and on o, the other row) limits which rows take part, e.g. "NEW.status = 'active'"."""
    key_text = " || ':' || ".join(f"NEW.{column}::text" for column in key_columns)
    same_key = " AND ".join(f"o.{column} = NEW.{column}" for column in key_columns)
    other_condition = condition.replace("NEW.", "o.")
    forward = f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF NOT ({condition}) THEN
        RETURN NEW;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('{table}:' || {key_text}, 0));
    IF EXISTS (
        SELECT 1 FROM {table} o
        WHERE {same_key} AND o.id <> NEW.id AND ({other_condition})
          AND daterange(o.{start}, o.{end}, '[]') && daterange(NEW.{start}, NEW.{end}, '[]')
    ) THEN
        RAISE EXCEPTION 'overlapping dates in {table} for %', {key_text}
            USING ERRCODE = 'exclusion_violation', CONSTRAINT = '{name}';
    END IF;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS {name} ON {table};
CREATE TRIGGER {name} BEFORE INSERT OR UPDATE ON {table}
    FOR EACH ROW EXECUTE FUNCTION {name}();
"""
    reverse = f"DROP TRIGGER IF EXISTS {name} ON {table}; DROP FUNCTION IF EXISTS {name}();"
    return forward, reverse
