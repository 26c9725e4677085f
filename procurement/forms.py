from __future__ import annotations

from django import forms

from core.currencies import currency_choices

from .models import Vendor


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
