"""The agreement form: one page for the whole agreement.

The terms are one form; the nested tables are formsets — price rules, each with a formset of
its tiers; commitments; SLA clauses, each with a formset of its credit bands. `AgreementEditor`
holds them together, turns what was typed into the `changes` of
`contracts.services.agreement_change` (typed as contracts.specs describes), and puts the
service's errors beside the row and field they name.

Prefixes: `rules-<i>-…`, `rules-<i>-tiers-<j>-…`, `commitments-<i>-…`, `sla-<i>-…`,
`sla-<i>-bands-<j>-…`. Rows are removed by their hidden DELETE flag (static/js/agreement_form.js
sets it and hides the row), so the numbering never has gaps.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError

from core.currencies import currency_choices
from procurement.models import Department, Vendor

from .models import Agreement, Commitment, PriceRule, SlaClause, TokenClass, reference_validator
from .specs import state_of
from .tables import plain_decimal, readable_tokens
from .validation import RowProblem, band_problems, tier_problems

SCALES = {"K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}
DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _scaled(text: str) -> str:
    """ "100 B" → "100000000000", "1,500,000" → "1500000"; anything else is left to the field."""
    text = "".join(text.split()).replace(",", "").replace("_", "")
    if text and text[-1].upper() in SCALES:
        try:
            value = Decimal(text[:-1]) * SCALES[text[-1].upper()]
        except InvalidOperation:
            return text
        return f"{value.normalize():f}"
    return text


def _plain(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(plain_decimal(value))


class ScaledDecimalField(forms.DecimalField):
    """A decimal that may carry separators and a K/M/B/T suffix ("500 B")."""

    widget = forms.TextInput

    def to_python(self, value):
        return super().to_python(_scaled(value) if isinstance(value, str) else value)

    def prepare_value(self, value):
        return readable_tokens(value) if isinstance(value, (int, Decimal)) else value


class TokenCountField(forms.IntegerField):
    """A whole number of tokens: "100000000000", "100,000,000,000" or "100 B"."""

    widget = forms.TextInput

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(**kwargs)

    def to_python(self, value):
        if isinstance(value, str):
            text = _scaled(value)
            try:
                number = Decimal(text) if text else None
            except InvalidOperation:
                raise ValidationError("Enter a number of tokens, e.g. 100000000000 or 100 B.", code="invalid") from None
            if number is not None:
                if not number.is_finite() or number != number.to_integral_value():
                    raise ValidationError("Enter a whole number of tokens.", code="invalid")
                value = str(int(number))
        return super().to_python(value)

    def prepare_value(self, value):
        return readable_tokens(value) if isinstance(value, int) else value


# The terms --------------------------------------------------------------------------------------


class AgreementForm(forms.Form):
    reference = forms.CharField(max_length=64, validators=[reference_validator], help_text="e.g. FA-2026-01")
    vendor = forms.ModelChoiceField(queryset=Vendor.objects.order_by("name"), to_field_name="slug")
    start = forms.DateField(widget=DATE_WIDGET, help_text="First day of the term.")
    end = forms.DateField(widget=DATE_WIDGET, help_text="Last day of the term (inclusive).")
    currency = forms.ChoiceField(choices=lambda: [("", "Choose the currency…"), *currency_choices()])
    status = forms.ChoiceField(choices=Agreement.Status.choices, initial=Agreement.Status.DRAFT)
    payment_terms_days = forms.IntegerField(
        required=False, min_value=0, max_value=365, label="Payment terms (days)", help_text="Blank: the vendor's terms."
    )
    notice_days = forms.IntegerField(
        min_value=0, max_value=730, initial=90, label="Notice (days)", help_text="Days before the end to give notice."
    )
    auto_renew = forms.BooleanField(required=False, label="Renews automatically")
    po_number = forms.CharField(max_length=64, required=False, label="PO number")
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.editing = editing
        if editing:
            self.fields["reference"].disabled = True
            self.fields["reference"].help_text = "The reference cannot change."

    def clean_reference(self) -> str:
        reference = self.cleaned_data["reference"]
        if not self.editing and Agreement.objects.filter(reference=reference).exists():
            raise ValidationError("An agreement with this reference exists.")
        return reference


# Rows of the nested tables ----------------------------------------------------------------------------


class ItemForm(forms.Form):
    """A row that may stand for an existing nested object (`id`) and may hold a nested table."""

    id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    nested_name: str | None = None
    nested_formset = None
    is_removed = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.nested = None
        if self.nested_formset is not None:
            initial = self.initial.get(self.nested_name) or []
            self.nested = self.nested_formset(
                self.data if self.is_bound else None, prefix=f"{self.prefix}-{self.nested_name}", initial=initial
            )
            self.nested.extra = 0 if initial else 1  # a new row comes with one empty sub-row

    def has_changed(self) -> bool:
        return super().has_changed() or (self.nested is not None and self.nested.has_changed())

    def item(self, **context) -> dict:
        data = {name: value for name, value in self.cleaned_data.items() if name not in ("id", "DELETE")}
        if self.nested is not None:
            data[self.nested_name] = [form.item() for form in self.nested.live_forms()]
        return data

    def add_service_errors(self, errors: dict) -> None:
        for field, messages in errors.items():
            if field == self.nested_name:
                self.add_nested_errors(messages)
            elif field in self.fields and not self.fields[field].widget.is_hidden:
                self.add_error(field, messages)
            else:
                self.add_error(None, [f"{field}: {m}" for m in messages])

    def nested_problems(self, rows: list[dict]) -> list[RowProblem]:
        """What contracts.validation finds wrong with the nested table's rows, row by row."""
        return []

    def add_nested_errors(self, messages: list[str]) -> None:
        """The service names the nested table; each problem goes beside the input at fault (marked
        invalid), the table's own ones (no tier at all) above it."""
        rows = self.nested.live_forms()
        placed = set()
        for problem in self.nested_problems([row.item() for row in rows]):
            if problem.message not in messages:
                continue
            if problem.row is not None and problem.row < len(rows):
                rows[problem.row].add_error(problem.field, problem.message)
            else:
                self.nested.non_form_errors().append(problem.message)
            placed.add(problem.message)
        self.nested.non_form_errors().extend(m for m in messages if m not in placed)


