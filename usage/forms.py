"""Forms of the usage pages: the explorer's filters, the file upload, sources and attribution rules.

The services validate what they save; these forms only check what was typed and hand it over
(their messages come back beside the fields, see core.views.generic.add_service_errors)."""

from __future__ import annotations

from datetime import date, datetime

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from procurement.forms import ServiceModelForm
from procurement.models import Department, Vendor
from procurement.widgets import DateInput

from .models import AttributionRule, Source
from .models.attribution import DIMENSIONS
from .models.sources import Format
from .pipeline.feeds import FEEDS

# In the order of the table's columns: when, who, what.
GROUP_CHOICES = [
    ("day", "Day"),
    ("month", "Month"),
    ("department", "Department"),
    ("vendor", "Vendor"),
    ("model", "Model"),
]
DEFAULT_GROUPS = ("day", "vendor")
METRIC_CHOICES = [("tokens", "Tokens"), ("cost", "Cost")]


def month_bounds(today: date) -> tuple[date, date]:
    """The first day of `today`'s month and the first day of the next (exclusive end)."""
    first = today.replace(day=1)
    following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return first, following


def split_values(text: str) -> tuple[str, ...]:
    """ "gpt-4o, gpt-4o-mini" → ("gpt-4o", "gpt-4o-mini"), without blanks or repeats."""
    return tuple(dict.fromkeys(v.strip() for v in (text or "").split(",") if v.strip()))


class ExplorerForm(forms.Form):
    """The explorer's filters. Unbound (no query string) it stands for its defaults: this
    month, grouped by day and vendor, charting tokens."""

    start = forms.DateField(widget=DateInput, help_text="First day included.")
    end = forms.DateField(widget=DateInput, help_text="Exclusive: the day after the last one shown.")
    vendor = forms.ModelMultipleChoiceField(
        queryset=Vendor.objects.order_by("name"),
        to_field_name="slug",
        required=False,
        help_text="None selected: every vendor.",
    )
    department = forms.ModelMultipleChoiceField(
        queryset=Department.objects.none(),
        to_field_name="code",
        required=False,
        help_text="Includes its sub-departments. None selected: every department you may see.",
    )
    model = forms.CharField(
        required=False,
        help_text="As the vendor bills it; several separated by commas. Empty: every model.",
        widget=forms.TextInput(attrs={"list": "usage-models", "autocomplete": "off"}),
    )
    group_by = forms.MultipleChoiceField(
        choices=GROUP_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Group by",
        help_text="None: one total row.",
    )
    metric = forms.ChoiceField(choices=METRIC_CHOICES, widget=forms.RadioSelect, label="Chart", required=False)

    def __init__(self, *args, departments=None, today: date, **kwargs):
        super().__init__(*args, **kwargs)
        start, end = month_bounds(today)
        self.fields["start"].initial = start
        self.fields["end"].initial = end
        self.fields["group_by"].initial = list(DEFAULT_GROUPS)
        self.fields["metric"].initial = "tokens"
        self.fields["department"].queryset = departments if departments is not None else Department.objects.none()

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and end <= start:
            self.add_error("end", "The end is exclusive and must come after the start.")
        data["models"] = split_values(data.get("model", ""))
        data["metric"] = data.get("metric") or "tokens"
        return data

    def query_values(self) -> dict:
        """The filters in effect: the bound form's cleaned data, else the defaults."""
        if self.is_bound:
            data = self.cleaned_data
            return {
                "start": data["start"],
                "end": data["end"],
                "vendors": tuple(v.slug for v in data["vendor"]),
                "departments": tuple(d.code for d in data["department"]),
                "models": data["models"],
                "group_by": tuple(g for g, _ in GROUP_CHOICES if g in data["group_by"]),
                "metric": data["metric"],
            }
        return {
            "start": self.fields["start"].initial,
            "end": self.fields["end"].initial,
            "vendors": (),
            "departments": (),
            "models": (),
            "group_by": DEFAULT_GROUPS,
            "metric": "tokens",
        }


UPLOAD_FORMATS = [(value, label) for value, label in Format.choices if value in FEEDS]
TRACE_FIELDS = ("vendor", "model", "timezone", "start")


class UploadForm(forms.Form):
    file = forms.FileField(
        help_text=(
            f"UTF-8 text (CSV, JSON or NDJSON), at most {settings.USAGE_UPLOAD_MAX_BYTES // (1024 * 1024)} MiB. "
            "The file is kept with its run, so a failed run can be looked into."
        )
    )
    format = forms.ChoiceField(
        choices=UPLOAD_FORMATS,
        help_text=(
            "<strong>Generic CSV</strong>: a header row naming the record fields of the API "
            "(vendor, model, bucket_start, input_tokens, …). "
            "<strong>NDJSON</strong>: one JSON record per line, as POST /api/v1/usage/records takes them. "
            "<strong>Request trace</strong>: one request per line, in the Azure LLM inference trace layout "
            "(TIMESTAMP, ContextTokens, GeneratedTokens) or the Mooncake layout (timestamp in ms, "
            "input_length, output_length)."
        ),
    )
    source = forms.ModelChoiceField(
        queryset=Source.objects.filter(is_active=True).order_by("name"),
        to_field_name="slug",
        help_text="The feed the usage belongs to; records without their own source are counted under it.",
    )
    vendor = forms.ModelChoiceField(
        queryset=Vendor.objects.order_by("name"),
        to_field_name="slug",
        required=False,
        empty_label="— choose for a request trace —",
        help_text="Request traces only: whose requests they are.",
    )
    model = forms.CharField(
        required=False, max_length=200, help_text="Request traces only: the model billed, as the vendor names it."
    )
    timezone = forms.CharField(
        required=False,
        label="Time zone",
        initial="UTC",
        max_length=64,
        help_text="Request traces only: the IANA time zone of timestamps without an offset, e.g. Asia/Shanghai.",
    )
    start = forms.CharField(
        required=False,
        label="Start",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}),
        help_text=(
            "Request traces with relative timestamps only (Mooncake: milliseconds from the start): "
            "when the trace began, in the time zone above."
        ),
    )

    def clean_start(self) -> str:
        value = self.cleaned_data["start"].strip()
        if value:
            try:
                datetime.fromisoformat(value)
            except ValueError:
                raise ValidationError("Give a date and time, e.g. 2026-03-02T09:00:00.") from None
        return value

    def service_options(self) -> dict:
        """The options of a request trace upload (other formats take none)."""
        data = self.cleaned_data
        if data["format"] != Format.REQUEST_TRACE:
            return {}
        options = {
            "vendor": data["vendor"].slug if data.get("vendor") else "",
            "model": data.get("model", "").strip(),
            "timezone": data.get("timezone", "").strip() or "UTC",
            "start": data.get("start", ""),
        }
        return {key: value for key, value in options.items() if value}


