"""Forms of the reconciliation pages: a vendor invoice with its lines (a formset) and document,
a reconciliation's status with a note, a GL account. Forms only shape input; the services
validate the rules and their messages are shown beside the fields they name."""

from __future__ import annotations

from django import forms

from core.currencies import currency_choices
from procurement.models import Department, Vendor
from procurement.widgets import DateInput

from .filtersets_reconciliation import MonthFormField
from .models import GlAccount, Reconciliation, VendorInvoice
from .selectors.vendor_invoices import minor_unit_text
from .services.vendor_invoices import DOCUMENT_TYPES

AMOUNT = {"max_digits": 22, "decimal_places": 6, "widget": forms.TextInput(attrs={"inputmode": "decimal"})}


def tidy(value, currency: str):
    """20.000000 as stored → 20.00, as the invoice shows it."""
    return minor_unit_text(value, currency) if value is not None else None


class VendorInvoiceForm(forms.Form):
    vendor = forms.ModelChoiceField(queryset=Vendor.objects.order_by("name"), to_field_name="slug")
    number = forms.CharField(max_length=64, label="Invoice number")
    po_number = forms.CharField(
        max_length=64, required=False, label="PO number", help_text="Empty: the PO of the vendor's active agreement."
    )
    invoice_date = forms.DateField(widget=DateInput)
    period = MonthFormField(label="Month of usage", help_text="The month the invoice charges (YYYY-MM).")
    due_date = forms.DateField(
        widget=DateInput,
        required=False,
        help_text="Empty: the invoice date + the payment terms (agreement, else vendor).",
    )
    currency = forms.ChoiceField(
        choices=[("", "— the vendor's billing currency —"), *currency_choices()], required=False
    )
    subtotal = forms.DecimalField(
        **AMOUNT, required=False, help_text="Before tax. Empty: the sum of the lines (given, it must be that sum)."
    )
    tax = forms.DecimalField(**AMOUNT, required=False, initial=0)
    total = forms.DecimalField(**AMOUNT, required=False, help_text="Empty: subtotal + tax (given, it must be that).")
    tax_type = forms.ChoiceField(
        choices=[("", "— from the vendor's invoice type —"), *VendorInvoice.TaxType.choices],
        required=False,
        label="Tax document",
    )
    document = forms.FileField(
        required=False,
        help_text="The invoice as PDF, an image, or the e-invoice itself (XML, OFD).",
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(sorted(DOCUMENT_TYPES))}),
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, instance: VendorInvoice | None = None, **kwargs):
        self.instance = instance
        if instance is not None and not kwargs.get("initial"):
            kwargs["initial"] = {
                "vendor": instance.vendor.slug,
                "number": instance.number,
                "po_number": instance.po_number,
                "invoice_date": instance.invoice_date,
                "period": instance.period.strftime("%Y-%m"),
                "due_date": instance.due_date,
                "currency": instance.currency,
                # with lines the subtotal is theirs, and the total follows: left empty, they are
                # worked out again from what is saved (typed in, they must match)
                "subtotal": None if instance.lines.exists() else tidy(instance.subtotal, instance.currency),
                "tax": tidy(instance.tax, instance.currency),
                "total": None,
                "tax_type": instance.tax_type,
                "notes": instance.notes,
            }
        super().__init__(*args, **kwargs)
        if instance is not None:
            self.fields["vendor"].disabled = True

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("document", None)
        if self.instance is not None:
            data.pop("vendor", None)
            # a field emptied on the form: let the service fill it in again
            for name in ("subtotal", "total"):
                if data.get(name) is None:
                    data.pop(name)
        for name in ("currency", "tax_type"):
            if not data.get(name):
                data.pop(name, None)
        if data.get("tax") is None:
            data["tax"] = 0
        return data


class VendorInvoiceLineForm(forms.Form):
    description = forms.CharField(max_length=300, required=False)
    model = forms.CharField(max_length=200, required=False)
    tokens = forms.IntegerField(required=False, min_value=0)
    amount = forms.DecimalField(**AMOUNT, required=False)

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {}) or {}
        return not any(data.get(name) not in (None, "") for name in ("description", "model", "tokens", "amount"))


class BaseLineFormSet(forms.BaseFormSet):
    def lines(self) -> list[dict]:
        """The rows kept (not removed, not left blank), in order."""
        rows = []
        for form in self.forms:
            if self.can_delete and self._should_delete_form(form):
                continue
            if form.is_blank():
                continue
            rows.append({key: form.cleaned_data.get(key) for key in ("description", "model", "tokens", "amount")})
        return rows

    def live_forms(self) -> list[VendorInvoiceLineForm]:
        return [
            form
            for form in self.forms
            if not (self.can_delete and self._should_delete_form(form)) and not form.is_blank()
        ]


VendorInvoiceLineFormSet = forms.formset_factory(
    VendorInvoiceLineForm, formset=BaseLineFormSet, extra=1, can_delete=True, max_num=500, validate_max=True
)


def line_initial(invoice: VendorInvoice | None) -> list[dict]:
    if invoice is None:
        return []
    return [
        {
            "description": line.description,
            "model": line.model,
            "tokens": line.tokens,
            "amount": tidy(line.amount, invoice.currency),
        }
        for line in invoice.lines.all()
    ]


class ReconciliationStatusForm(forms.Form):
    status = forms.ChoiceField(choices=Reconciliation.Status.choices)
    note = forms.CharField(required=False, max_length=4000, widget=forms.TextInput(attrs={"placeholder": "Why"}))


class GlAccountForm(forms.Form):
    """A plain form: the service validates the row (one per purpose and scope) and says which
    row to change, where a ModelForm would answer with the constraint's generic message first."""

    purpose = forms.ChoiceField(choices=GlAccount.Purpose.choices)
    vendor = forms.ModelChoiceField(
        queryset=Vendor.objects.order_by("name"),
        to_field_name="slug",
        required=False,
        empty_label="— every vendor —",
    )
    department = forms.ModelChoiceField(
        queryset=Department.objects.order_by("code"),
        to_field_name="code",
        required=False,
        empty_label="— every department —",
    )
    account_code = forms.CharField(max_length=32, label="Account code")
    cost_centre = forms.CharField(
        max_length=32, required=False, help_text="Overrides the department's code as the cost centre."
    )
    description = forms.CharField(max_length=200, required=False)

    FIELDS = ("purpose", "vendor", "department", "account_code", "cost_centre", "description")

    def __init__(self, *args, instance: GlAccount | None = None, **kwargs):
        if instance is not None and not kwargs.get("initial"):
            kwargs["initial"] = {
                "purpose": instance.purpose,
                "vendor": instance.vendor.slug if instance.vendor_id else None,
                "department": instance.department.code if instance.department_id else None,
                "account_code": instance.account_code,
                "cost_centre": instance.cost_centre,
                "description": instance.description,
            }
        super().__init__(*args, **kwargs)