class ItemFormSet(forms.BaseFormSet):
    deletion_widget = forms.HiddenInput

    def live_forms(self) -> list[ItemForm]:
        """The rows that count, in order: neither removed nor left empty. Call after is_valid()."""
        live = []
        for form in self.forms:
            form.is_removed = self._should_delete_form(form)
            if not form.is_removed and not (form.empty_permitted and not form.has_changed()):
                live.append(form)
        return live

    def is_valid(self) -> bool:
        valid = super().is_valid()
        for form in self.live_forms():
            if form.nested is not None:
                valid = form.nested.is_valid() and valid
        return valid


def _formset(form):
    return forms.formset_factory(form, formset=ItemFormSet, extra=0, can_delete=True)


class TierForm(ItemForm):
    from_tokens = TokenCountField(label="From tokens", widget=forms.TextInput(attrs={"placeholder": "e.g. 100 B"}))
    price = forms.DecimalField(max_digits=18, decimal_places=6, label="Price per 1M tokens")


class PriceRuleForm(ItemForm):
    model_pattern = forms.CharField(
        max_length=200, label="Model or pattern", widget=forms.TextInput(attrs={"placeholder": "deepseek-*"})
    )
    token_class = forms.ChoiceField(choices=TokenClass.choices, initial=TokenClass.INPUT, label="Token class")
    schedule = forms.ChoiceField(choices=PriceRule.Schedule.choices, initial=PriceRule.Schedule.FLAT)
    effective_from = forms.DateField(required=False, widget=DATE_WIDGET, label="Effective from")
    effective_to = forms.DateField(required=False, widget=DATE_WIDGET, label="Effective to")
    nested_name = "tiers"
    nested_formset = _formset(TierForm)

    def nested_problems(self, rows: list[dict]) -> list[RowProblem]:
        return tier_problems(rows)


