"""Writes of the procurement app. Every write validates fully and records who made it
(`obj._history_user = actor` before saving, so the change history shows the person)."""

from .budgets import BUDGET_FIELDS, budget_delete, budget_save
from .departments import DEPARTMENT_FIELDS, department_delete, department_save
from .vendors import (
    CERTIFICATION_FIELDS,
    VENDOR_FIELDS,
    VENDOR_MODEL_FIELDS,
    vendor_certification_delete,
    vendor_certification_save,
    vendor_delete,
    vendor_model_delete,
    vendor_model_save,
    vendor_save,
)

__all__ = [
    "BUDGET_FIELDS",
    "CERTIFICATION_FIELDS",
    "DEPARTMENT_FIELDS",
    "VENDOR_FIELDS",
    "VENDOR_MODEL_FIELDS",
    "budget_delete",
    "budget_save",
    "department_delete",
    "department_save",
    "vendor_certification_delete",
    "vendor_certification_save",
    "vendor_delete",
    "vendor_model_delete",
    "vendor_model_save",
    "vendor_save",
]
