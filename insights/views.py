"""The dashboard (home). It sits in the top layer because it draws on every layer below."""

from __future__ import annotations

from django.views.generic import TemplateView

from core.views.mixins import PolicyRequiredMixin


class DashboardView(PolicyRequiredMixin, TemplateView):
    policy_resource = "dashboard"
    template_name = "insights/dashboard.html"
