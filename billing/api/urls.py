"""billing's API paths (config/api_router.py). `agreements/{reference}/commitment-status` has no
trailing slash, so it never meets the agreement viewset's routes (`agreements/{reference}/…/`)."""

from django.urls import path

from .views import AgreementCommitmentStatusApi, BudgetStatusApi

PATHS = [
    path(
        "agreements/<str:reference>/commitment-status",
        AgreementCommitmentStatusApi.as_view(),
        name="agreement-commitment-status",
    ),
    path("budgets/<int:pk>/status", BudgetStatusApi.as_view(), name="budget-status"),
]
