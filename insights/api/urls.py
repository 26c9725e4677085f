"""insights' API paths (config/api_router.py): alerts, alert rules and the inbox.

API.md writes the alert actions without a trailing slash (`alerts/{id}/acknowledge`); the
router's forms with one work too. `alerts/evaluate` comes before the router's `alerts/{id}/`
(ids are digits only, so the two never meet)."""

from django.urls import path

from . import reports
from .views import (
    AlertActionApi,
    AlertEvaluateApi,
    AlertEvaluateSlashApi,
    AlertRuleViewSet,
    AlertViewSet,
    InboxActionApi,
    InboxViewSet,
)

# viewsets registered on the API router (config/api_router.py)
ROUTES = [
    ("alerts", AlertViewSet, "alert"),
    ("alert-rules", AlertRuleViewSet, "alertrule"),
    ("inbox", InboxViewSet, "inbox"),
]

PATHS = [
    path("alerts/evaluate", AlertEvaluateApi.as_view(), name="alert-evaluate"),
    path("alerts/evaluate/", AlertEvaluateSlashApi.as_view(), name="alert-evaluate-slash"),
    *(
        path(f"alerts/<int:pk>/{url}", AlertActionApi.as_view({"post": url}), name=f"alert-{url}-bare")
        for url in ("acknowledge", "resolve")
    ),
    path("inbox/<int:pk>/read", InboxActionApi.as_view({"post": "read"}), name="inbox-read-bare"),
    path("inbox/read-all", InboxActionApi.as_view({"post": "read_all"}), name="inbox-read-all-bare"),
]

# Monthly reports (insights/api/reports.py)
ROUTES += reports.ROUTES
PATHS += reports.PATHS
