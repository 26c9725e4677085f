"""Usage: sources, ingestion runs, usage records (with their keys, versions and rejected rows),
attribution rules and daily rollups."""

from .attribution import AttributionRule
from .costs import VendorCostLine
from .records import DailyRollup, RejectedRow, UsageKey, UsageRecord, UsageRecordVersion
from .runs import IngestionRun
from .sources import Source

__all__ = [
    "AttributionRule",
    "DailyRollup",
    "IngestionRun",
    "RejectedRow",
    "Source",
    "UsageKey",
    "UsageRecord",
    "UsageRecordVersion",
    "VendorCostLine",
]
