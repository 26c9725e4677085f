from __future__ import annotations

import django_tables2 as tables

from .models import Vendor


class VendorTable(tables.Table):
    name = tables.Column(linkify=True)
    aliases = tables.Column(accessor="aliases", orderable=False, verbose_name="Aliases")
    data_residency = tables.Column(verbose_name="Residency", orderable=False)
    dpa_signed = tables.BooleanColumn(verbose_name="DPA")

    class Meta:
        model = Vendor
        fields = (
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
        )

    def render_aliases(self, value):
        return ", ".join(value) or "—"

    def value_aliases(self, value):
        return ", ".join(value)

    def render_data_residency(self, value):
        return ", ".join(value) or "—"

    def value_data_residency(self, value):
        return ", ".join(value)
