"""The agreement list, and the few formatting helpers the agreement pages share."""

from __future__ import annotations

from decimal import Decimal

import django_tables2 as tables
from django.utils.html import format_html

from .models import Agreement, Commitment

STATUS_COLOURS = {
    Agreement.Status.DRAFT: "secondary",
    Agreement.Status.ACTIVE: "green",
    Agreement.Status.EXPIRED: "orange",
    Agreement.Status.TERMINATED: "red",
}

TOKEN_UNITS = ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K"))


def plain_decimal(value: Decimal | None) -> str:
    """0.270000 → "0.27", 100.000000 → "100" (never "1E+2")."""
    if value is None:
        return ""
    return f"{value.normalize():f}"


def plain_price(value: Decimal | None) -> str:
    """A price per 1M tokens with at least two decimals: 0.2 → "0.20", 0.1425 → "0.1425"."""
    if value is None:
        return ""
    value = value.normalize()
    return f"{value.quantize(Decimal('0.01')) if value.as_tuple().exponent > -2 else value:f}"


def readable_tokens(count: int | Decimal | None) -> str:
    """100000000000 → "100 B", 1500000 → "1.5 M"; counts no unit shows exactly keep their digits."""
    if count is None:
        return ""
    count = Decimal(count)
    for size, unit in TOKEN_UNITS:
        if abs(count) >= size:
            scaled = count / size
            if scaled == scaled.quantize(Decimal("0.001")):
                return f"{plain_decimal(scaled)} {unit}"
            break
    return f"{count.normalize():,f}"


def commitment_summary(commitment: Commitment) -> str:
    if commitment.is_tokens:
        amount = f"{readable_tokens(commitment.amount)} tokens"
    else:
        amount = f"{commitment.unit} {commitment.amount.normalize():,f}"
    return f"{commitment.get_treatment_display()} {amount} / {commitment.get_period_display().lower()}"


class AgreementTable(tables.Table):
    reference = tables.Column(linkify=True, attrs={"td": {"class": "text-nowrap"}})
    vendor = tables.Column(accessor="vendor__name", verbose_name="Vendor", order_by="vendor__name")
    term = tables.Column(accessor="start", verbose_name="Term", order_by=("start", "end"))
    currency = tables.Column()
    status = tables.Column()
    po_number = tables.Column(verbose_name="PO", default="—", attrs={"td": {"class": "text-nowrap"}})
    commitments = tables.Column(accessor="commitments", verbose_name="Commitments", orderable=False)
    pending_approval_id = tables.Column(verbose_name="Approval", orderable=False, default="")

    class Meta:
        model = Agreement
        fields = (
            "reference",
            "vendor",
            "term",
            "currency",
            "status",
            "po_number",
            "commitments",
            "pending_approval_id",
        )
        order_by = ("-term",)

    def render_term(self, record):
        return format_html(
            '<span class="text-nowrap">{}</span> → <span class="text-nowrap">{}</span>',
            f"{record.start:%Y-%m-%d}",
            f"{record.end:%Y-%m-%d}",
        )

    def value_term(self, record):
        return f"{record.start:%Y-%m-%d} to {record.end:%Y-%m-%d}"

    def render_status(self, value, record):
        return format_html(
            '<span class="badge bg-{}-lt">{}</span>', STATUS_COLOURS.get(record.status, "secondary"), value
        )

    def value_status(self, record):
        return record.status

    def _commitments(self, record) -> list[str]:
        return [commitment_summary(c) for c in record.commitments.all()]

    def render_commitments(self, record):
        return "; ".join(self._commitments(record)) or "—"

    def value_commitments(self, record):
        return "; ".join(self._commitments(record))

    def render_pending_approval_id(self, value):
        return format_html(
            '<span class="badge bg-yellow-lt text-nowrap" title="A change awaits a second person">#{} pending</span>',
            value,
        )

    def value_pending_approval_id(self, value):
        return f"pending #{value}" if value else ""
