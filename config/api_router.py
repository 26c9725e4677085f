"""Every REST endpoint under /api/v1/ (API.md)."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from accounts.api.approvals import ApprovalViewSet
from accounts.api.views import ApiTokenViewSet, MeApi, UserViewSet
from billing.api.urls import PATHS as BILLING_PATHS
from billing.api.urls import ROUTES as BILLING_ROUTES
from contracts.api.urls import ROUTES as CONTRACTS_ROUTES
from core.api.fx import FxRateViewSet
from core.api.views import DiagnosticsRunApi, JobRunViewSet, OrganizationSettingsApi
from insights.api.urls import PATHS as INSIGHTS_PATHS
from insights.api.urls import ROUTES as INSIGHTS_ROUTES
from insights.api.urls_forecasts import PATHS as FORECAST_PATHS
from insights.api.urls_forecasts import ROUTES as FORECAST_ROUTES
from procurement.api.urls import ROUTES as PROCUREMENT_ROUTES
from usage.api.urls import PATHS as USAGE_PATHS
from usage.api.urls import ROUTES as USAGE_ROUTES

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.include_format_suffixes = False
router.register("users", UserViewSet, basename="user")
router.register("tokens", ApiTokenViewSet, basename="token")
router.register("runs", JobRunViewSet, basename="run")
router.register("approvals", ApprovalViewSet, basename="approval")
router.register("fx-rates", FxRateViewSet, basename="fxrate")
for prefix, viewset, basename in (
    PROCUREMENT_ROUTES + CONTRACTS_ROUTES + USAGE_ROUTES + BILLING_ROUTES + INSIGHTS_ROUTES + FORECAST_ROUTES
):
    router.register(prefix, viewset, basename=basename)

app_name = "api"
urlpatterns = [
    path("me", MeApi.as_view(), name="me"),
    path("settings", OrganizationSettingsApi.as_view(), name="settings"),
    path("runs/diagnostics", DiagnosticsRunApi.as_view(), name="run-diagnostics"),
    *USAGE_PATHS,
    *BILLING_PATHS,
    *INSIGHTS_PATHS,
    *FORECAST_PATHS,
    *router.urls,
]
