"""The one ingestion pipeline every source goes through, as small steps that run without Celery:

    parse (format → raw records) → normalise (validate, UTC, idempotency key) → attribute
    → rate → persist (dedupe against the database, restate, insert, roll up)

`ingest_records` runs the steps for records already parsed (the REST batch, a chunk of a file,
replayed rows); `ingest_items` also takes vendor cost lines (usage.pipeline.costs). The parsers of
every format are in usage.pipeline.feeds; usage.services wraps all this in runs; usage.tasks runs
files, replays and pulls in the worker.
"""

from .run import BatchResult, ingest_items, ingest_records

__all__ = ["BatchResult", "ingest_items", "ingest_records"]
