"""Writes of the usage app: ingestion (REST batches, files, replays), sources, attribution."""

from .attribution import attribution_rule_delete, attribution_rule_save, reattribute
from .ingest import (
    AtomicRejection,
    file_run_execute,
    file_upload,
    records_ingest,
    rejected_rows_replay,
    replay_run_execute,
)
from .pulls import pull_run_execute, source_pull_now, sources_pull_due
from .rating import rerate_run_execute, true_ups_due, usage_rerate
from .sources import KEEP as KEEP_CREDENTIAL
from .sources import source_delete, source_save

__all__ = [
    "KEEP_CREDENTIAL",
    "AtomicRejection",
    "attribution_rule_delete",
    "attribution_rule_save",
    "file_run_execute",
    "file_upload",
    "pull_run_execute",
    "reattribute",
    "records_ingest",
    "rejected_rows_replay",
    "replay_run_execute",
    "rerate_run_execute",
    "source_delete",
    "source_pull_now",
    "source_save",
    "sources_pull_due",
    "true_ups_due",
    "usage_rerate",
]
