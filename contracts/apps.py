from django.apps import AppConfig


class ContractsConfig(AppConfig):
    """Framework agreements, price rules and tiers, commitments, SLA clauses and the rating engine."""

    name = "contracts"
    verbose_name = "Contracts"
