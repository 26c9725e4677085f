"""The one ingestion pipeline every source goes through, as small steps that run without Celery:

    parse (format → raw records) → normalise (validate, UTC, idempotency key) → attribute
    → rate → persist (dedupe against the database, restate, insert, roll up)

`ingest_records` runs the steps for records already parsed (the REST batch, a chunk of a file,
replayed rows); usage.services wraps it in runs; usage.tasks runs files in the worker.
"""

from .run import BatchResult, ingest_records

__all__ = ["BatchResult", "ingest_records"]
