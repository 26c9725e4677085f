from django.urls import path

from .views import pages

app_name = "core"

urlpatterns = [
    path("settings/", pages.SettingsView.as_view(), name="settings"),
    path("settings/diagnostics/", pages.DiagnosticsStartView.as_view(), name="diagnostics"),
    path("runs/<int:pk>/", pages.RunDetailView.as_view(), name="run_detail"),
]
