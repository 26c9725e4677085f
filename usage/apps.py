from django.apps import AppConfig


class UsageConfig(AppConfig):
    """Sources, ingestion runs, usage records, attribution, feed parsers, pulls, rollups, rating."""

    name = "usage"
    verbose_name = "Usage"

    def ready(self) -> None:
        from core import directory

        from .directory import SourceDirectory

        directory.registry.sources = SourceDirectory()
