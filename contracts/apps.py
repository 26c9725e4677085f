from django.apps import AppConfig


class ContractsConfig(AppConfig):
    """Framework agreements, price rules and tiers, commitments, SLA clauses and the rating engine."""

    name = "contracts"
    verbose_name = "Contracts"

    def ready(self) -> None:
        from . import services  # noqa: F401  (registers the four-eyes handler for agreement changes)
