"""usage's API routes (config/api_router.py)."""

from django.urls import path

from .views import (
    AttributionRuleViewSet,
    IngestionRunViewSet,
    SourcePullApi,
    SourceViewSet,
    UsageFileUploadApi,
    UsageRecordsApi,
    UsageSummaryApi,
    VendorCostLineViewSet,
)

ROUTES = [
    ("usage/sources", SourceViewSet, "source"),
    ("usage/runs", IngestionRunViewSet, "ingestionrun"),
    ("attribution-rules", AttributionRuleViewSet, "attributionrule"),
    ("vendor-cost-lines", VendorCostLineViewSet, "vendorcostline"),
]

PATHS = [
    path("usage/records", UsageRecordsApi.as_view(), name="usage-records"),
    path("usage/files", UsageFileUploadApi.as_view(), name="usage-files"),
    path("usage/summary", UsageSummaryApi.as_view(), name="usage-summary"),
    path("usage/sources/<slug:slug>/pull", SourcePullApi.as_view(), name="usage-source-pull"),
]
