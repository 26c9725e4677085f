"""insights' write side: forecasts, alerts."""
