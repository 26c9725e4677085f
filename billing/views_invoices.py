"""Chargeback invoice pages (DESIGN.md "Periods and chargeback invoices"): the list with the
month's generate and issue runs, an invoice with its lines, actions and history, the issue
confirmation, the credit note form, the PDF, and the period close page.

Every action calls one service of billing.services; what a service refuses (ApplicationError,
Conflict, Forbidden) comes back as a message on the page the action started from."""

from __future__ import annotations

from copy import copy
from datetime import date
from decimal import Decimal

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views import View
from django.views.generic import TemplateView
from django_tables2 import SingleTableView

from accounts.approvals import four_eyes_enabled
from core.currencies import minor_units
from core.exceptions import ApplicationError
from core.exports import ExportMixin
from core.policy import CHANGE, VIEW, can
from core.selectors import job_run_list, organization_settings
from core.views.generic import ObjectDetailView, ObjectListView
from core.views.mixins import PolicyRequiredMixin
from procurement.models import Department

from .api.invoices import invoice_queryset
from .models import Invoice, InvoiceLine, Period
from .months import next_month
from .selectors.periods import period_rows
from .services import invoices as services
from .services.invoices import invoice_credited_by_line
from .services.periods import parse_month, period_close
from .tables_invoices import (
    InvoiceListFilterSet,
    InvoiceTable,
    PeriodTable,
    amount_text,
    line_groups,
    month_has_ended,
    month_validator,
)

RUN_KINDS = ("invoice_generate", "invoice_issue")


def _list_url(**params) -> str:
    url = reverse("billing:invoice_list")
    query = urlencode({key: value for key, value in params.items() if value not in (None, "")})
    return f"{url}?{query}" if query else url


def _form_errors(form: forms.Form) -> str:
    return " ".join(
        f"{form.fields[name].label or name}: {' '.join(errors)}" if name != "__all__" else " ".join(errors)
        for name, errors in form.errors.items()
    )


# Month choices ------------------------------------------------------------------------------------


def closed_months() -> list[date]:
    return list(Period.objects.filter(status=Period.Status.CLOSED).order_by("-month").values_list("month", flat=True))


def months_with_unissued_invoices() -> list[date]:
    """Closed months with invoices not issued yet (with four-eyes on, only approved ones can go)."""
    invoices = Invoice.objects.filter(kind=Invoice.Kind.INVOICE).exclude(status=Invoice.Status.ISSUED)
    if four_eyes_enabled():
        invoices = invoices.filter(status=Invoice.Status.APPROVED)
    months = invoices.filter(period__in=Period.objects.filter(status=Period.Status.CLOSED).values("month")).values_list(
        "period", flat=True
    )
    return sorted(set(months), reverse=True)


def _month_choices(months: list[date]) -> list[tuple[str, str]]:
    return [(f"{m:%Y-%m}", f"{m:%Y-%m}") for m in months]


