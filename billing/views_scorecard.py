"""/vendors/<slug>/scorecard/: a vendor's scorecard page (billing.selectors.scorecard)."""

from __future__ import annotations

from datetime import date, timedelta

from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.generic import TemplateView

from core.views.mixins import PolicyRequiredMixin
from procurement.models import Vendor

from .selectors.scorecard import vendor_scorecard


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


class VendorScorecardView(PolicyRequiredMixin, TemplateView):
    policy_resource = "scorecard"
    template_name = "billing/scorecard.html"

    def get_context_data(self, **kwargs):
        vendor = get_object_or_404(Vendor, slug=kwargs["slug"])
        end = _day(self.request.GET.get("end")) or timezone.now().date() - timedelta(days=1)
        start = _day(self.request.GET.get("start")) or end - timedelta(days=29)
        if start > end:
            start, end = end, start
        return super().get_context_data(card=vendor_scorecard(vendor=vendor, start=start, end=end), **kwargs)
