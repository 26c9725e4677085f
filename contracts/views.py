"""Agreement pages: the list, the detail page (terms, nested tables, amendments, the signed
document, a pending four-eyes approval), one form for the whole agreement, and delete."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View

from core.exceptions import Conflict, ValidationFailed
from core.policy import CHANGE, can
from core.views.generic import ObjectDeleteView, ObjectDetailView, ObjectListView
from core.views.mixins import PolicyRequiredMixin

from . import selectors, services
from .filtersets import AgreementFilterSet
from .forms import AgreementEditor, DocumentForm
from .models import Agreement
from .tables import AgreementTable, commitment_summary, plain_decimal, plain_price, readable_tokens

# The filters shown on the list page (the FilterSet, shared with the API, knows more).
LIST_FILTERS = ("q", "vendor", "status", "currency", "active_on", "start_after", "end_before", "auto_renew")


class AgreementListView(ObjectListView):
    policy_resource = "agreement"
    table_class = AgreementTable
    filterset_class = AgreementFilterSet
    template_name = "contracts/agreement_list.html"
    title = "Agreements"
    create_url_name = "contracts:agreement_create"
    empty_message = "No agreements match. Framework agreements hold the prices, commitments and SLAs of a vendor."

    def get_queryset(self):
        return self.scope(selectors.agreement_list())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = context["filter"].form
        for name in ("active_on", "start_after", "end_before"):
            form.fields[name].widget.input_type = "date"  # a date picker in the browser
        context["filter_fields"] = [form[name] for name in LIST_FILTERS if name in form.fields]
        return context


def _rule_rows(agreement: Agreement) -> list[dict]:
    rows = []
    for rule in agreement.price_rules.all():
        tiers = [
            {
                "from_tokens": t.from_tokens,
                "from_label": readable_tokens(t.from_tokens),
                "price": plain_price(t.price),
            }
            for t in rule.tiers.all()
        ]
        rows.append({"rule": rule, "tiers": tiers})
    return rows


def _proposed(approval) -> list[tuple[str, str]]:
    """What a pending change would set, as the approver reads it (nested lists by their size)."""
    if approval is None:
        return []
    rows = []
    for name, value in approval.payload.items():
        if isinstance(value, list):
            value = f"{len(value)} row(s), replacing the current {name.replace('_', ' ')}"
        rows.append((name.replace("_", " "), "—" if value in (None, "") else str(value)))
    return rows


def _clause_rows(agreement: Agreement) -> list[dict]:
    return [
        {
            "clause": clause,
            "target": plain_decimal(clause.target),
            "cap": plain_decimal(clause.cap_percent),
            "bands": [(plain_decimal(b.breach_over), plain_decimal(b.credit_percent)) for b in clause.bands.all()],
        }
        for clause in agreement.sla_clauses.all()
    ]


class AgreementDetailView(ObjectDetailView):
    policy_resource = "agreement"
    model = Agreement
    slug_field = slug_url_kwarg = "reference"
    template_name = "contracts/agreement_detail.html"

    def get_queryset(self):
        return self.scope(selectors.agreement_list())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        agreement, user = self.object, self.request.user
        approval = selectors.agreement_pending_approval(agreement=agreement)
        context.update(
            title=agreement.reference,
            rules=_rule_rows(agreement),
            commitments=[
                {"commitment": c, "summary": commitment_summary(c), "shortfall_price": plain_price(c.shortfall_price)}
                for c in agreement.commitments.all()
            ],
            clauses=_clause_rows(agreement),
            amendments=selectors.agreement_amendments(agreement=agreement),
            approval=approval,
            proposed=_proposed(approval),
            is_requester=approval is not None and approval.requested_by_id == user.pk,
            can_decide=approval is not None
            and approval.requested_by_id != user.pk
            and can(user, "agreement", "approve"),
            document_name=agreement.signed_document.name.rsplit("/", 1)[-1] if agreement.signed_document else "",
            document_form=DocumentForm() if context["can_change"] else None,
        )
        return context


class AgreementEditView(PolicyRequiredMixin, View):
    """One form for the whole agreement; its data becomes the `changes` of agreement_change."""

    policy_resource = "agreement"
    policy_action = CHANGE
    template_name = "contracts/agreement_form.html"

    def dispatch(self, request, *args, **kwargs):
        self.object = None
        if "reference" in kwargs and request.user.is_authenticated:
            self.object = get_object_or_404(self.scope(Agreement.objects.all()), reference=kwargs["reference"])
        return super().dispatch(request, *args, **kwargs)

    def _render(self, editor: AgreementEditor, status: int = 200):
        pending = selectors.agreement_pending_approval(agreement=self.object) if self.object else None
        context = {
            "editor": editor,
            "form": editor.form,
            "object": self.object,
            "pending": pending,
            "invalid": status >= 400,
            "title": f"Edit {self.object.reference}" if self.object else "New agreement",
        }
        return render(self.request, self.template_name, context, status=status)

    def get(self, request, **kwargs):
        return self._render(AgreementEditor(agreement=self.object))

    def post(self, request, **kwargs):
        editor = AgreementEditor(request.POST, agreement=self.object)
        if not editor.is_valid():
            return self._render(editor, status=400)
        changes = editor.changes()
        if self.object is not None and not changes:
            messages.info(request, "Nothing changed.")
            return redirect(self.object.get_absolute_url())
        try:
            result = services.agreement_change(agreement=self.object, changes=changes, actor=request.user)
        except ValidationFailed as exc:
            editor.add_service_errors(exc.fields)
            return self._render(editor, status=400)
        except ValidationError as exc:
            editor.add_model_errors(exc)
            return self._render(editor, status=400)
        except Conflict as exc:
            editor.add_error(exc.message)
            return self._render(editor, status=409)
        agreement = result.agreement
        if result.pending:
            what = "Its activation" if self.object is None else "The change"
            messages.warning(
                request,
                f"{what} awaits a second person's approval (four-eyes, request #{result.approval.pk}); "
                "it takes effect when someone else approves it.",
            )
        elif self.object is None:
            messages.success(request, f"Agreement {agreement.reference} created.")
        else:
            messages.success(request, f"Amendment {result.amendment.number} saved: {result.amendment.summary}.")
        return redirect(agreement.get_absolute_url())


class AgreementDocumentView(PolicyRequiredMixin, View):
    """GET downloads the signed document (who may view the agreement); POST attaches one."""

    policy_resource = "agreement"

    def _agreement(self, reference: str) -> Agreement:
        return get_object_or_404(self.scope(Agreement.objects.all()), reference=reference)

    def get(self, request, reference: str):
        agreement = self._agreement(reference)
        if not agreement.signed_document:
            raise Http404("No signed document attached.")
        handle = agreement.signed_document.open("rb")
        return FileResponse(handle, as_attachment=True, filename=agreement.signed_document.name.rsplit("/", 1)[-1])

    def post(self, request, reference: str):
        agreement = self._agreement(reference)
        form = DocumentForm(request.POST, request.FILES)
        if not form.is_valid():
            messages.error(request, "Choose the signed document to upload.")
            return redirect(agreement.get_absolute_url())
        upload = form.cleaned_data["file"]
        services.agreement_attach_document(agreement=agreement, file=upload, actor=request.user)
        messages.success(request, f"Signed document {upload.name} attached.")
        return redirect(agreement.get_absolute_url())


class AgreementDeleteView(ObjectDeleteView):
    policy_resource = "agreement"
    model = Agreement
    lookup_field = "reference"
    success_url_name = "contracts:agreement_list"

    def perform(self, obj):
        services.agreement_delete(agreement=obj, actor=self.request.user)
