"""Attribution rule pages: the list in priority order and the forms. Saving or deleting a rule
re-attributes the records it concerns in the background; the message links to that run."""

from __future__ import annotations

from django.contrib import messages
from django.urls import reverse
from django.utils.html import format_html

from core.policy import CHANGE, can
from core.views.generic import ObjectDeleteView, ObjectEditView, ObjectListView

from .. import selectors, services
from ..filtersets import AttributionRuleFilterSet
from ..forms import AttributionRuleForm
from ..models import AttributionRule
from ..tables import AttributionRuleTable


def announce_reattribution(request, what: str = "") -> None:
    """`what` and that the records are being re-attributed, with a link to the run doing it."""
    prefix = f"{what} " if what else ""
    run = selectors.latest_reattribution_run(user=request.user)
    if run is None:
        messages.success(request, f"{prefix}Records are being re-attributed.")
        return
    messages.success(
        request,
        format_html(
            '{}Records are being re-attributed: <a href="{}">re-attribution run #{}</a>.',
            prefix,
            reverse("core:run_detail", kwargs={"pk": run.pk}),
            run.pk,
        ),
    )


class AttributionRuleListView(ObjectListView):
    policy_resource = "attribution_rule"
    table_class = AttributionRuleTable
    filterset_class = AttributionRuleFilterSet
    template_name = "usage/rule_list.html"
    title = "Attribution rules"
    create_url_name = "usage:rule_create"
    empty_message = "No rules yet: all usage without its own department goes to UNALLOCATED."

    def get_queryset(self):
        return self.scope(AttributionRule.objects.select_related("department"))

    def get_table_kwargs(self):
        kwargs = super().get_table_kwargs()
        if not can(self.request.user, self.policy_resource, CHANGE):
            kwargs["exclude"] = ("actions",)
        return kwargs

    def get_export_filename(self, export_format):
        return f"attribution_rules.{export_format}"


class AttributionRuleEditView(ObjectEditView):
    policy_resource = "attribution_rule"
    model = AttributionRule
    form_class = AttributionRuleForm
    template_name = "usage/rule_form.html"
    success_message = ""

    @property
    def title(self):
        return f"Edit rule {self.object}" if self.object else "New attribution rule"

    def perform(self, form):
        rule = services.attribution_rule_save(rule=self.object, actor=self.request.user, **form.service_data())
        announce_reattribution(self.request, "Rule saved.")
        return rule

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if self.object is not None:
            context["delete_url"] = reverse("usage:rule_delete", kwargs={"pk": self.object.pk})
        return context


class AttributionRuleDeleteView(ObjectDeleteView):
    policy_resource = "attribution_rule"
    model = AttributionRule
    success_url_name = "usage:rule_list"

    def perform(self, obj):
        services.attribution_rule_delete(rule=obj, actor=self.request.user)
        announce_reattribution(self.request)
