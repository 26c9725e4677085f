from django.apps import AppConfig


class UsageConfig(AppConfig):
    """Sources, ingestion runs, usage records, attribution, feed parsers, pulls, rollups, rating."""

    name = "usage"
    verbose_name = "Usage"

    def ready(self) -> None:
        from core import directory

        from .directory import SourceDirectory

        directory.registry.sources = SourceDirectory()
        from core.metrics import register_state

        from .metrics import ingestion_metrics

        register_state(ingestion_metrics)
        from . import tasks  # noqa: F401  (registered here, so eager mode and apply_async find them)
