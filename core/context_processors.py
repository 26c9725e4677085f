from __future__ import annotations

from django.conf import settings

from .navigation import navigation_for


def shell(request) -> dict:
    """What the page shell needs: the menu for this user, and the environment banner."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_sections": [], "debug_banner": settings.DEBUG}
    return {"nav_sections": navigation_for(user, request.path), "debug_banner": settings.DEBUG}
