from __future__ import annotations

import calendar
from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError

from core.currencies import currency_choices
from core.selectors import organization_settings

from . import selectors
from .directory import descendant_ids
from .models import Budget, Department, Vendor, VendorCertification, VendorModel
from .models.budgets import default_thresholds
from .widgets import DateInput, MonthlyAmountsWidget


class VendorForm(forms.ModelForm):
    billing_currency = forms.ChoiceField(choices=currency_choices)
    data_residency = forms.CharField(
        required=False, help_text="Region codes separated by commas, e.g. CN, SG or EU, US."
    )
    website = forms.URLField(required=False, assume_scheme="https")
    aliases = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line: the names the vendor carries in feeds (FOCUS ProviderName, …).",
    )

    class Meta:
        model = Vendor
        fields = [
            "name",
            "slug",
            "kind",
            "country",
            "billing_currency",
            "payment_terms_days",
            "invoice_type",
            "data_residency",
            "dpa_signed",
            "aliases",
            "website",
            "notes",
        ]
        widgets = {"notes": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["aliases"] = "\n".join(self.instance.aliases)
            self.initial["data_residency"] = ", ".join(self.instance.data_residency)

    def clean_data_residency(self) -> list[str]:
        return [r.strip().upper() for r in self.cleaned_data["data_residency"].split(",") if r.strip()]

    def clean_aliases(self) -> list[str]:
        return [a.strip() for a in self.cleaned_data["aliases"].splitlines() if a.strip()]

    def clean_country(self) -> str:
        return self.cleaned_data["country"].upper()


class ServiceModelForm(forms.ModelForm):
    """A ModelForm that checks only what was typed (numbers, dates, choices). The object's rules
    are the service's: it validates and saves, and its messages are shown beside the fields
    (ServiceFormView). So the form neither changes the instance nor runs model validation."""

    def _post_clean(self):
        pass

    def service_data(self) -> dict:
        """The cleaned values of the model fields the form edits, as the service takes them."""
        return {name: self.cleaned_data[name] for name in self._meta.fields if name in self.cleaned_data}


def _vendor_field(**kwargs) -> forms.ModelChoiceField:
    return forms.ModelChoiceField(queryset=Vendor.objects.order_by("name"), to_field_name="slug", **kwargs)


PRICE_HELP = "Per 1 000 000 tokens, up to 6 decimals."


class VendorCertificationForm(ServiceModelForm):
    vendor = _vendor_field()

    class Meta:
        model = VendorCertification
        fields = ["vendor", "kind", "valid_from", "valid_until", "reference", "notes"]
        widgets = {"valid_from": DateInput, "valid_until": DateInput, "notes": forms.Textarea(attrs={"rows": 3})}
        help_texts = {"valid_until": "Inclusive: the last day the certificate is valid."}


class VendorModelForm(ServiceModelForm):
    vendor = _vendor_field()
    currency = forms.ChoiceField(
        choices=[("", "— the vendor's billing currency —"), *currency_choices()], required=False
    )

    class Meta:
        model = VendorModel
        fields = [
            "vendor",
            "model",
            "effective_from",
            "effective_to",
            "currency",
            "input_price",
            "cached_input_price",
            "cache_write_price",
            "output_price",
        ]
        widgets = {"effective_from": DateInput, "effective_to": DateInput}
        labels = {
            "input_price": "Input price",
            "cached_input_price": "Cached input price",
            "cache_write_price": "Cache write price",
            "output_price": "Output price",
        }
        help_texts = {
            "model": "The model's name exactly as the vendor bills it, e.g. deepseek-chat.",
            "effective_to": "Inclusive. Leave empty while the price is in force until further notice.",
            "input_price": PRICE_HELP,
            "cached_input_price": PRICE_HELP + " Empty: cached tokens are charged at the input price.",
            "cache_write_price": PRICE_HELP + " Empty: cache writes are charged at the input price.",
            "output_price": PRICE_HELP,
        }


class ManagerChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, user) -> str:
        full_name = user.get_full_name()
        return f"{full_name} ({user.username})" if full_name else user.username


