"""billing's API paths (config/api_router.py). `agreements/{reference}/commitment-status` has no
trailing slash, so it never meets the agreement viewset's routes (`agreements/{reference}/…/`)."""

from django.urls import path

from . import scorecard, sla
from .invoices import InvoiceGenerateApi, InvoiceIssueMonthApi, InvoiceViewSet, PeriodCloseApi, PeriodListApi
from .vendor_invoices import PATHS as VENDOR_INVOICE_PATHS
from .vendor_invoices import ROUTES as VENDOR_INVOICE_ROUTES
from .views import AgreementCommitmentStatusApi, BudgetStatusApi

# viewsets registered on the API router (config/api_router.py)
ROUTES = [("invoices", InvoiceViewSet, "invoice")]

PATHS = [
    path(
        "agreements/<str:reference>/commitment-status",
        AgreementCommitmentStatusApi.as_view(),
        name="agreement-commitment-status",
    ),
    path("budgets/<int:pk>/status", BudgetStatusApi.as_view(), name="budget-status"),
    path("periods/", PeriodListApi.as_view(), name="period-list"),
    path("periods/<str:period>/close", PeriodCloseApi.as_view(), name="period-close"),
    path("invoices/generate", InvoiceGenerateApi.as_view(), name="invoice-generate"),
    path("invoices/issue", InvoiceIssueMonthApi.as_view(), name="invoice-issue-month"),
    # API.md writes the invoice actions without a trailing slash; the router's forms (with one) work too
    *(
        path(f"invoices/<int:pk>/{url}", InvoiceViewSet.as_view({method: action}), name=f"invoice-{url}-bare")
        for url, method, action in [
            ("approve", "post", "approve"),
            ("issue", "post", "issue"),
            ("pdf", "get", "pdf"),
            ("credit-note", "post", "credit_note"),
        ]
    ),
]
ROUTES += VENDOR_INVOICE_ROUTES  # vendor invoices, reconciliations, GL accounts
PATHS += VENDOR_INVOICE_PATHS  # their actions, accruals and the GL export
ROUTES += sla.ROUTES  # SLA evaluations
PATHS += sla.PATHS  # their evaluate and status actions
PATHS += scorecard.PATHS  # vendors/{slug}/scorecard and their performance samples upload
