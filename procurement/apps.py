from django.apps import AppConfig


class ProcurementConfig(AppConfig):
    name = "procurement"
    verbose_name = "Procurement"

    def ready(self) -> None:
        from core import directory

        from .directory import DepartmentDirectory

        directory.registry.departments = DepartmentDirectory()
