from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from . import tasks  # noqa: F401  (registered here, so eager mode and apply_async find them)
        from .columns import install_signature_cache  # its date columns replace django-tables2's

        install_signature_cache()
