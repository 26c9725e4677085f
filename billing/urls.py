"""billing's pages: status panels that the agreement and budget pages load with htmx."""

from django.urls import path

from . import views

app_name = "billing"

urlpatterns = [
    path(
        "agreements/<str:reference>/commitment-panel/",
        views.CommitmentPanelView.as_view(),
        name="commitment_panel",
    ),
    path("budgets/<int:pk>/status-panel/", views.BudgetStatusPanelView.as_view(), name="budget_status_panel"),
]
