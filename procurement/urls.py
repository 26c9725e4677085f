from django.urls import path

from . import views

app_name = "procurement"

urlpatterns = [
    path("vendors/", views.VendorListView.as_view(), name="vendor_list"),
    path("vendors/new/", views.VendorEditView.as_view(), name="vendor_create"),
    path("vendors/<slug:slug>/", views.VendorDetailView.as_view(), name="vendor_detail"),
    path("vendors/<slug:slug>/edit/", views.VendorEditView.as_view(), name="vendor_edit"),
    path("vendors/<slug:slug>/delete/", views.VendorDeleteView.as_view(), name="vendor_delete"),
    path("vendor-certifications/", views.CertificationListView.as_view(), name="certification_list"),
    path("vendor-certifications/new/", views.CertificationEditView.as_view(), name="certification_create"),
    path("vendor-certifications/<int:pk>/", views.CertificationDetailView.as_view(), name="certification_detail"),
    path("vendor-certifications/<int:pk>/edit/", views.CertificationEditView.as_view(), name="certification_edit"),
    path(
        "vendor-certifications/<int:pk>/delete/", views.CertificationDeleteView.as_view(), name="certification_delete"
    ),
    path("vendor-models/", views.VendorModelListView.as_view(), name="vendormodel_list"),
    path("vendor-models/new/", views.VendorModelEditView.as_view(), name="vendormodel_create"),
    path("vendor-models/<int:pk>/", views.VendorModelDetailView.as_view(), name="vendormodel_detail"),
    path("vendor-models/<int:pk>/edit/", views.VendorModelEditView.as_view(), name="vendormodel_edit"),
    path("vendor-models/<int:pk>/delete/", views.VendorModelDeleteView.as_view(), name="vendormodel_delete"),
    path("departments/", views.DepartmentListView.as_view(), name="department_list"),
    path("departments/new/", views.DepartmentEditView.as_view(), name="department_create"),
    path("departments/<str:code>/", views.DepartmentDetailView.as_view(), name="department_detail"),
    path("departments/<str:code>/edit/", views.DepartmentEditView.as_view(), name="department_edit"),
    path("departments/<str:code>/delete/", views.DepartmentDeleteView.as_view(), name="department_delete"),
    path("budgets/", views.BudgetListView.as_view(), name="budget_list"),
    path("budgets/new/", views.BudgetEditView.as_view(), name="budget_create"),
    path("budgets/<int:pk>/", views.BudgetDetailView.as_view(), name="budget_detail"),
    path("budgets/<int:pk>/edit/", views.BudgetEditView.as_view(), name="budget_edit"),
    path("budgets/<int:pk>/delete/", views.BudgetDeleteView.as_view(), name="budget_delete"),
]