class KeyedChoicesForm(ServiceModelForm):
    """Choice fields that name related objects by slug or code (`to_field_name`) start, on an
    edit, from the object's slug or code (a ModelForm's initial value is the primary key)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            key = getattr(field, "to_field_name", None)
            related = getattr(self.instance, name, None) if self.instance.pk else None
            if key and related is not None:
                self.initial[name] = getattr(related, key)


class SourceForm(KeyedChoicesForm):
    vendor = forms.ModelChoiceField(
        queryset=Vendor.objects.order_by("name"),
        to_field_name="slug",
        required=False,
        empty_label="— several vendors —",
        help_text="Empty for feeds that carry several vendors (a gateway, FOCUS).",
    )

    credential = forms.CharField(
        required=False,
        max_length=4000,
        strip=True,
        label="Credential (API key)",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted and never shown again. Leave empty to keep the stored one.",
    )
    base_url = forms.URLField(
        required=False,
        assume_scheme="https",
        label="Base URL",
        help_text="Empty: the vendor's own (https://api.openai.com/v1, https://api.anthropic.com/v1, "
        "https://openrouter.ai/api/v1).",
    )
    forget_credential = forms.BooleanField(
        required=False, label="Forget the stored credential", help_text="The pull then needs the environment variable."
    )

    class Meta:
        model = Source
        fields = [
            "name",
            "slug",
            "vendor",
            "format",
            "is_active",
            "description",
            "pull_enabled",
            "base_url",
            "credential_env",
            "pull_interval_minutes",
            "pull_open_days",
            "pull_start",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 3}), "pull_start": DateInput}
        labels = {
            "pull_enabled": "Pull on a schedule",
            "credential_env": "Credential from environment variable",
            "pull_interval_minutes": "Pull every (minutes)",
            "pull_open_days": "Open days",
            "pull_start": "First day to pull",
        }
        help_texts = {
            "slug": "How records, uploads and API tokens name this source.",
            "is_active": "Inactive sources take no uploads.",
            "pull_enabled": (
                "Pull the vendor's usage or cost API (formats OpenAI usage and costs, Anthropic usage_report and "
                "cost_report, OpenRouter activity) with the credential below."
            ),
            "credential_env": "The name of the variable holding the API key where the worker runs, e.g. "
            "OPENAI_ADMIN_KEY. Wins over a stored credential.",
            "pull_open_days": "The last days a vendor may still change: every pull fetches them again, and "
            "changed buckets are restated.",
            "pull_start": "Only for the first pull; empty: a week back.",
        }

    field_order = [
        "name",
        "slug",
        "vendor",
        "format",
        "is_active",
        "description",
        "pull_enabled",
        "base_url",
        "credential_env",
        "credential",
        "forget_credential",
    ]
    # Kept as they are when the form leaves them empty (a form without the pull settings).
    KEPT_WHEN_EMPTY = ("pull_interval_minutes", "pull_open_days")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.KEPT_WHEN_EMPTY:
            self.fields[name].required = False
        if self.instance.pk and self.instance.credential_set:
            stored = "A credential is stored (encrypted; it is never shown). Leave empty to keep it, or type a new one."
            self.fields["credential"].help_text = stored
        else:
            del self.fields["forget_credential"]

    def service_data(self) -> dict:
        data = super().service_data()
        for name in self.KEPT_WHEN_EMPTY:
            if data.get(name) is None:
                data[name] = getattr(self.instance, name) if self.instance.pk else Source._meta.get_field(name).default
        if self.cleaned_data.get("forget_credential"):
            data["credential"] = None
        elif self.cleaned_data.get("credential"):
            data["credential"] = self.cleaned_data["credential"]
        return data


class AttributionRuleForm(KeyedChoicesForm):
    dimension = forms.CharField(
        max_length=80,
        widget=forms.TextInput(attrs={"list": "rule-dimensions", "autocomplete": "off"}),
        help_text=f"{', '.join(DIMENSIONS)}, or tag:&lt;key&gt; for a record's tag (e.g. tag:team).",
    )
    department = forms.ModelChoiceField(queryset=Department.objects.order_by("code"), to_field_name="code")

    class Meta:
        model = AttributionRule
        fields = ["priority", "dimension", "value", "department", "description"]
        help_texts = {
            "priority": "Among the rules a record matches, the highest priority wins.",
            "value": "The dimension's value in the feed, exactly (e.g. the API key id or project id).",
        }
