"""usage's API routes (config/api_router.py)."""

from django.urls import path

from .views import (
    AttributionRuleViewSet,
    IngestionRunViewSet,
    SourceViewSet,
    UsageFileUploadApi,
    UsageRecordsIngestApi,
    UsageSummaryApi,
)

ROUTES = [
    ("usage/sources", SourceViewSet, "source"),
    ("usage/runs", IngestionRunViewSet, "ingestionrun"),
    ("attribution-rules", AttributionRuleViewSet, "attributionrule"),
]

PATHS = [
    path("usage/records", UsageRecordsIngestApi.as_view(), name="usage-records"),
    path("usage/files", UsageFileUploadApi.as_view(), name="usage-files"),
    path("usage/summary", UsageSummaryApi.as_view(), name="usage-summary"),
]