class MonthForm(forms.Form):
    """A month from a select of the months that make sense; the service decides whether it does
    (and says why not), so any YYYY-MM passes here."""

    period = forms.CharField(label="Month", validators=[month_validator], widget=forms.Select)

    def __init__(self, *args, months: list[date], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["period"].widget.choices = _month_choices(months)

    @property
    def month(self) -> date:
        return parse_month(self.cleaned_data["period"])


class GenerateForm(MonthForm):
    department = forms.ModelChoiceField(
        queryset=Department.objects.order_by("code"),
        to_field_name="code",
        required=False,
        empty_label="— every department —",
        help_text="Empty: every department that owes something for the month.",
    )


# The list, with the generate and issue runs ---------------------------------------------------------


def run_context(run, request) -> dict:
    """What billing/invoices/_run_live.html shows: core's status block with the run's plain
    figures, its lists (warnings, invoices skipped or refused) beside it, and the month's list."""
    result = run.result or {}
    status_run = copy(run)
    status_run.result = {
        key: value for key, value in result.items() if not isinstance(value, list | dict) and key != "message"
    }
    month = date.fromisoformat(run.params["period"]) if run.params.get("period") else None
    return {
        "run": run,
        "status_run": status_run,
        "run_month": f"{month:%Y-%m}" if month else "",
        "run_list_url": _list_url(period=f"{month:%Y-%m}" if month else ""),
        "run_poll_url": request.get_full_path(),
        "run_warnings": result.get("warnings") or [],
        "run_skipped": result.get("skipped") or [],
        "run_errors": result.get("errors") or [],
    }


class InvoiceListView(ObjectListView):
    """Invoices and credit notes (a department manager's departments only). With `?run=<id>` the
    page follows a generate or issue run: an htmx poll of this URL swaps in its progress every
    second and reloads the page once when the run has finished."""

    policy_resource = "invoice"
    department_field = "department_id"
    table_class = InvoiceTable
    filterset_class = InvoiceListFilterSet
    template_name = "billing/invoices/invoice_list.html"
    title = "Invoices"
    empty_message = "No invoices match. Close a month on the periods page, then generate its invoices."

    def get_queryset(self):
        return self.scope(invoice_queryset())

    def get_export_filename(self, export_format):
        return f"invoices.{export_format}"

    def get_run(self):
        raw = self.request.GET.get("run", "")
        if not raw.isdigit():
            return None
        return job_run_list(user=self.request.user).filter(kind__in=RUN_KINDS, pk=int(raw)).first()

    def get(self, request, *args, **kwargs):
        if request.htmx and request.GET.get("run"):
            run = self.get_run()
            if run is None:
                raise Http404("No such run.")
            response = render(request, "billing/invoices/_run_live.html", run_context(run, request))
            if run.is_finished:
                response["HX-Refresh"] = "true"
            return response
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        can_generate = can(user, "invoice", CHANGE)
        can_issue = can(user, "invoice", "issue")
        context.update(
            can_generate=can_generate,
            can_issue=can_issue,
            can_view_periods=can(user, "period", VIEW),
            generate_form=GenerateForm(months=closed_months(), prefix="generate") if can_generate else None,
            issue_form=MonthForm(months=months_with_unissued_invoices(), prefix="issue") if can_issue else None,
            four_eyes=four_eyes_enabled(),
        )
        run = self.get_run()
        if run is not None:
            context.update(run_context(run, self.request))
        return context


class InvoiceGenerateView(PolicyRequiredMixin, View):
    """Start generating (or regenerating the drafts of) a closed month's invoices."""

    policy_resource = "invoice"
    policy_action = CHANGE
    http_method_names = ["post"]

    def post(self, request):
        form = GenerateForm(request.POST, months=[], prefix="generate")
        if not form.is_valid():
            messages.error(request, _form_errors(form))
            return redirect("billing:invoice_list")
        month = form.month
        try:
            run = services.invoices_generate_start(
                month=month, department=form.cleaned_data["department"], actor=request.user
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect(_list_url(period=f"{month:%Y-%m}"))
        messages.info(request, f"Generating the invoices of {month:%Y-%m}.")
        return redirect(_list_url(period=f"{month:%Y-%m}", run=run.pk))


class InvoiceIssueMonthView(PolicyRequiredMixin, View):
    """Start issuing every invoice of a closed month that is ready."""

    policy_resource = "invoice"
    policy_action = "issue"
    http_method_names = ["post"]

    def post(self, request):
        form = MonthForm(request.POST, months=[], prefix="issue")
        if not form.is_valid():
            messages.error(request, _form_errors(form))
            return redirect("billing:invoice_list")
        month = form.month
        try:
            run = services.invoices_issue_start(month=month, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect(_list_url(period=f"{month:%Y-%m}"))
        messages.info(request, f"Issuing the invoices of {month:%Y-%m} that are ready.")
        return redirect(_list_url(period=f"{month:%Y-%m}", run=run.pk))


# One invoice -----------------------------------------------------------------------------------


class InvoiceObjectMixin(PolicyRequiredMixin):
    """The invoice named in the URL, among those the user may see (another department's: 404)."""

    policy_resource = "invoice"
    department_field = "department_id"

    def get_invoice(self, pk) -> Invoice:
        return get_object_or_404(self.scope(invoice_queryset()), pk=pk)

    def back(self, invoice: Invoice):
        return redirect("billing:invoice_detail", pk=invoice.pk)


def invoice_title(invoice: Invoice) -> str:
    kind = invoice.get_kind_display()
    return f"{kind} {invoice.number}" if invoice.number else f"Draft {kind.lower()}"


def credited_by_line(invoice: Invoice) -> dict[int, Decimal]:
    return invoice_credited_by_line(invoice)


def left_to_credit(line: InvoiceLine, credited: Decimal) -> bool:
    """Whether a full credit note would still credit something on the line (a negative line is
    reversed by a full credit note; per-line credits take positive lines only)."""
    remaining = line.amount - credited
    return (line.amount > 0 and remaining > 0) or (line.amount < 0 and remaining < 0)


class InvoiceDetailView(InvoiceObjectMixin, ObjectDetailView):
    model = Invoice
    template_name = "billing/invoices/invoice_detail.html"

    def get_queryset(self):
        return self.scope(invoice_queryset())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        invoice, user = self.object, self.request.user
        lines = list(invoice.lines.select_related("vendor").order_by("position", "id"))
        four_eyes = four_eyes_enabled()
        is_invoice = invoice.kind == Invoice.Kind.INVOICE
        credit_notes = []
        if is_invoice:
            credit_notes = list(self.scope(invoice.credit_notes.all()).order_by("created_at", "id"))
        credit_left = False
        if is_invoice and invoice.is_issued and can(user, "invoice", CHANGE):
            credited = credited_by_line(invoice)
            credit_left = any(left_to_credit(line, credited.get(line.pk, Decimal(0))) for line in lines)
        may_approve = can(user, "invoice", "approve") and invoice.status == Invoice.Status.DRAFT and four_eyes
        context.update(
            title=invoice_title(invoice),
            groups=line_groups(invoice, lines),
            line_count=len(lines),
            total_text=amount_text(invoice.total, invoice.currency),
            credit_notes=[{"note": n, "total": amount_text(n.total, n.currency)} for n in credit_notes],
            credited_total=amount_text(-sum((n.total for n in credit_notes), Decimal(0)), invoice.currency)
            if credit_notes
            else "",
            four_eyes=four_eyes,
            may_approve=may_approve and invoice.created_by_id != user.pk,
            approve_blocked_own=may_approve and invoice.created_by_id == user.pk,
            may_issue=can(user, "invoice", "issue")
            and (
                invoice.status == Invoice.Status.APPROVED or (invoice.status == Invoice.Status.DRAFT and not four_eyes)
            ),
            awaiting_approval=four_eyes and invoice.status == Invoice.Status.DRAFT,
            may_credit=can(user, "invoice", CHANGE) and is_invoice and invoice.is_issued and credit_left,
        )
        return context


class InvoiceApproveView(InvoiceObjectMixin, View):
    policy_action = "approve"
    http_method_names = ["post"]

    def post(self, request, pk: int):
        invoice = self.get_invoice(pk)
        try:
            services.invoice_approve(invoice=invoice, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{invoice_title(invoice)} for {invoice.department.code} approved.")
        return self.back(invoice)


class InvoiceIssueView(InvoiceObjectMixin, TemplateView):
    """GET asks for confirmation (issuing takes a number and freezes the invoice); POST issues."""

    policy_action = "issue"
    template_name = "billing/invoices/invoice_issue_confirm.html"

    def get(self, request, pk: int):
        invoice = self.get_invoice(pk)
        if invoice.is_issued:
            messages.info(request, f"{invoice.number} is issued already.")
            return self.back(invoice)
        series = services.SERIES[invoice.kind]
        return self.render_to_response(
            self.get_context_data(
                object=invoice,
                title=f"Issue {invoice_title(invoice).lower()}",
                total_text=amount_text(invoice.total, invoice.currency),
                number_preview=f"{series}-{timezone.now().year}-…",
                line_count=invoice.lines.count(),
            )
        )

    def post(self, request, pk: int):
        invoice = self.get_invoice(pk)
        try:
            issued = services.invoice_issue(invoice=invoice, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Issued as {issued.number}, due {issued.due_date:%Y-%m-%d}.")
        return self.back(invoice)


class InvoicePdfView(InvoiceObjectMixin, View):
    """The stored PDF of an issued invoice; a draft downloads a preview (rendered, not stored)."""

    http_method_names = ["get"]

    def get(self, request, pk: int):
        invoice = self.get_invoice(pk)
        try:
            data = services.invoice_pdf_store(invoice=invoice)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return self.back(invoice)
        name = invoice.number or f"draft-{invoice.department.code}-{invoice.period_label}"
        response = HttpResponse(data, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
        return response


class CreditNoteForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Printed on the credit note.",
    )
    mode = forms.ChoiceField(
        label="What to credit",
        choices=[("full", "Everything left to credit (a full credit note)"), ("lines", "The amounts below")],
        initial="full",
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, creditable: list[tuple[InvoiceLine, Decimal]], places: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.creditable = creditable
        for line, remaining in creditable:
            # no max_value: the service says how much is left on the line when it is exceeded
            self.fields[self.line_field(line)] = forms.DecimalField(
                required=False,
                min_value=0,
                decimal_places=places,
                max_digits=22,
                initial=remaining.quantize(Decimal(1).scaleb(-places)),
                label=line.description or f"Line {line.position + 1}",
            )

    @staticmethod
    def line_field(line: InvoiceLine) -> str:
        return f"line_{line.pk}"

    def clean(self):
        data = super().clean()
        if data.get("mode") == "lines" and not self.service_lines():
            raise forms.ValidationError("Give an amount to credit on at least one line, or credit everything.")
        return data

    def service_lines(self) -> list[dict] | None:
        """None for a full credit note, else [{"line": id, "amount": "…"}] of the amounts given."""
        if self.cleaned_data.get("mode") != "lines":
            return None
        wanted = []
        for line, _ in self.creditable:
            amount = self.cleaned_data.get(self.line_field(line))
            if amount:
                wanted.append({"line": line.pk, "amount": str(amount)})
        return wanted


class InvoiceCreditNoteView(InvoiceObjectMixin, View):
    """A draft credit note against an issued invoice: in full (the default) or per line, never
    more than what is left to credit (the service checks and says so)."""

    policy_action = CHANGE
    template_name = "billing/invoices/invoice_credit_note.html"

    def dispatch(self, request, *args, **kwargs):
        self.invoice = None
        return super().dispatch(request, *args, **kwargs)

    def _setup(self, pk: int):
        invoice = self.get_invoice(pk)
        if invoice.kind != Invoice.Kind.INVOICE or not invoice.is_issued:
            messages.error(request=self.request, message="Only an issued invoice can be credited.")
            return invoice, None
        lines = list(invoice.lines.select_related("vendor").order_by("position", "id"))
        credited = credited_by_line(invoice)
        rows = []
        for line in lines:
            already = credited.get(line.pk, Decimal(0))
            rows.append({"line": line, "credited": already, "remaining": line.amount - already})
        return invoice, rows

    def _form(self, invoice, rows, data=None):
        creditable = [(r["line"], r["remaining"]) for r in rows if r["line"].amount > 0 and r["remaining"] > 0]
        return CreditNoteForm(data, creditable=creditable, places=minor_units(invoice.currency))

    def _render(self, invoice, rows, form, status=200):
        currency = invoice.currency
        table = []
        for row in rows:
            line = row["line"]
            name = CreditNoteForm.line_field(line)
            table.append(
                {
                    **row,
                    "vendor": line.vendor.name if line.vendor_id else "",
                    "amount_text": amount_text(line.amount, currency),
                    "credited_text": amount_text(row["credited"], currency),
                    "remaining_text": amount_text(row["remaining"], currency),
                    "field": form[name] if name in form.fields else None,
                }
            )
        context = {
            "object": invoice,
            "title": f"Credit note for {invoice.number}",
            "form": form,
            "rows": table,
            "total_text": amount_text(invoice.total, currency),
        }
        return render(self.request, self.template_name, context, status=status)

    def get(self, request, pk: int):
        invoice, rows = self._setup(pk)
        if rows is None:
            return self.back(invoice)
        if not any(left_to_credit(row["line"], row["credited"]) for row in rows):
            messages.info(request, f"Nothing is left to credit on {invoice.number}.")
            return self.back(invoice)
        return self._render(invoice, rows, self._form(invoice, rows))

    def post(self, request, pk: int):
        invoice, rows = self._setup(pk)
        if rows is None:
            return self.back(invoice)
        form = self._form(invoice, rows, request.POST)
        if not form.is_valid():
            return self._render(invoice, rows, form, status=400)
        lines = form.service_lines()
        try:
            note = services.invoice_credit_note_create(
                invoice=invoice, reason=form.cleaned_data["reason"], lines=lines, actor=request.user
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            fields = exc.extra.get("fields") or {}
            for index, errors in (fields.get("lines") or {}).items():
                if lines is not None and str(index).isdigit() and int(index) < len(lines):
                    form.add_error(f"line_{lines[int(index)]['line']}", errors)
            if "reason" in fields:
                form.add_error("reason", fields["reason"])
            return self._render(invoice, rows, form, status=400)
        messages.success(
            request,
            f"Draft credit note of {amount_text(note.total, note.currency)} created against {invoice.number}; "
            "issue it to give it its number.",
        )
        return redirect("billing:invoice_detail", pk=note.pk)


# Periods ---------------------------------------------------------------------------------------


class PeriodListView(PolicyRequiredMixin, ExportMixin, SingleTableView):
    """Months with usage or a period row, newest first, and closing them (finance)."""

    policy_resource = "period"
    table_class = PeriodTable
    template_name = "billing/invoices/period_list.html"
    export_formats = ("csv", "xlsx")
    export_trigger_param = "_export"
    table_pagination = {"per_page": 50}

    def get_export_filename(self, export_format):
        return f"periods.{export_format}"

    def get_queryset(self):
        """The rows of period_rows(), with what the page offers for each month."""
        today = timezone.now().date()
        rows = period_rows()
        for row in rows:
            row["has_ended"] = month_has_ended(row["month"], today)
            row["closable"] = row["status"] == Period.Status.OPEN and row["has_ended"]
            row["unissued"] = row["invoices"] - row["issued"]
            row["usage_start"] = row["month"].isoformat()
            row["usage_end"] = next_month(row["month"]).isoformat()
        return rows

    def get_table_kwargs(self):
        return {
            "currency": organization_settings().reporting_currency,
            "empty_text": "No months yet: a month appears here once usage for it arrives.",
        }

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        context.update(
            title="Periods",
            can_close=can(user, "period", "close"),
            can_generate=can(user, "invoice", CHANGE),
            can_issue=can(user, "invoice", "issue"),
            can_view_invoices=can(user, "invoice", VIEW),
        )
        return context


class PeriodCloseView(PolicyRequiredMixin, View):
    policy_resource = "period"
    policy_action = "close"
    http_method_names = ["post"]

    def post(self, request, period: str):
        try:
            month = parse_month(period)
            closed = period_close(
                month=month,
                actor=request.user,
                acknowledge_unrated=request.POST.get("acknowledge_unrated") == "1",
                acknowledge_unallocated=request.POST.get("acknowledge_unallocated") == "1",
                note=request.POST.get("note", "").strip()[:2000],
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{closed.label} closed. Its invoices can now be generated.")
        return redirect("billing:period_list")
