"""procurement's API routes, registered on the project's router (config/api_router.py)."""

from .views import VendorViewSet

ROUTES = [
    ("vendors", VendorViewSet, "vendor"),
]
