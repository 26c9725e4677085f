"""Core pages: organisation settings and background job runs."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.generic import TemplateView

from core import selectors, services
from core.currencies import currency_choices
from core.models import OrganizationSettings
from core.policy import CHANGE, can
from core.roles import Role

from .generic import ServiceFormView
from .mixins import PolicyRequiredMixin


class OrganizationSettingsForm(forms.ModelForm):
    reporting_currency = forms.ChoiceField(choices=currency_choices)
    mfa_required_roles = forms.MultipleChoiceField(
        choices=Role.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Roles that must use two-factor authentication",
    )

    class Meta:
        model = OrganizationSettings
        fields = services.SETTINGS_FIELDS
        widgets = {
            "issuer_address": forms.Textarea(attrs={"rows": 3}),
            "issuer_bank_details": forms.Textarea(attrs={"rows": 3}),
            "invoice_footer": forms.Textarea(attrs={"rows": 2}),
            "fiscal_year_start_month": forms.Select(
                choices=[
                    (m, name)
                    for m, name in enumerate(
                        [
                            "January",
                            "February",
                            "March",
                            "April",
                            "May",
                            "June",
                            "July",
                            "August",
                            "September",
                            "October",
                            "November",
                            "December",
                        ],
                        start=1,
                    )
                ]
            ),
        }


class SettingsView(ServiceFormView):
    policy_resource = "settings"
    template_name = "core/settings.html"
    form_class = OrganizationSettingsForm
    title = "Settings"
    success_message = "Settings saved."

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["instance"] = selectors.organization_settings()
        return kwargs

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        if not can(self.request.user, "settings", CHANGE):
            for field in form.fields.values():
                field.disabled = True
        return form

    def perform(self, form):
        return services.organization_settings_update(actor=self.request.user, **form.cleaned_data)

    def get_success_url(self, result=None):
        return reverse("core:settings")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["history"] = selectors.organization_settings().history.select_related("history_user")[:20]
        return context


class DiagnosticsStartView(PolicyRequiredMixin, TemplateView):
    policy_resource = "settings"
    policy_action = CHANGE
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        email_to = request.user.email if request.POST.get("send_email") else None
        run = services.job_run_create(
            kind="diagnostics",
            created_by=request.user,
            params={"email_to": email_to} if email_to else {},
            task="core.diagnostics",
        )
        messages.info(request, "Diagnostics started.")
        return redirect("core:run_detail", pk=run.pk)


class RunDetailView(PolicyRequiredMixin, TemplateView):
    """A run's progress; the bar refreshes itself through htmx until the run finishes."""

    policy_resource = "job_run"
    owner_field = "created_by"
    template_name = "core/run_detail.html"

    def get_template_names(self):
        if self.request.htmx:
            return ["core/_run_status.html"]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["run"] = get_object_or_404(selectors.job_run_list(user=self.request.user), pk=kwargs["pk"])
        return context
