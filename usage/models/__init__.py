"""Usage: sources, ingestion runs, usage records (with their keys, versions and rejected rows),
attribution rules and daily and monthly rollups."""

from .attribution import AttributionRule
from .costs import VendorCostLine
from .rating import RatingBasis, TrueUp
from .records import DailyRollup, MonthlyRollup, RejectedRow, UsageKey, UsageRecord, UsageRecordVersion
from .runs import IngestionRun
from .sources import Source

__all__ = [
    "AttributionRule",
    "DailyRollup",
    "IngestionRun",
    "MonthlyRollup",
    "RatingBasis",
    "RejectedRow",
    "Source",
    "TrueUp",
    "UsageKey",
    "UsageRecord",
    "UsageRecordVersion",
    "VendorCostLine",
]
