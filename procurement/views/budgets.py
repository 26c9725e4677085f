"""Budget pages: the list, a budget with its monthly phasing, the create and edit forms."""

from __future__ import annotations

from decimal import Decimal

from core.selectors import organization_settings
from core.views.generic import ObjectDeleteView, ObjectDetailView, ObjectEditView, ObjectListView

from .. import selectors, services
from ..filtersets import BudgetFilterSet
from ..forms import BudgetForm
from ..models import Budget
from ..tables import BudgetTable


class BudgetListView(ObjectListView):
    policy_resource = "budget"
    department_field = "department_id"
    table_class = BudgetTable
    filterset_class = BudgetFilterSet
    title = "Budgets"
    create_url_name = "procurement:budget_create"
    empty_message = "No budgets match."

    def get_queryset(self):
        return self.scope(selectors.budget_list())


def phasing_rows(budget: Budget, start_month: int) -> list[dict]:
    """The phasing table: each month's amount, the running total and its share of the budget."""
    rows = []
    running = Decimal(0)
    for month, amount in selectors.budget_phasing(budget, start_month=start_month):
        running += amount
        share = (running * 100 / budget.amount).quantize(Decimal("0.1")) if budget.amount else None
        rows.append({"month": month, "amount": amount, "cumulative": running, "cumulative_percent": share})
    return rows


class BudgetDetailView(ObjectDetailView):
    policy_resource = "budget"
    department_field = "department_id"
    model = Budget
    template_name = "procurement/budget_detail.html"

    def get_queryset(self):
        return self.scope(selectors.budget_list())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        budget = self.object
        start_month = organization_settings().fiscal_year_start_month
        first, last = selectors.fiscal_year_bounds(budget.fiscal_year, start_month)
        context.update(
            phasing=phasing_rows(budget, start_month),
            fiscal_year_first_day=first,
            fiscal_year_last_day=last,
            amount=selectors.tidy_amount(budget.amount, budget.currency),
            thresholds=[format(t.normalize(), "f") for t in budget.thresholds],
        )
        return context


class BudgetEditView(ObjectEditView):
    policy_resource = "budget"
    department_field = "department_id"
    model = Budget
    form_class = BudgetForm

    @property
    def title(self):
        return f"Edit budget {self.object}" if self.object else "New budget"

    def get_initial(self):
        initial = super().get_initial()
        if self.object is None:
            for name in ("department", "vendor", "fiscal_year"):
                if self.request.GET.get(name):
                    initial[name] = self.request.GET[name]
        return initial

    def perform(self, form):
        return services.budget_save(budget=self.object, actor=self.request.user, **form.service_data())


class BudgetDeleteView(ObjectDeleteView):
    policy_resource = "budget"
    department_field = "department_id"
    model = Budget
    success_url_name = "procurement:budget_list"

    def perform(self, obj):
        services.budget_delete(budget=obj, actor=self.request.user)
