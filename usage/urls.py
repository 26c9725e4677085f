from django.urls import path

from . import views

app_name = "usage"

urlpatterns = [
    path("usage/", views.UsageExplorerView.as_view(), name="explorer"),
    path("usage/upload/", views.UploadView.as_view(), name="upload"),
    path("usage/runs/", views.IngestionRunListView.as_view(), name="run_list"),
    path("usage/runs/<int:pk>/", views.IngestionRunDetailView.as_view(), name="run_detail"),
    path("usage/runs/<int:pk>/replay/", views.RejectedRowsReplayView.as_view(), name="run_replay"),
    path("usage/cost-lines/", views.VendorCostLineListView.as_view(), name="cost_line_list"),
    path("usage/sources/", views.SourceListView.as_view(), name="source_list"),
    path("usage/sources/new/", views.SourceEditView.as_view(), name="source_create"),
    path("usage/sources/<slug:slug>/", views.SourceDetailView.as_view(), name="source_detail"),
    path("usage/sources/<slug:slug>/edit/", views.SourceEditView.as_view(), name="source_edit"),
    path("usage/sources/<slug:slug>/delete/", views.SourceDeleteView.as_view(), name="source_delete"),
    path("usage/sources/<slug:slug>/pull/", views.SourcePullView.as_view(), name="source_pull"),
    path("usage/rules/", views.AttributionRuleListView.as_view(), name="rule_list"),
    path("usage/rules/new/", views.AttributionRuleEditView.as_view(), name="rule_create"),
    path("usage/rules/<int:pk>/edit/", views.AttributionRuleEditView.as_view(), name="rule_edit"),
    path("usage/rules/<int:pk>/delete/", views.AttributionRuleDeleteView.as_view(), name="rule_delete"),
]
