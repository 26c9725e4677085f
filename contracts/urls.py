from django.urls import path

from . import views

app_name = "contracts"

urlpatterns = [
    path("agreements/", views.AgreementListView.as_view(), name="agreement_list"),
    path("agreements/new/", views.AgreementEditView.as_view(), name="agreement_create"),
    path("agreements/<str:reference>/", views.AgreementDetailView.as_view(), name="agreement_detail"),
    path("agreements/<str:reference>/edit/", views.AgreementEditView.as_view(), name="agreement_edit"),
    path("agreements/<str:reference>/document/", views.AgreementDocumentView.as_view(), name="agreement_document"),
    path("agreements/<str:reference>/delete/", views.AgreementDeleteView.as_view(), name="agreement_delete"),
]
