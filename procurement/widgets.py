"""Form widgets of the procurement pages (Tabler markup comes from templates/django/forms)."""

from __future__ import annotations

from django import forms


class DateInput(forms.DateInput):
    """The browser's date picker; the value travels as ISO 8601 (YYYY-MM-DD)."""

    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class MonthlyAmountsWidget(forms.MultiWidget):
    """Twelve amount inputs in a grid, each labelled with its month of the fiscal year."""

    template_name = "procurement/widgets/monthly_amounts.html"

    def __init__(self, month_labels: list[str], attrs=None):
        self.month_labels = month_labels
        inputs = [forms.TextInput(attrs={"inputmode": "decimal"}) for _ in month_labels]
        super().__init__(inputs, attrs)

    def decompress(self, value):
        return list(value) if value else [None] * len(self.widgets)

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        for subwidget, label in zip(context["widget"]["subwidgets"], self.month_labels, strict=True):
            subwidget["month_label"] = label
        return context
