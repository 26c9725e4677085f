from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Chargeback invoices, credit notes, period close, PDFs, vendor invoices, reconciliation, SLA."""

    name = "billing"
    verbose_name = "Billing"
