"""Usage pages: the explorer, uploads and ingestion runs, sources, attribution rules."""

from .costs import VendorCostLineListView
from .explorer import UsageExplorerView
from .rules import AttributionRuleDeleteView, AttributionRuleEditView, AttributionRuleListView
from .runs import IngestionRunDetailView, IngestionRunListView, RejectedRowsReplayView, UploadView
from .sources import SourceDeleteView, SourceDetailView, SourceEditView, SourceListView, SourcePullView

__all__ = [
    "AttributionRuleDeleteView",
    "AttributionRuleEditView",
    "AttributionRuleListView",
    "IngestionRunDetailView",
    "IngestionRunListView",
    "RejectedRowsReplayView",
    "SourceDeleteView",
    "SourceDetailView",
    "SourceEditView",
    "SourceListView",
    "SourcePullView",
    "UploadView",
    "UsageExplorerView",
    "VendorCostLineListView",
]
