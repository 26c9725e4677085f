"""procurement's API routes, registered on the project's router (config/api_router.py)."""

from .views import BudgetViewSet, DepartmentViewSet, VendorCertificationViewSet, VendorModelViewSet, VendorViewSet

ROUTES = [
    ("vendors", VendorViewSet, "vendor"),
    ("vendor-certifications", VendorCertificationViewSet, "vendor-certification"),
    ("vendor-models", VendorModelViewSet, "vendor-model"),
    ("departments", DepartmentViewSet, "department"),
    ("budgets", BudgetViewSet, "budget"),
]
