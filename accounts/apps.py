from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from .api import schema  # noqa: F401  (registers the bearer token scheme)
        from .history import install_on_migrate

        # After every migrate (all apps' tables exist by then): the history is append-only.
        post_migrate.connect(install_on_migrate, sender=self, dispatch_uid="accounts.history_guard")