class CommitmentForm(ItemForm):
    MONEY = "money"
    unit = forms.ChoiceField(
        choices=[(Commitment.TOKENS, "Tokens"), (MONEY, "Money (agreement currency)")], initial=Commitment.TOKENS
    )
    amount = ScaledDecimalField(max_digits=26, decimal_places=6, help_text="e.g. 500 B tokens, or 120000")
    period = forms.ChoiceField(choices=Commitment.Period.choices, initial=Commitment.Period.ANNUAL)
    treatment = forms.ChoiceField(choices=Commitment.Treatment.choices, initial=Commitment.Treatment.TAKE_OR_PAY)
    token_classes = forms.MultipleChoiceField(
        choices=TokenClass.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Token classes",
        help_text="None ticked: all classes.",
    )
    shortfall_price = forms.DecimalField(
        max_digits=18, decimal_places=6, required=False, label="Shortfall price per 1M", help_text="Take-or-pay tokens."
    )
    shortfall_allocation = forms.ChoiceField(
        choices=Commitment.Allocation.choices, initial=Commitment.Allocation.CENTRAL, label="Shortfall charged to"
    )
    central_department = forms.ModelChoiceField(
        queryset=Department.objects.order_by("code"), to_field_name="code", required=False, label="Central department"
    )

    def item(self, *, currency: str = "", **context) -> dict:
        data = super().item()
        data["unit"] = Commitment.TOKENS if data["unit"] == Commitment.TOKENS else currency
        return data


class SlaBandForm(ItemForm):
    breach_over = forms.DecimalField(max_digits=14, decimal_places=4, label="Breach over")
    credit_percent = forms.DecimalField(max_digits=5, decimal_places=2, label="Credit %")


class SlaClauseForm(ItemForm):
    metric = forms.ChoiceField(choices=SlaClause.Metric.choices, initial=SlaClause.Metric.AVAILABILITY)
    models = forms.CharField(required=False, label="Models", help_text="Names separated by commas; blank: all models.")
    target = forms.DecimalField(max_digits=14, decimal_places=4)
    cap_percent = forms.DecimalField(max_digits=5, decimal_places=2, initial=100, label="Cap %")
    claim_days = forms.IntegerField(min_value=1, max_value=3650, initial=30, label="Claim within (days)")
    nested_name = "bands"
    nested_formset = _formset(SlaBandForm)

    def nested_problems(self, rows: list[dict]) -> list[RowProblem]:
        return band_problems(rows, cap=self.cleaned_data.get("cap_percent"))

    def clean_models(self) -> list[str]:
        return [m.strip() for m in self.cleaned_data["models"].replace("\n", ",").split(",") if m.strip()]


class DocumentForm(forms.Form):
    file = forms.FileField(label="Signed document")


# The whole agreement ----------------------------------------------------------------------------


def _rule_initial(rule: dict) -> dict:
    tiers = [{"from_tokens": t["from_tokens"], "price": _plain(t["price"])} for t in rule["tiers"]]
    return {**rule, "tiers": tiers}


def _commitment_initial(commitment: dict) -> dict:
    return {
        **commitment,
        "unit": Commitment.TOKENS if commitment["unit"] == Commitment.TOKENS else CommitmentForm.MONEY,
        "amount": _plain(commitment["amount"]),
        "shortfall_price": _plain(commitment["shortfall_price"]),
        "central_department": commitment["central_department"].code if commitment["central_department"] else None,
    }


def _clause_initial(clause: dict) -> dict:
    bands = [
        {"breach_over": _plain(b["breach_over"]), "credit_percent": _plain(b["credit_percent"])}
        for b in clause["bands"]
    ]
    return {
        **clause,
        "models": ", ".join(clause["models"]),
        "target": _plain(clause["target"]),
        "cap_percent": _plain(clause["cap_percent"]),
        "bands": bands,
    }


