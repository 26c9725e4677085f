"""Procurement: departments, vendors and their certifications, the price book, budgets."""

from .budgets import Budget
from .departments import Department, department_code_validator
from .vendors import Vendor, VendorAlias, VendorCertification, VendorModel

__all__ = [
    "Budget",
    "Department",
    "Vendor",
    "VendorAlias",
    "VendorCertification",
    "VendorModel",
    "department_code_validator",
]
