"""The monthly report archive's table and filters (/reports/)."""

from __future__ import annotations

from decimal import Decimal

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from billing.pdf import money_format
from core.columns import DateColumn, DateTimeColumn

from .api.reports import ReportFilterSet
from .models import MonthlyReport

__all__ = ["ReportFilterSet", "ReportTable"]


class ReportTable(tables.Table):
    period = DateColumn(format="Y-m", verbose_name="Month")
    title = tables.Column(verbose_name="Report")
    trigger = tables.Column(verbose_name="Sent by")
    spend = tables.Column(accessor="summary", verbose_name="Spend", orderable=False)
    recipients = tables.Column(verbose_name="Recipients")
    generated_at = DateTimeColumn(format="Y-m-d H:i", verbose_name="Written (UTC)")
    pdf = tables.Column(accessor="pk", verbose_name="PDF", orderable=False, exclude_from_export=True)

    class Meta:
        model = MonthlyReport
        fields = ("period", "title", "trigger", "spend", "recipients", "generated_at", "pdf")

    def render_title(self, record):
        return format_html('<a href="{}">{}</a>', reverse("insights:report_detail", args=[record.pk]), record.title)

    def value_title(self, record):
        return record.title

    def render_trigger(self, record):
        return record.get_trigger_display()

    def render_spend(self, record):
        spend = (record.summary or {}).get("spend")
        return money_format(Decimal(spend), record.currency) if spend else "—"

    def value_spend(self, record):
        return (record.summary or {}).get("spend", "")

    def render_pdf(self, record):
        return format_html(
            '<a href="{}" aria-label="Download the PDF of {}">PDF</a>',
            reverse("insights:report_pdf", args=[record.pk]),
            record.title,
        )
