"""billing's models: periods, chargeback invoices, vendor invoices and reconciliation, GL accounts,
SLA credits. Re-exported here so other code imports `billing.models`."""

from .gl import GlAccount
from .invoices import Invoice, InvoiceCounter, InvoiceLine
from .periods import Period
from .sla import SlaCredit
from .vendor_invoices import Reconciliation, VendorInvoice, VendorInvoiceLine

__all__ = [
    "GlAccount",
    "Invoice",
    "InvoiceCounter",
    "InvoiceLine",
    "Period",
    "Reconciliation",
    "SlaCredit",
    "VendorInvoice",
    "VendorInvoiceLine",
]
