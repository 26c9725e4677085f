"""billing's models: periods, chargeback invoices, vendor invoices and reconciliation, GL accounts,
SLA credits and performance samples. Re-exported here so other code imports `billing.models`."""

from .gl import GlAccount
from .invoices import Invoice, InvoiceCounter, InvoiceLine
from .performance import PerformanceSample
from .periods import Period
from .sla import SlaCredit
from .vendor_invoices import Reconciliation, VendorInvoice, VendorInvoiceLine

__all__ = [
    "GlAccount",
    "Invoice",
    "InvoiceCounter",
    "InvoiceLine",
    "PerformanceSample",
    "Period",
    "Reconciliation",
    "SlaCredit",
    "VendorInvoice",
    "VendorInvoiceLine",
]
