"""Procurement pages: vendors (with certifications and price book), departments, budgets."""

from .budgets import BudgetDeleteView, BudgetDetailView, BudgetEditView, BudgetListView
from .departments import DepartmentDeleteView, DepartmentDetailView, DepartmentEditView, DepartmentListView
from .vendors import (
    CertificationDeleteView,
    CertificationDetailView,
    CertificationEditView,
    CertificationListView,
    VendorDeleteView,
    VendorDetailView,
    VendorEditView,
    VendorListView,
    VendorModelDeleteView,
    VendorModelDetailView,
    VendorModelEditView,
    VendorModelListView,
)

__all__ = [
    "BudgetDeleteView",
    "BudgetDetailView",
    "BudgetEditView",
    "BudgetListView",
    "CertificationDeleteView",
    "CertificationDetailView",
    "CertificationEditView",
    "CertificationListView",
    "DepartmentDeleteView",
    "DepartmentDetailView",
    "DepartmentEditView",
    "DepartmentListView",
    "VendorDeleteView",
    "VendorDetailView",
    "VendorEditView",
    "VendorListView",
    "VendorModelDeleteView",
    "VendorModelDetailView",
    "VendorModelEditView",
    "VendorModelListView",
]
