"""The dashboard (home). It sits in the top layer because it draws on every layer below.

The figures come from insights.selectors.dashboard (daily rollups only, scoped to a manager's
departments); this view picks the day, draws nothing itself and hands out the exports."""

from __future__ import annotations

from datetime import date

from django.http import HttpResponse
from django.utils import timezone
from django.views.generic import TemplateView

from core.exports import neutralise_databook, neutralise_dataset
from core.views.mixins import PolicyRequiredMixin
from usage.views.explorer import EXPORT_TYPES

from . import charts, exports, selectors


class DashboardView(PolicyRequiredMixin, TemplateView):
    """/: `?as_of=YYYY-MM-DD` shows the dashboard as of the end of that day (demos, month-end
    reviews); `?export=csv|xlsx` (or `_export`, as on the list pages) downloads its figures."""

    policy_resource = "dashboard"
    template_name = "insights/dashboard.html"

    def as_of(self) -> tuple[date, str]:
        """The day asked for, else today (UTC); with a message when the day asked for is not a date."""
        today = timezone.now().date()
        text = self.request.GET.get("as_of", "").strip()
        if not text:
            return today, ""
        try:
            return date.fromisoformat(text), ""
        except ValueError:
            return today, f"“{text}” is not a date (YYYY-MM-DD); showing today, {today.isoformat()}."

    def get(self, request, *args, **kwargs):
        as_of, as_of_error = self.as_of()
        board = selectors.dashboard(user=request.user, as_of=as_of)
        export = request.GET.get("export") or request.GET.get("_export")
        if export in EXPORT_TYPES and not as_of_error:
            return self.export(board, export)
        context = self.get_context_data(
            board=board,
            as_of_error=as_of_error,
            daily_chart=charts.daily_chart(board) if board.daily.vendors else None,
            department_chart=charts.department_chart(board) if board.mtd.cost else None,
            vendor_chart=charts.vendor_chart(board) if board.mtd.cost else None,
            **kwargs,
        )
        return self.render_to_response(context)

    def export(self, board: selectors.Dashboard, export_format: str) -> HttpResponse:
        if export_format == "csv":
            content = neutralise_dataset(exports.csv_dataset(board)).export("csv")
        else:  # CSV injection: names are neutralised (core.exports)
            content = neutralise_databook(exports.xlsx_databook(board)).export("xlsx")
        response = HttpResponse(content, content_type=EXPORT_TYPES[export_format])
        response["Content-Disposition"] = f'attachment; filename="dashboard_{board.as_of:%Y-%m-%d}.{export_format}"'
        return response

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["title"] = "Dashboard"
        return context
