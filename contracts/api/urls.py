"""contracts' API routes, registered on the project's router (config/api_router.py)."""

from .views import AgreementViewSet

ROUTES = [
    ("agreements", AgreementViewSet, "agreement"),
]
