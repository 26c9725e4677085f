"""Reads of the insights app (the dashboard for now; forecasts, alerts and reports to come)."""

from .budgets import BudgetBurn, budget_burn
from .dashboard import (
    CHART_DAYS,
    TOP_MOVERS,
    BreakdownRow,
    Change,
    CommitmentLine,
    DailySpend,
    Dashboard,
    Mover,
    Spend,
    Window,
    dashboard,
    fiscal_year_to_date,
    month_to_date,
    same_days_last_month,
)

__all__ = [
    "CHART_DAYS",
    "TOP_MOVERS",
    "BreakdownRow",
    "BudgetBurn",
    "Change",
    "CommitmentLine",
    "DailySpend",
    "Dashboard",
    "Mover",
    "Spend",
    "Window",
    "budget_burn",
    "dashboard",
    "fiscal_year_to_date",
    "month_to_date",
    "same_days_last_month",
]
