from django.urls import path

from . import views, views_alerts, views_forecasts, views_reports

app_name = "insights"

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("forecasts/", views_forecasts.ForecastView.as_view(), name="forecast_list"),
    path("forecasts/cash/", views_forecasts.CashView.as_view(), name="cash"),
]

# Alerts (insights/views_alerts.py)
urlpatterns += [
    path("alerts/", views_alerts.AlertListView.as_view(), name="alert_list"),
    path("alerts/evaluate/", views_alerts.AlertEvaluateView.as_view(), name="alert_evaluate"),
    path("alerts/inbox/read-all/", views_alerts.InboxReadAllView.as_view(), name="alert_inbox_read_all"),
    path("alerts/<int:pk>/", views_alerts.AlertDetailView.as_view(), name="alert_detail"),
    path(
        "alerts/<int:pk>/acknowledge/",
        views_alerts.AlertActionView.as_view(action="acknowledge"),
        name="alert_acknowledge",
    ),
    path("alerts/<int:pk>/resolve/", views_alerts.AlertActionView.as_view(action="resolve"), name="alert_resolve"),
    path("alerts/rules/", views_alerts.AlertRuleListView.as_view(), name="alert_rule_list"),
    path("alerts/rules/new/", views_alerts.AlertRuleEditView.as_view(), name="alert_rule_create"),
    path("alerts/rules/<int:pk>/edit/", views_alerts.AlertRuleEditView.as_view(), name="alert_rule_edit"),
    path("alerts/rules/<int:pk>/delete/", views_alerts.AlertRuleDeleteView.as_view(), name="alert_rule_delete"),
]

# Monthly reports (insights/views_reports.py)
urlpatterns += [
    path("reports/", views_reports.ReportListView.as_view(), name="report_list"),
    path("reports/send/", views_reports.ReportSendView.as_view(), name="report_send"),
    path("reports/<int:pk>/", views_reports.ReportDetailView.as_view(), name="report_detail"),
    path("reports/<int:pk>/pdf/", views_reports.ReportPdfView.as_view(), name="report_pdf"),
]
