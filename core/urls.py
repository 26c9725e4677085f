from django.urls import path

from .views import fx, pages

app_name = "core"

urlpatterns = [
    path("settings/", pages.SettingsView.as_view(), name="settings"),
    path("settings/diagnostics/", pages.DiagnosticsStartView.as_view(), name="diagnostics"),
    path("runs/<int:pk>/", pages.RunDetailView.as_view(), name="run_detail"),
    path("fx-rates/", fx.FxRateListView.as_view(), name="fxrate_list"),
    path("fx-rates/new/", fx.FxRateEditView.as_view(), name="fxrate_create"),
    path("fx-rates/import/", fx.FxImportView.as_view(), name="fxrate_import"),
    path("fx-rates/<int:pk>/", fx.FxRateEditView.as_view(), name="fxrate_edit"),
    path("fx-rates/<int:pk>/delete/", fx.FxRateDeleteView.as_view(), name="fxrate_delete"),
]
