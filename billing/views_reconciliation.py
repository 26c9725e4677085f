"""Reconciliation pages (DESIGN.md "Vendor invoices and reconciliation"): the month's board — one
row per vendor with its figures, status and history, finance setting the status in place (htmx)
—, a vendor-month's drill-down by model and by day, vendor invoices (list, form with lines and
document, page with approval), the month's accruals with the GL journal download, and the GL
account codes. Every action calls one service; what a service refuses is shown where it was
asked."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import TemplateView
from django_tables2 import SingleTableMixin

from core.exceptions import ApplicationError, ValidationFailed
from core.exports import ExportMixin
from core.policy import CHANGE, VIEW, can
from core.views.generic import (
    ObjectDeleteView,
    ObjectDetailView,
    ObjectEditView,
    ObjectListView,
    add_service_errors,
)
from core.views.mixins import PolicyRequiredMixin

from .api.vendor_invoices import gl_csv_response
from .filtersets_reconciliation import GlAccountFilterSet, ReconciliationFilterSet, VendorInvoiceFilterSet
from .forms_reconciliation import (
    GlAccountForm,
    ReconciliationStatusForm,
    VendorInvoiceForm,
    VendorInvoiceLineFormSet,
    line_initial,
)
from .gl_export import gl_journal
from .models import GlAccount, Reconciliation, VendorInvoice
from .months import PeriodError, parse_period, previous_month
from .selectors.accruals import accruals_for_month
from .selectors.reconciliation import (
    reconciliation_drilldown,
    reconciliation_histories,
    reconciliation_list,
    vendor_month_figures,
)
from .selectors.vendor_invoices import gl_account_list, vendor_invoice_list
from .services import gl_accounts as gl_account_services
from .services import reconciliation as reconciliation_services
from .services import vendor_invoices as invoice_services
from .tables_reconciliation import AccrualTable, GlAccountTable, ReconciliationTable, VendorInvoiceTable

HISTORY_ON_BOARD = 5


def month_from(request) -> tuple[date, str]:
    """`?period=YYYY-MM`, default the previous month (vendors invoice in arrears); a month that
    does not parse is reported and the default used."""
    raw = (request.GET.get("period") or "").strip()
    if not raw:
        return previous_month(), ""
    try:
        return parse_period(raw), ""
    except PeriodError as exc:
        return previous_month(), f"{exc} Showing {previous_month():%Y-%m}."


def tabs(request, current: str) -> list[dict]:
    """The section's tabs, those the user may open."""
    user = request.user
    entries = [
        ("board", "Board", "billing:reconciliation", "reconciliation"),
        ("invoices", "Vendor invoices", "billing:vendor_invoice_list", "vendor_invoice"),
        ("accruals", "Accruals & GL export", "billing:accruals", "accrual"),
        ("gl_accounts", "GL accounts", "billing:gl_account_list", "gl_account"),
        ("sla", "SLA", "billing:sla_list", "sla_evaluation"),
    ]
    return [
        {"key": key, "label": label, "url": reverse(name), "active": key == current}
        for key, label, name, resource in entries
        if can(user, resource, VIEW)
    ]


class TabsMixin:
    tab = ""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["tabs"] = tabs(self.request, self.tab)
        return context


def _back(request, fallback: str) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


# The board -------------------------------------------------------------------------------------------


def attach_history(rows: list[Reconciliation]) -> list[Reconciliation]:
    histories = reconciliation_histories(rows)
    for row in rows:
        row.recent_history = histories.get(row.pk, [])[:HISTORY_ON_BOARD]
    return rows


