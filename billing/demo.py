"""Demo billing: GL account codes, and the month before last closed, invoiced and issued, so the
invoices list, PDFs and the close page have something to show; last month stays open for people
to close themselves."""

from __future__ import annotations

from datetime import date, timedelta

from .models import GlAccount, Invoice, Period

DEMO_GL_ACCOUNTS = [
    (GlAccount.Purpose.EXPENSE, "6420", "IT services — AI model usage"),
    (GlAccount.Purpose.ACCRUAL, "2150", "Accrued AI usage (not yet invoiced)"),
    (GlAccount.Purpose.RECOVERY, "4910", "Internal chargeback recovery — AI usage"),
    (GlAccount.Purpose.PAYABLE, "2000", "Trade payables"),
]


def load_gl_accounts() -> int:
    added = 0
    for purpose, code, description in DEMO_GL_ACCOUNTS:
        _, created = GlAccount.objects.get_or_create(
            purpose=purpose, vendor=None, department=None, defaults={"account_code": code, "description": description}
        )
        added += created
    return added


def load_invoiced_month(today: date, *, actor) -> int:
    """Close the month before last (acknowledging its open items), generate and issue its
    invoices; nothing when it is closed already. Returns the invoices issued."""
    from .services.invoices import invoice_issue, invoices_generate
    from .services.periods import period_close

    month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    month = (month - timedelta(days=1)).replace(day=1)
    if Period.objects.filter(month=month, status=Period.Status.CLOSED).exists():
        return 0
    period_close(
        month=month,
        actor=actor,
        acknowledge_unrated=True,
        acknowledge_unallocated=True,
        note="Demo: closed with the demo data as it is.",
    )
    invoices, _ = invoices_generate(month=month, actor=actor)
    issued = 0
    for invoice in invoices:
        if invoice.status != Invoice.Status.ISSUED:
            invoice_issue(invoice=invoice, actor=actor)
            issued += 1
    return issued
