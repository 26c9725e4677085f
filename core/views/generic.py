"""Generic pages (NetBox's pattern): a list that filters, sorts, pages and exports; a detail page
with the change history; a create/edit form. Subclasses are mostly declarations."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.views.generic import DetailView, FormView
from django_filters.views import FilterView
from django_tables2 import SingleTableMixin
from django_tables2.export import ExportMixin

from core.policy import can

from .mixins import PolicyRequiredMixin


def add_service_errors(form, exc: ValidationError, field_map: dict[str, str] | None = None) -> None:
    """Show a service's ValidationError beside the form fields it names (else above the form)."""
    field_map = field_map or {}
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            field = field_map.get(field, field)
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


class ObjectListView(PolicyRequiredMixin, ExportMixin, SingleTableMixin, FilterView):
    template_name = "core/object_list.html"
    export_formats = ("csv", "xlsx")
    export_trigger_param = "_export"
    table_pagination = {"per_page": 50}
    title = ""
    create_url_name: str | None = None
    empty_message = "Nothing here yet."
    queryset = None

    def get_queryset(self):
        return self.scope(super().get_queryset())

    def get_export_filename(self, export_format):
        return f"{self.policy_resource}s.{export_format}"

    def get_table_kwargs(self):
        return {"empty_text": self.empty_message}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["title"] = self.title
        context["create_url_name"] = self.create_url_name if context["can_change"] else None
        return context


class ObjectDetailView(PolicyRequiredMixin, DetailView):
    template_name = "core/object_detail.html"
    history_limit = 50

    def get_queryset(self):
        return self.scope(super().get_queryset())

    def get_history(self):
        history = getattr(self.object, "history", None)
        if history is None:
            return []
        return list(history.select_related("history_user").order_by("-history_date")[: self.history_limit])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if can(self.request.user, "history", "view"):
            context["history"] = self.get_history()
        return context


class ServiceFormView(PolicyRequiredMixin, FormView):
    """A form whose valid data is handed to one service. A service's ValidationError is shown
    beside the field it names, so the user sees what to fix."""

    template_name = "core/object_form.html"
    success_message = "Saved."
    title = ""

    def perform(self, form):
        raise NotImplementedError

    def form_valid(self, form):
        try:
            result = self.perform(form)
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        if self.success_message:
            messages.success(self.request, self.success_message)
        return HttpResponseRedirect(self.get_success_url(result))

    def get_success_url(self, result=None):
        return super().get_success_url()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["title"] = self.title
        return context