class ReconciliationBoardView(TabsMixin, PolicyRequiredMixin, ExportMixin, SingleTableMixin, TemplateView):
    """One month: every vendor with something to reconcile, computed afresh when the page opens."""

    policy_resource = "reconciliation"
    template_name = "billing/reconciliation/board.html"
    table_class = ReconciliationTable
    table_pagination = False
    export_formats = ("csv", "xlsx")
    export_trigger_param = "_export"
    tab = "board"

    def get(self, request, *args, **kwargs):
        self.month, self.month_error = month_from(request)
        reconciliation_services.reconciliations_compute_month(month=self.month, actor=request.user)
        return super().get(request, *args, **kwargs)

    def get_filterset(self):
        data = self.request.GET.copy()
        data.pop("period", None)  # the month picker's; the rows are the month's already
        return ReconciliationFilterSet(data=data, queryset=reconciliation_list().filter(period=self.month))

    def get_table_data(self):
        self.filterset = self.get_filterset()
        queryset = self.filterset.qs if self.filterset.is_valid() else self.filterset.queryset
        return attach_history(list(queryset))

    def get_export_filename(self, export_format):
        return f"reconciliation-{self.month:%Y-%m}.{export_format}"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rows = list(context["table"].data)
        context.update(
            title="Reconciliation",
            month=self.month,
            period=f"{self.month:%Y-%m}",
            month_error=self.month_error,
            filter=self.filterset,
            status_choices=Reconciliation.Status.choices,
            counts=[
                (label, count)
                for status, label in Reconciliation.Status.choices
                if (count := sum(1 for r in rows if r.status == status))
            ],
        )
        return context


class ReconciliationComputeView(PolicyRequiredMixin, View):
    """Recompute a month (finance): the board recomputes on opening, this says so explicitly."""

    policy_resource = "reconciliation"
    policy_action = CHANGE
    http_method_names = ["post"]

    def post(self, request):
        try:
            month = parse_period(request.POST.get("period"))
        except PeriodError as exc:
            messages.error(request, str(exc))
            return redirect("billing:reconciliation")
        rows = reconciliation_services.reconciliations_compute_month(month=month, actor=request.user)
        messages.success(request, f"{month:%Y-%m} recomputed: {len(rows)} vendor{'s' if len(rows) != 1 else ''}.")
        return redirect(f"{reverse('billing:reconciliation')}?period={month:%Y-%m}")


class ReconciliationStatusView(PolicyRequiredMixin, View):
    """Set a status with a note. From the board (htmx) the answer is the row's status cell."""

    policy_resource = "reconciliation"
    policy_action = CHANGE
    http_method_names = ["post"]

    def post(self, request, pk):
        row = get_object_or_404(reconciliation_list(), pk=pk)
        form = ReconciliationStatusForm(request.POST)
        error = ""
        if form.is_valid():
            try:
                row = reconciliation_services.reconciliation_status_set(
                    reconciliation=row,
                    status=form.cleaned_data["status"],
                    note=form.cleaned_data["note"],
                    actor=request.user,
                )
            except ValidationError as exc:
                error = " ".join(exc.messages)
        else:
            error = " ".join(message for errors in form.errors.values() for message in errors)
        row = reconciliation_list().get(pk=row.pk)
        if request.headers.get("HX-Request"):
            attach_history([row])
            context = {
                "record": row,
                "can_change": True,
                "status_error": error,
                "status_choices": Reconciliation.Status.choices,
            }
            return render(request, "billing/reconciliation/_status_cell.html", context, status=400 if error else 200)
        if error:
            messages.error(request, error)
        else:
            messages.success(request, f"{row.vendor.name} {row.period:%Y-%m}: {row.get_status_display().lower()}.")
        fallback = f"{reverse('billing:reconciliation')}?period={row.period:%Y-%m}"
        return HttpResponseRedirect(_back(request, fallback))


