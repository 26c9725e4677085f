from django.urls import path

from . import views

app_name = "procurement"

urlpatterns = [
    path("vendors/", views.VendorListView.as_view(), name="vendor_list"),
    path("vendors/new/", views.VendorEditView.as_view(), name="vendor_create"),
    path("vendors/<slug:slug>/", views.VendorDetailView.as_view(), name="vendor_detail"),
    path("vendors/<slug:slug>/edit/", views.VendorEditView.as_view(), name="vendor_edit"),
    path("vendors/<slug:slug>/delete/", views.VendorDeleteView.as_view(), name="vendor_delete"),
]
