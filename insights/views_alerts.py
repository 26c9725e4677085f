"""Alert pages (DESIGN.md address `/alerts/`): the list that is also the inbox, an alert with its
history and deliveries, acknowledge and resolve (htmx on the list, a plain form on the alert's
page), evaluating now, and the alert rules (administrators and finance change them).

Every action calls one service of insights.services.alerts; what a service refuses (a resolved
alert cannot be acknowledged) comes back as a message beside the buttons or on the page."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Value, When
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from core.exceptions import ApplicationError
from core.navigation import badge_id
from core.policy import CHANGE, VIEW, can
from core.views.generic import ObjectDetailView, ObjectEditView, ObjectListView
from core.views.mixins import PolicyRequiredMixin

from .forms_alerts import AlertNoteForm, AlertRuleForm
from .models import Alert, AlertRule
from .selectors.alerts import inbox_items, inbox_unread_count
from .services import alerts as services
from .tables_alerts import AlertListFilterSet, AlertRuleTable, AlertTable, alert_title, severity_badge

# Figures kept for machines (webhooks, dedup) that the page shows otherwise: the level the rules
# compare, and ids of the budget or commitment the "Open what it is about" button leads to.
HIDDEN_FIGURES = {"level", "budget", "commitment"}


def alert_queryset():
    return Alert.objects.select_related("department", "vendor", "acknowledged_by", "resolved_by")


class AlertListView(ObjectListView):
    """Alerts the user may see, newest first, filtered like the API; unread ones of the user's
    inbox are marked New, and `?inbox=unread` lists only those."""

    policy_resource = "alert"
    department_field = "department_id"
    table_class = AlertTable
    filterset_class = AlertListFilterSet
    template_name = "insights/alerts/alert_list.html"
    title = "Alerts"
    empty_message = "No alerts match. Alerts are evaluated every 15 minutes and after each ingestion run."

    def get_queryset(self):
        rank = Case(*(When(severity=value, then=Value(i)) for i, value in enumerate(Alert.Severity.values)))
        return self.scope(alert_queryset()).annotate(severity_rank=rank).order_by("-raised_at", "-id")

    def get_export_filename(self, export_format):
        return f"alerts.{export_format}"

    def unread_ids(self) -> frozenset[int]:
        return frozenset(inbox_items(self.request.user).filter(read_at__isnull=True).values_list("alert_id", flat=True))

    def get_table_kwargs(self):
        return {**super().get_table_kwargs(), "unread_ids": self.unread_ids()}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        context.update(
            unread_count=len(context["table"].unread_ids),
            inbox_filter=self.request.GET.get("inbox", ""),
            can_evaluate=can(user, "alert", CHANGE),
            can_view_rules=can(user, "alert_rule", VIEW),
        )
        return context


class AlertDetailView(ObjectDetailView):
    """An alert: what, why, its figures, who acknowledged and resolved it (the history), and where
    it was delivered. Opening it reads it in the user's inbox."""

    policy_resource = "alert"
    department_field = "department_id"
    model = Alert
    template_name = "insights/alerts/alert_detail.html"

    def get_queryset(self):
        return self.scope(alert_queryset())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        alert, user = self.object, self.request.user
        services.inbox_alert_read(alert=alert, user=user)
        show_deliveries = can(user, "alert_rule", VIEW)
        context.update(
            title=alert.title,
            severity=severity_badge(alert),
            data_rows=[
                (key.replace("_", " "), value)
                for key, value in sorted((alert.data or {}).items())
                if key not in HIDDEN_FIGURES
            ],
            deliveries=list(alert.deliveries.select_related("rule").order_by("channel", "recipient"))
            if show_deliveries
            else None,
            note_form=AlertNoteForm(),
        )
        return context


