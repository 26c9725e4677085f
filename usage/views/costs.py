"""Vendor cost lines: what vendors' own cost feeds (OpenAI costs, Anthropic cost_report, FOCUS,
OpenRouter activity) say they charged, exactly as stated, for reconciliation."""

from __future__ import annotations

from core.views.generic import ObjectListView

from .. import selectors
from ..filtersets import VendorCostLineFilterSet
from ..tables import VendorCostLineTable


class VendorCostLineListView(ObjectListView):
    policy_resource = "vendor_cost_line"
    table_class = VendorCostLineTable
    filterset_class = VendorCostLineFilterSet
    title = "Vendor cost lines"
    empty_message = (
        "No cost lines match. They come from vendors' cost feeds: upload a FOCUS file, OpenAI costs, "
        "an Anthropic cost report or OpenRouter activity."
    )

    def get_queryset(self):
        return self.scope(selectors.vendor_cost_lines())

    def get_export_filename(self, export_format):
        return f"vendor_cost_lines.{export_format}"
