"""Reads of the billing app: commitment status and budget status (more to come: invoices, SLA)."""

from .budgets import BudgetMonth, BudgetStatus, BudgetThreshold, BudgetVendorActual, budget_status
from .commitments import (
    CommitmentPoint,
    CommitmentStatus,
    commitment_status,
    commitment_statuses,
    commitment_statuses_many,
)

__all__ = [
    "BudgetMonth",
    "BudgetStatus",
    "BudgetThreshold",
    "BudgetVendorActual",
    "CommitmentPoint",
    "CommitmentStatus",
    "budget_status",
    "commitment_status",
    "commitment_statuses",
    "commitment_statuses_many",
]
