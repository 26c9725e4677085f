"""billing's pages: status panels that the agreement and budget pages load with htmx."""

from django.urls import path

from . import views, views_invoices, views_reconciliation, views_scorecard, views_sla

app_name = "billing"

urlpatterns = [
    path(
        "agreements/<str:reference>/commitment-panel/",
        views.CommitmentPanelView.as_view(),
        name="commitment_panel",
    ),
    path("budgets/<int:pk>/status-panel/", views.BudgetStatusPanelView.as_view(), name="budget_status_panel"),
]

# Chargeback invoices and period close (billing/views_invoices.py)
urlpatterns += [
    path("invoices/", views_invoices.InvoiceListView.as_view(), name="invoice_list"),
    path("invoices/generate/", views_invoices.InvoiceGenerateView.as_view(), name="invoice_generate"),
    path("invoices/issue/", views_invoices.InvoiceIssueMonthView.as_view(), name="invoice_issue_month"),
    path("invoices/periods/", views_invoices.PeriodListView.as_view(), name="period_list"),
    path("invoices/periods/<str:period>/close/", views_invoices.PeriodCloseView.as_view(), name="period_close"),
    path("invoices/<int:pk>/", views_invoices.InvoiceDetailView.as_view(), name="invoice_detail"),
    path("invoices/<int:pk>/pdf/", views_invoices.InvoicePdfView.as_view(), name="invoice_pdf"),
    path("invoices/<int:pk>/approve/", views_invoices.InvoiceApproveView.as_view(), name="invoice_approve"),
    path("invoices/<int:pk>/issue/", views_invoices.InvoiceIssueView.as_view(), name="invoice_issue"),
    path("invoices/<int:pk>/credit-note/", views_invoices.InvoiceCreditNoteView.as_view(), name="invoice_credit_note"),
]

# Reconciliation, vendor invoices, accruals and GL accounts (billing/views_reconciliation.py)
urlpatterns += views_reconciliation.URLS

# Vendor scorecards (billing/views_scorecard.py)
urlpatterns += [
    path("vendors/<slug:slug>/scorecard/", views_scorecard.VendorScorecardView.as_view(), name="vendor_scorecard"),
]

# SLA evaluations (billing/views_sla.py)
urlpatterns += views_sla.URLS
