from __future__ import annotations

from django.conf import settings

from .navigation import navigation_for


def shell(request) -> dict:
    """What the page shell needs: the menu for this user, and the environment banner.

    The menu is built once per request and kept on it: context processors run for every
    RequestContext, and a page makes several (django-tables2's `{% render_table %}` renders the
    table with the request, a TemplateColumn each of its cells)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_sections": [], "debug_banner": settings.DEBUG}
    sections = getattr(request, "_tl_nav_sections", None)
    if sections is None:
        sections = request._tl_nav_sections = navigation_for(user, request.path)
    return {"nav_sections": sections, "debug_banner": settings.DEBUG}
