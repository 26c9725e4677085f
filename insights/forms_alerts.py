"""The alert rule form (administrators and finance) and the note of an acknowledgement."""

from __future__ import annotations

import json
import re

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from core.roles import Role

from .models import Alert, AlertRule
from .services.alerts import RECIPIENT_ROLES


class AlertNoteForm(forms.Form):
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class AlertRuleForm(forms.Form):
    name = forms.CharField(max_length=120)
    types = forms.MultipleChoiceField(
        choices=Alert.Type.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Alert types",
        help_text="None ticked: every type.",
    )
    roles = forms.MultipleChoiceField(
        choices=[(role, Role(role).label) for role in RECIPIENT_ROLES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Every active user of these roles. Department managers receive only alerts about their "
        "departments, never company-wide ones.",
    )
    addresses = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Email addresses, one a line or separated by commas (email channel only).",
    )
    channels = forms.MultipleChoiceField(choices=AlertRule.Channel.choices, widget=forms.CheckboxSelectMultiple)
    webhook_url = forms.URLField(required=False, assume_scheme="https", label="Webhook URL")
    webhook_secret = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Signs each webhook body (X-TokenLedger-Signature: sha256=HMAC). Empty keeps the stored secret.",
    )
    remove_webhook_secret = forms.BooleanField(required=False, label="Remove the stored webhook secret")
    min_severity = forms.ChoiceField(choices=Alert.Severity.choices, label="Minimum severity")
    thresholds = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text='Per alert type, the level an alert must reach for this rule (JSON), e.g. {"budget_threshold": 100, '
        '"contract_notice": 30}.',
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")

    def __init__(self, *args, instance: AlertRule | None = None, **kwargs):
        self.instance = instance
        if instance is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": instance.name,
                    "types": instance.types,
                    "roles": instance.roles,
                    "addresses": "\n".join(instance.addresses),
                    "channels": instance.channels,
                    "webhook_url": instance.webhook_url,
                    "min_severity": instance.min_severity,
                    "thresholds": json.dumps(instance.thresholds) if instance.thresholds else "",
                    "is_active": instance.is_active,
                },
            )
        super().__init__(*args, **kwargs)
        if instance is not None and instance.webhook_secret:
            self.fields["webhook_secret"].help_text = "A secret is stored. " + self.fields["webhook_secret"].help_text
        else:
            del self.fields["remove_webhook_secret"]

    def clean_addresses(self) -> list[str]:
        addresses = [part.strip() for part in re.split(r"[\s,;]+", self.cleaned_data["addresses"]) if part.strip()]
        bad = []
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                bad.append(address)
        if bad:
            raise ValidationError(f"Not an email address: {', '.join(bad)}.")
        return addresses

    def clean_thresholds(self) -> dict:
        text = self.cleaned_data["thresholds"].strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ValidationError(f"Not JSON: {exc}.") from None
        if not isinstance(value, dict):
            raise ValidationError('Give an object of alert type → number, e.g. {"budget_threshold": 100}.')
        return value

    def service_fields(self) -> dict:
        data = self.cleaned_data
        fields = {
            name: data[name]
            for name in ("name", "types", "roles", "addresses", "channels", "webhook_url", "min_severity", "thresholds")
        }
        fields["is_active"] = data["is_active"]
        secret = data.get("webhook_secret") or None
        if data.get("remove_webhook_secret"):
            secret = ""
        return {"webhook_secret": secret, **fields}
