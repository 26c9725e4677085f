from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Chargeback invoices, credit notes, period close, PDFs, vendor invoices, reconciliation, SLA."""

    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from . import tasks  # noqa: F401  (registered here, so eager mode and apply_async find them)