def _next_url(request, fallback: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


class AlertActionView(PolicyRequiredMixin, View):
    """POST: acknowledge or resolve (with an optional note). From the list (htmx) the status cell
    is swapped in place; from the alert's page the page is shown again with a message."""

    policy_resource = "alert"
    policy_action = CHANGE
    department_field = "department_id"
    http_method_names = ["post"]
    action = ""
    SERVICES = {"acknowledge": services.alert_acknowledge, "resolve": services.alert_resolve}
    DONE = {"acknowledge": "acknowledged", "resolve": "resolved"}

    def post(self, request, pk):
        alert = get_object_or_404(self.scope(Alert.objects.all()), pk=pk)
        form = AlertNoteForm(request.POST)
        note = form.cleaned_data["note"] if form.is_valid() else ""
        error = ""
        try:
            self.SERVICES[self.action](alert=alert, actor=request.user, note=note)
        except ApplicationError as exc:
            error = exc.message
        if request.htmx:
            # the status cell in place; the row's title, the inbox heading and the sidebar badge out
            # of band, as the action read the alert in the user's inbox
            list_url = _next_url(request, reverse("insights:alert_list"))
            alert = alert_queryset().get(pk=pk)
            context = {
                "alert": alert,
                "title_cell": alert_title(alert, unread=False, oob=True),
                "can_change": True,
                "compact": True,
                "action_error": error,
                "unread_count": inbox_unread_count(request.user, fresh=True),
                "inbox_filter": parse_qs(urlsplit(list_url).query).get("inbox", [""])[0],
                "list_url": list_url,
                "badge_id": badge_id("insights:alert_list"),
            }
            return render(request, "insights/alerts/_action_response.html", context)
        if error:
            messages.error(request, error)
        else:
            messages.success(request, f"Alert {self.DONE[self.action]}.")
        return redirect(_next_url(request, reverse("insights:alert_detail", kwargs={"pk": pk})))


class AlertEvaluateView(PolicyRequiredMixin, View):
    """POST: evaluate every alert type now; the summary comes back as a message."""

    policy_resource = "alert"
    policy_action = CHANGE
    http_method_names = ["post"]

    def post(self, request):
        summary = services.alerts_evaluate()
        level = messages.warning if summary["errors"] else messages.success
        level(request, f"Evaluated: {summary['message']}.")
        return redirect("insights:alert_list")


class InboxReadAllView(PolicyRequiredMixin, View):
    """POST: mark every alert of the user's inbox read."""

    policy_resource = "alert"
    policy_action = VIEW  # one's own inbox: the auditor may tidy theirs too
    http_method_names = ["post"]

    def post(self, request):
        marked = services.inbox_read_all(user=request.user)
        messages.success(request, f"{marked} alert{'s' if marked != 1 else ''} marked read.")
        return redirect(_next_url(request, reverse("insights:alert_list")))


# Rules ----------------------------------------------------------------------------------------------


class AlertRuleListView(ObjectListView):
    policy_resource = "alert_rule"
    model = AlertRule
    table_class = AlertRuleTable
    filterset_fields = ["is_active", "min_severity"]
    title = "Alert rules"
    create_url_name = "insights:alert_rule_create"
    empty_message = "No alert rules: nobody receives alerts. Add one."
    template_name = "insights/alerts/rule_list.html"

    def get_queryset(self):
        return AlertRule.objects.order_by("name")

    def get_export_filename(self, export_format):
        return f"alert-rules.{export_format}"

    def get_table_kwargs(self):
        return {**super().get_table_kwargs(), "can_change": can(self.request.user, "alert_rule", CHANGE)}


class AlertRuleEditView(ObjectEditView):
    policy_resource = "alert_rule"
    model = AlertRule
    form_class = AlertRuleForm
    template_name = "insights/alerts/rule_form.html"
    success_message = "Alert rule saved."

    @property
    def title(self):
        return f"Edit alert rule “{self.object.name}”" if self.object is not None else "New alert rule"

    def perform(self, form):
        return services.alert_rule_save(rule=self.object, actor=self.request.user, **form.service_fields())

    def get_success_url(self, result=None):
        return reverse("insights:alert_rule_list")


class AlertRuleDeleteView(PolicyRequiredMixin, View):
    policy_resource = "alert_rule"
    policy_action = CHANGE
    http_method_names = ["post"]

    def post(self, request, pk):
        rule = get_object_or_404(AlertRule, pk=pk)
        if not can(request.user, "alert_rule", CHANGE):
            raise PermissionDenied
        services.alert_rule_delete(rule=rule, actor=request.user)
        messages.success(request, f"Alert rule “{rule.name}” deleted.")
        return redirect("insights:alert_rule_list")