class DepartmentForm(ServiceModelForm):
    parent = forms.ModelChoiceField(
        queryset=Department.objects.none(),
        to_field_name="code",
        required=False,
        empty_label="— none (top level) —",
    )
    managers = ManagerChoiceField(
        queryset=selectors.department_manager_choices(),
        to_field_name="username",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Users with the department manager role. They see this department and everything below it.",
    )

    class Meta:
        model = Department
        fields = ["code", "name", "parent", "managers"]
        help_texts = {"code": "Capital letters, digits, '.', '_' or '-', e.g. FIN or RND-AI."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        parents = Department.objects.filter(is_system=False).order_by("code")
        if self.instance.pk:  # a department cannot move under itself or its own subtree
            parents = parents.exclude(pk__in=descendant_ids([self.instance.pk]))
            self.initial["managers"] = [u.username for u in self.instance.managers.all()]
        self.fields["parent"].queryset = parents
        self.fields["managers"].queryset = selectors.department_manager_choices()

    def clean_code(self) -> str:
        return self.cleaned_data["code"].strip().upper()

    def service_data(self) -> dict:
        data = super().service_data()
        data["managers"] = [user.username for user in data.get("managers", [])]
        return data


class MonthlyAmountsField(forms.MultiValueField):
    """Twelve amounts, all or none (none: the budget is phased evenly)."""

    def __init__(self, month_labels: list[str], **kwargs):
        fields = [forms.DecimalField(max_digits=26, decimal_places=6, required=False) for _ in month_labels]
        kwargs.setdefault("widget", MonthlyAmountsWidget(month_labels))
        super().__init__(fields, require_all_fields=False, required=False, **kwargs)

    def compress(self, data_list):
        if not data_list or all(value is None for value in data_list):
            return []
        missing = [str(i) for i, value in enumerate(data_list, start=1) if value is None]
        if missing:
            raise ValidationError(
                f"Fill in all twelve months (month {', '.join(missing)} is empty), or none to phase evenly."
            )
        return list(data_list)


def _percent_text(value: Decimal) -> str:
    return format(value.normalize(), "f")


class BudgetForm(ServiceModelForm):
    department = forms.ModelChoiceField(queryset=Department.objects.order_by("code"), to_field_name="code")
    vendor = _vendor_field(
        required=False,
        empty_label="— all vendors —",
        help_text="Set a vendor for a budget on that vendor's spend only.",
    )
    currency = forms.ChoiceField(choices=currency_choices)
    thresholds = forms.CharField(
        help_text="Percentages of the budget that raise an alert, ascending, separated by commas.",
    )

    class Meta:
        model = Budget
        fields = [
            "department",
            "fiscal_year",
            "vendor",
            "amount",
            "currency",
            "monthly_amounts",
            "thresholds",
            "action",
            "notes",
        ]
        widgets = {
            "notes": forms.Textarea(attrs={"rows": 2}),
            "amount": forms.TextInput(attrs={"inputmode": "decimal"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        settings = organization_settings()
        start = settings.fiscal_year_start_month
        labels = [f"{i + 1}. {calendar.month_abbr[(start - 1 + i) % 12 + 1]}" for i in range(12)]
        self.fields["monthly_amounts"] = MonthlyAmountsField(
            labels,
            label="Monthly amounts",
            help_text="The budget of each month of the fiscal year; they must add up to the amount. "
            "Leave all empty to phase the budget evenly.",
        )
        self.fields[
            "currency"
        ].help_text = f"Budgets are kept in the reporting currency, {settings.reporting_currency}."
        budget = self.instance
        if budget.pk:
            self.initial["amount"] = selectors.tidy_amount(budget.amount, budget.currency)
            self.initial["monthly_amounts"] = [
                selectors.tidy_amount(v, budget.currency) for v in budget.monthly_amounts
            ]
            self.initial["thresholds"] = ", ".join(_percent_text(t) for t in budget.thresholds)
        else:
            self.initial.setdefault("currency", settings.reporting_currency)
            self.initial.setdefault("thresholds", ", ".join(_percent_text(t) for t in default_thresholds()))
            self.initial.setdefault("fiscal_year", selectors.current_fiscal_year(start))

    def clean_thresholds(self) -> list[Decimal]:
        text = self.cleaned_data["thresholds"]
        message = "Enter percentages separated by commas, e.g. 50, 80, 100."
        try:
            values = [Decimal(part.strip().rstrip("%").strip()) for part in text.split(",") if part.strip()]
        except InvalidOperation:
            raise ValidationError(message) from None
        if not all(value.is_finite() for value in values):
            raise ValidationError(message)
        return values
