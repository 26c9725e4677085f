"""Department pages: the tree, a department with its subtree, managers and budgets."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect

from core.policy import CHANGE, can, is_department_scoped
from core.scoping import scope_queryset, visible_department_ids
from core.views.generic import ObjectDeleteView, ObjectDetailView, ObjectEditView, ObjectListView

from .. import selectors, services
from ..filtersets import DepartmentFilterSet
from ..forms import DepartmentForm
from ..models import Department
from ..tables import DepartmentTable


class DepartmentListView(ObjectListView):
    policy_resource = "department"
    department_field = "id"
    table_class = DepartmentTable
    filterset_class = DepartmentFilterSet
    title = "Departments"
    create_url_name = "procurement:department_create"
    empty_message = "No departments match."

    def get_queryset(self):
        return self.scope(selectors.department_list())

    def get_table_data(self):
        departments = super().get_table_data()
        if self.request.GET.get("sort"):
            return departments  # sorted by the chosen column instead of drawn as a tree
        return selectors.department_tree(departments)


class DepartmentDetailView(ObjectDetailView):
    policy_resource = "department"
    department_field = "id"
    model = Department
    slug_field = slug_url_kwarg = "code"
    template_name = "procurement/department_detail.html"

    def get_queryset(self):
        return self.scope(selectors.department_list())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        department = self.object
        ancestors = selectors.department_ancestors(department)
        visible = visible_department_ids(user) if is_department_scoped(user, "department") else None
        for ancestor in ancestors:  # a manager sees the path above their departments, not its pages
            ancestor.linkable = visible is None or ancestor.pk in visible
        subtree = selectors.department_subtree(department)
        budgets = scope_queryset(
            selectors.budget_list().filter(department_id__in=[department.pk, *(d.pk for d in subtree)]),
            user,
            resource="budget",
            department_field="department_id",
        ).order_by("-fiscal_year", "department__code", "vendor__name")
        context.update(
            ancestors=ancestors,
            subtree=subtree,
            budgets=budgets,
            can_view_budgets=can(user, "budget"),
            can_change_budgets=can(user, "budget", CHANGE),
            can_edit_department=context["can_change"] and not department.is_system,
        )
        return context


class SystemDepartmentGuard:
    """The system department (UNALLOCATED) is kept by TokenLedger: its pages offer no edit."""

    def refuse_system(self, department):
        messages.error(self.request, f"{department.code} is kept by TokenLedger and cannot be changed or deleted.")
        return redirect(department.get_absolute_url())


class DepartmentEditView(SystemDepartmentGuard, ObjectEditView):
    policy_resource = "department"
    department_field = "id"
    model = Department
    form_class = DepartmentForm
    lookup_field = "code"

    def get(self, request, *args, **kwargs):
        if self.object is not None and self.object.is_system:
            return self.refuse_system(self.object)
        return super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        if self.object is not None and self.object.is_system:
            return self.refuse_system(self.object)
        return super().post(request, *args, **kwargs)

    @property
    def title(self):
        return f"Edit {self.object}" if self.object else "New department"

    def get_initial(self):
        initial = super().get_initial()
        if self.object is None and self.request.GET.get("parent"):
            initial["parent"] = self.request.GET["parent"]
        return initial

    def perform(self, form):
        return services.department_save(department=self.object, actor=self.request.user, **form.service_data())


class DepartmentDeleteView(ObjectDeleteView):
    policy_resource = "department"
    department_field = "id"
    model = Department
    lookup_field = "code"
    success_url_name = "procurement:department_list"

    def perform(self, obj):
        services.department_delete(department=obj, actor=self.request.user)