def _without_ids(items: list[dict]) -> list[dict]:
    return [{k: v for k, v in item.items() if k != "id"} for item in items]


class AgreementEditor:
    """The terms form and the three nested formsets of one agreement (new when `agreement` is None)."""

    NESTED = {"price_rules": "rules", "commitments": "commitments", "sla_clauses": "sla"}

    def __init__(self, data=None, *, agreement: Agreement | None = None):
        self.agreement = agreement
        self.state = state_of(agreement) if agreement is not None else None
        state = self.state or {}
        top = {name: value for name, value in state.items() if name not in self.NESTED}
        if "vendor" in top:
            top["vendor"] = top["vendor"].slug
        self.form = AgreementForm(data, initial=top, editing=agreement is not None)
        # Rows are shown from the stored state; posted rows stand on their own (ids included),
        # so a posted row is never mistaken for an untouched empty one.
        unbound = data is None
        self.price_rules = _formset(PriceRuleForm)(
            data, prefix="rules", initial=[_rule_initial(r) for r in state.get("price_rules", [])] if unbound else None
        )
        self.commitments = _formset(CommitmentForm)(
            data,
            prefix="commitments",
            initial=[_commitment_initial(c) for c in state.get("commitments", [])] if unbound else None,
        )
        self.sla_clauses = _formset(SlaClauseForm)(
            data, prefix="sla", initial=[_clause_initial(s) for s in state.get("sla_clauses", [])] if unbound else None
        )
        if agreement is None:
            self.price_rules.extra = 1  # a new agreement starts with one empty price rule to fill in

    @property
    def formsets(self) -> dict[str, ItemFormSet]:
        return {"price_rules": self.price_rules, "commitments": self.commitments, "sla_clauses": self.sla_clauses}

    def is_valid(self) -> bool:
        valid = self.form.is_valid()
        for formset in self.formsets.values():
            valid = formset.is_valid() and valid
        return valid

    def changes(self) -> dict:
        """The `changes` for agreement_change: everything for a new agreement; for an existing one
        the fields and whole nested lists that differ from what is stored (items keep their ids)."""
        top = dict(self.form.cleaned_data)
        if self.agreement is not None:
            top.pop("reference")
        currency = top["currency"]
        nested = {}
        for name, formset in self.formsets.items():
            items = []
            for form in formset.live_forms():
                item = form.item(currency=currency)
                if form.cleaned_data.get("id") is not None:
                    item = {"id": form.cleaned_data["id"], **item}
                items.append(item)
            nested[name] = items
        if self.state is None:
            return {**top, **nested}
        changes = {name: value for name, value in top.items() if self.state[name] != value}
        for name, items in nested.items():
            if _without_ids(items) != _without_ids(self.state[name]):
                changes[name] = items
        return changes

    def add_error(self, message: str) -> None:
        self.form.add_error(None, message)

    def add_service_errors(self, fields: dict) -> None:
        """Put ValidationFailed.fields (DRF-shaped) beside the field, or the row's table, they name."""
        for name, errors in fields.items():
            if name in self.formsets:
                formset = self.formsets[name]
                rows = formset.live_forms()
                for index, row_errors in enumerate(errors):
                    if isinstance(row_errors, dict):
                        if row_errors and index < len(rows):
                            rows[index].add_service_errors(row_errors)
                    else:
                        formset.non_form_errors().append(row_errors)
            elif name in self.form.fields:
                self.form.add_error(name, errors)
            else:
                self.form.add_error(None, [f"{name}: {m}" for m in errors])

    def add_model_errors(self, exc: ValidationError) -> None:
        """Errors of the model's own checks (full_clean) beside the terms' fields."""
        if hasattr(exc, "error_dict"):
            self.add_service_errors(
                {name: [m for e in errs for m in e.messages] for name, errs in exc.error_dict.items()}
            )
        else:
            self.form.add_error(None, exc.messages)
