"""billing's write side: periods, chargeback invoices, vendor invoices and reconciliation."""
