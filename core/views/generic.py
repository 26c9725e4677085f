"""Generic pages (NetBox's pattern): a list that filters, sorts, pages and exports; a detail page
with the change history; a create/edit form. Subclasses are mostly declarations."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import DetailView, FormView
from django_filters.views import FilterView
from django_tables2 import SingleTableMixin

from core.exceptions import ApplicationError
from core.exports import ExportMixin
from core.policy import CHANGE, can

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


class ObjectEditView(ServiceFormView):
    """Create (no lookup in the URL) or edit an object through a ModelForm and one service.

    Subclasses set `model`, `form_class`, `lookup_field` (and the URL kwarg of the same name) and
    implement `perform(form)` returning the saved object."""

    model = None
    lookup_field = "pk"
    policy_action = CHANGE

    def dispatch(self, request, *args, **kwargs):
        self.object = None
        if self.lookup_field in kwargs:
            queryset = self.scope(self.model._default_manager.all()) if request.user.is_authenticated else None
            if queryset is not None:
                self.object = get_object_or_404(queryset, **{self.lookup_field: kwargs[self.lookup_field]})
        return super().dispatch(request, *args, **kwargs)

    @property
    def title(self):
        if self.object is not None:
            return f"Edit {self.object}"
        return f"New {self.model._meta.verbose_name}"

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["instance"] = self.object
        return kwargs

    def get_success_url(self, result=None):
        return result.get_absolute_url()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["object"] = self.object
        return context


class ObjectDeleteView(PolicyRequiredMixin, View):
    """POST deletes through a service; a refusal (in use) comes back as a message."""

    model = None
    lookup_field = "pk"
    policy_action = CHANGE
    success_url_name = ""
    http_method_names = ["post"]

    def perform(self, obj) -> None:
        raise NotImplementedError

    def post(self, request, **kwargs):
        obj = get_object_or_404(
            self.scope(self.model._default_manager.all()), **{self.lookup_field: kwargs[self.lookup_field]}
        )
        try:
            self.perform(obj)
        except (ApplicationError, ValidationError) as exc:
            messages.error(request, getattr(exc, "message", None) or " ".join(exc.messages))
            return redirect(obj.get_absolute_url())
        messages.success(request, f"{obj} deleted.")
        return redirect(self.success_url_name)