class ReconciliationDetailView(TabsMixin, ObjectDetailView):
    """A vendor-month: the figures, warnings, the drill-down by model and by day, the invoices,
    shortfalls and SLA credits that make it, and the history."""

    policy_resource = "reconciliation"
    model = Reconciliation
    template_name = "billing/reconciliation/detail.html"
    tab = "board"

    def get_queryset(self):
        return reconciliation_list()

    def get_object(self, queryset=None):
        row = super().get_object(queryset)
        self.figures = vendor_month_figures(month=row.period, vendor_ids=[row.vendor_id])[row.vendor_id]
        return reconciliation_services.reconciliation_compute(
            vendor=row.vendor, month=row.period, actor=self.request.user, figures=self.figures
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        drill = reconciliation_drilldown(self.figures)
        context.update(
            title=f"{self.object.vendor.name} · {self.object.period:%Y-%m}",
            drill=drill,
            figures=self.figures,
            record=self.object,
            status_choices=Reconciliation.Status.choices,
            board_url=f"{reverse('billing:reconciliation')}?period={self.object.period:%Y-%m}",
            can_view_invoices=can(self.request.user, "vendor_invoice", VIEW),
        )
        return context


# Vendor invoices ------------------------------------------------------------------------------------------------


class VendorInvoiceListView(TabsMixin, ObjectListView):
    policy_resource = "vendor_invoice"
    table_class = VendorInvoiceTable
    filterset_class = VendorInvoiceFilterSet
    template_name = "billing/vendor_invoices/list.html"
    title = "Vendor invoices"
    create_url_name = "billing:vendor_invoice_create"
    empty_message = "No vendor invoices match."
    tab = "invoices"

    def get_queryset(self):
        return vendor_invoice_list()

    def get_export_filename(self, export_format):
        return f"vendor_invoices.{export_format}"


class VendorInvoiceDetailView(TabsMixin, ObjectDetailView):
    policy_resource = "vendor_invoice"
    model = VendorInvoice
    template_name = "billing/vendor_invoices/detail.html"
    tab = "invoices"

    def get_queryset(self):
        return vendor_invoice_list()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        invoice = self.object
        reconciliation = Reconciliation.objects.filter(vendor_id=invoice.vendor_id, period=invoice.period).first()
        context.update(
            title=f"{invoice.vendor.name} invoice {invoice.number}",
            can_approve=can(self.request.user, "vendor_invoice", "approve")
            and invoice.status == VendorInvoice.Status.RECEIVED,
            is_approved=invoice.status == VendorInvoice.Status.APPROVED,
            document_name=invoice.document.name.rsplit("/", 1)[-1] if invoice.document else "",
            reconciliation=reconciliation if can(self.request.user, "reconciliation", VIEW) else None,
            lines=list(invoice.lines.all()),
        )
        return context


class VendorInvoiceEditView(TabsMixin, ObjectEditView):
    """The invoice's fields, its lines (rows added and removed in place) and its document."""

    policy_resource = "vendor_invoice"
    model = VendorInvoice
    form_class = VendorInvoiceForm
    template_name = "billing/vendor_invoices/form.html"
    success_message = "Vendor invoice saved."
    tab = "invoices"

    @property
    def title(self):
        return f"Edit {self.object.vendor.name} invoice {self.object.number}" if self.object else "New vendor invoice"

    def get(self, request, *args, **kwargs):
        if self.object is not None and self.object.status == VendorInvoice.Status.APPROVED:
            messages.error(request, "An approved invoice cannot change.")
            return redirect("billing:vendor_invoice_detail", pk=self.object.pk)
        return super().get(request, *args, **kwargs)

    def get_initial(self):
        initial = super().get_initial()
        if self.object is None and self.request.GET.get("vendor"):
            initial["vendor"] = self.request.GET["vendor"]
        return initial

    def get_formset(self):
        if self.request.method == "POST":
            return VendorInvoiceLineFormSet(self.request.POST, prefix="lines")
        return VendorInvoiceLineFormSet(initial=line_initial(self.object), prefix="lines")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.setdefault("formset", getattr(self, "_formset", None) or self.get_formset())
        context["cancel_url"] = (
            reverse("billing:vendor_invoice_detail", kwargs={"pk": self.object.pk})
            if self.object
            else reverse("billing:vendor_invoice_list")
        )
        return context

    def post(self, request, *args, **kwargs):
        form = self.get_form()
        self._formset = formset = self.get_formset()
        form_ok, formset_ok = form.is_valid(), formset.is_valid()
        if not (form_ok and formset_ok):
            return self.form_invalid(form)
        data = form.service_data()
        lines = formset.lines()
        document = form.cleaned_data.get("document")
        try:
            if self.object is None:
                invoice = invoice_services.vendor_invoice_create(
                    actor=request.user, lines=lines, document=document, **data
                )
            else:
                invoice = invoice_services.vendor_invoice_update(
                    invoice=self.object, actor=request.user, lines=lines, document=document, **data
                )
        except ValidationFailed as exc:  # with per-line errors
            self._field_errors(form, formset, exc.fields)
            return self.form_invalid(form)
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        except ApplicationError as exc:  # the document's size or type, an approved invoice
            self._field_errors(form, formset, exc.extra.get("fields") or {"__all__": [exc.message]})
            return self.form_invalid(form)
        messages.success(request, self.success_message)
        return HttpResponseRedirect(reverse("billing:vendor_invoice_detail", kwargs={"pk": invoice.pk}))

    @staticmethod
    def _field_errors(form, formset, fields: dict) -> None:
        """Each message beside its field; a line's beside the field of its row."""
        for name, problems in fields.items():
            if name == "lines":
                rows = formset.live_forms()
                for row, row_problems in zip(rows, problems, strict=False):
                    for field, messages_ in (row_problems or {}).items():
                        row.add_error(field if field in row.fields else None, messages_)
            else:
                form.add_error(name if name in form.fields else None, problems)


class VendorInvoiceApproveView(PolicyRequiredMixin, View):
    policy_resource = "vendor_invoice"
    policy_action = "approve"
    http_method_names = ["post"]

    def post(self, request, pk):
        invoice = get_object_or_404(vendor_invoice_list(), pk=pk)
        try:
            invoice_services.vendor_invoice_approve(invoice=invoice, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Invoice {invoice.number} approved for payment.")
        return redirect("billing:vendor_invoice_detail", pk=pk)


class VendorInvoiceDeleteView(ObjectDeleteView):
    policy_resource = "vendor_invoice"
    model = VendorInvoice
    success_url_name = "billing:vendor_invoice_list"

    def post(self, request, **kwargs):
        invoice = get_object_or_404(VendorInvoice.objects.select_related("vendor"), pk=kwargs["pk"])
        try:
            invoice_services.vendor_invoice_delete(invoice=invoice, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("billing:vendor_invoice_detail", pk=invoice.pk)
        messages.success(request, f"Invoice {invoice.number} deleted.")
        return redirect(self.success_url_name)


class VendorInvoiceDocumentView(PolicyRequiredMixin, View):
    policy_resource = "vendor_invoice"

    def get(self, request, pk):
        invoice = get_object_or_404(VendorInvoice, pk=pk)
        if not invoice.document:
            raise Http404
        name = invoice.document.name.rsplit("/", 1)[-1]
        return FileResponse(invoice.document.open("rb"), as_attachment=True, filename=name)


# Accruals, the GL journal and GL accounts -------------------------------------------------------------


class AccrualsView(TabsMixin, PolicyRequiredMixin, ExportMixin, SingleTableMixin, TemplateView):
    """The month's accruals per vendor with the total, the GL journal's totals and download, and
    the GL accounts it uses."""

    policy_resource = "accrual"
    template_name = "billing/reconciliation/accruals.html"
    table_class = AccrualTable
    table_pagination = False
    export_formats = ("csv", "xlsx")
    export_trigger_param = "_export"
    tab = "accruals"

    def get(self, request, *args, **kwargs):
        self.month, self.month_error = month_from(request)
        self.report = accruals_for_month(month=self.month)
        return super().get(request, *args, **kwargs)

    def get_table_data(self):
        return self.report.rows

    def get_export_filename(self, export_format):
        return f"accruals-{self.month:%Y-%m}.{export_format}"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        journal = gl_journal(month=self.month)
        accounts = GlAccountTable(gl_account_list(), exclude=("actions",), orderable=False)
        context.update(
            title="Accruals & GL export",
            month=self.month,
            period=f"{self.month:%Y-%m}",
            month_error=self.month_error,
            report=self.report,
            journal=journal,
            accounts=accounts,
            can_change_accounts=can(self.request.user, "gl_account", CHANGE),
            can_view_accounts=can(self.request.user, "gl_account", VIEW),
        )
        return context


class GlExportView(PolicyRequiredMixin, View):
    policy_resource = "accrual"

    def get(self, request):
        month, error = month_from(request)
        if error:
            messages.error(request, error)
            return redirect("billing:accruals")
        return gl_csv_response(gl_journal(month=month))


class GlAccountListView(TabsMixin, ObjectListView):
    policy_resource = "gl_account"
    table_class = GlAccountTable
    filterset_class = GlAccountFilterSet
    template_name = "billing/reconciliation/gl_account_list.html"
    title = "GL accounts"
    create_url_name = "billing:gl_account_create"
    empty_message = "No GL accounts: the journal uses GL_EXPENSE_ACCOUNT and GL_ACCRUAL_ACCOUNT."
    tab = "gl_accounts"

    def get_queryset(self):
        return gl_account_list()

    def get_export_filename(self, export_format):
        return f"gl_accounts.{export_format}"

    def get_table_kwargs(self):
        kwargs = super().get_table_kwargs()
        if not can(self.request.user, "gl_account", CHANGE):
            kwargs["exclude"] = ("actions",)
        return kwargs


class GlAccountEditView(ObjectEditView):
    policy_resource = "gl_account"
    model = GlAccount
    form_class = GlAccountForm

    @property
    def title(self):
        return f"Edit GL account {self.object.account_code}" if self.object else "New GL account"

    def perform(self, form):
        data = {name: form.cleaned_data.get(name) for name in GlAccountForm.FIELDS}
        return gl_account_services.gl_account_save(account=self.object, actor=self.request.user, **data)

    def get_success_url(self, result=None):
        return reverse("billing:gl_account_list")


class GlAccountDeleteView(ObjectDeleteView):
    policy_resource = "gl_account"
    model = GlAccount
    success_url_name = "billing:gl_account_list"

    def perform(self, obj):
        gl_account_services.gl_account_delete(account=obj, actor=self.request.user)

    def post(self, request, **kwargs):
        account = get_object_or_404(GlAccount, pk=kwargs["pk"])
        self.perform(account)
        messages.success(request, f"GL account {account.account_code} deleted.")
        return redirect(self.success_url_name)


# URLs (billing/urls.py adds them) -------------------------------------------------------------------

URLS = [
    path("reconciliation/", ReconciliationBoardView.as_view(), name="reconciliation"),
    path("reconciliation/compute/", ReconciliationComputeView.as_view(), name="reconciliation_compute"),
    path("reconciliation/<int:pk>/", ReconciliationDetailView.as_view(), name="reconciliation_detail"),
    path("reconciliation/<int:pk>/status/", ReconciliationStatusView.as_view(), name="reconciliation_status"),
    path("reconciliation/vendor-invoices/", VendorInvoiceListView.as_view(), name="vendor_invoice_list"),
    path("reconciliation/vendor-invoices/new/", VendorInvoiceEditView.as_view(), name="vendor_invoice_create"),
    path("reconciliation/vendor-invoices/<int:pk>/", VendorInvoiceDetailView.as_view(), name="vendor_invoice_detail"),
    path("reconciliation/vendor-invoices/<int:pk>/edit/", VendorInvoiceEditView.as_view(), name="vendor_invoice_edit"),
    path(
        "reconciliation/vendor-invoices/<int:pk>/approve/",
        VendorInvoiceApproveView.as_view(),
        name="vendor_invoice_approve",
    ),
    path(
        "reconciliation/vendor-invoices/<int:pk>/delete/",
        VendorInvoiceDeleteView.as_view(),
        name="vendor_invoice_delete",
    ),
    path(
        "reconciliation/vendor-invoices/<int:pk>/document/",
        VendorInvoiceDocumentView.as_view(),
        name="vendor_invoice_document",
    ),
    path("reconciliation/accruals/", AccrualsView.as_view(), name="accruals"),
    path("reconciliation/accruals/gl-export/", GlExportView.as_view(), name="gl_export"),
    path("reconciliation/gl-accounts/", GlAccountListView.as_view(), name="gl_account_list"),
    path("reconciliation/gl-accounts/new/", GlAccountEditView.as_view(), name="gl_account_create"),
    path("reconciliation/gl-accounts/<int:pk>/edit/", GlAccountEditView.as_view(), name="gl_account_edit"),
    path("reconciliation/gl-accounts/<int:pk>/delete/", GlAccountDeleteView.as_view(), name="gl_account_delete"),
]
