"""Pages for users (administrators) and API tokens (everyone's own; administrators see all)."""

from __future__ import annotations

import django_tables2 as tables
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, IntegerField, Value, When
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from core import directory
from core.columns import DateTimeColumn
from core.exceptions import ApplicationError
from core.policy import CHANGE, can
from core.views.generic import ObjectListView, ServiceFormView, add_service_errors
from core.views.mixins import PolicyRequiredMixin

from . import approvals, selectors, services
from .api.approvals import ApprovalFilterSet
from .filtersets import ApiTokenFilterSet, UserFilterSet
from .forms import ApiTokenForm, UserForm
from .models import ApprovalRequest, User
from .tables import ApiTokenTable, UserTable


class UserListView(ObjectListView):
    policy_resource = "user"
    queryset = User.objects.prefetch_related("managed_departments")
    table_class = UserTable
    filterset_class = UserFilterSet
    title = "Users"
    create_url_name = "accounts:user_create"


class UserEditView(ServiceFormView):
    policy_resource = "user"
    policy_action = CHANGE
    form_class = UserForm

    def dispatch(self, request, *args, **kwargs):
        self.instance = get_object_or_404(User, username=kwargs["username"]) if "username" in kwargs else None
        return super().dispatch(request, *args, **kwargs)

    @property
    def title(self):
        return f"Edit {self.instance.username}" if self.instance else "New user"

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["instance"] = self.instance
        if self.instance is not None:  # also on POST: the disabled username comes from here
            kwargs["initial"] = {
                "username": self.instance.username,
                "email": self.instance.email,
                "first_name": self.instance.first_name,
                "last_name": self.instance.last_name,
                "role": self.instance.role,
                "is_active": self.instance.is_active,
                "departments": ", ".join(directory.departments().managed_department_codes(self.instance)),
            }
        return kwargs

    def perform(self, form):
        data = form.cleaned_data
        user, _ = services.user_create_or_update(
            username=self.instance.username if self.instance else data["username"],
            role=data["role"],
            email=data["email"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            departments=data["departments"],
            password=data["password"] or None,
            is_active=data["is_active"],
            actor=self.request.user,
        )
        return user

    def get_success_url(self, result=None):
        return reverse("accounts:user_list")


class ApiTokenListView(ObjectListView):
    policy_resource = "api_token"
    owner_field = "user"
    table_class = ApiTokenTable
    filterset_class = ApiTokenFilterSet
    title = "API tokens"
    template_name = "accounts/token_list.html"

    def get_queryset(self):
        return selectors.api_token_list(user=self.request.user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["create_url_name"] = "accounts:token_create"
        return context


class ApiTokenCreateView(PolicyRequiredMixin, View):
    """Create a token; its text is shown on the answer page once and never again."""

    policy_resource = "api_token"
    owner_field = "user"

    def _form(self, data=None):
        return ApiTokenForm(data, can_choose_user=can(self.request.user, "api_token", CHANGE))

    def get(self, request):
        return render(request, "accounts/token_create.html", {"form": self._form(), "title": "New API token"})

    def post(self, request):
        form = self._form(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                token, text = services.api_token_create(
                    user=data.get("user") or request.user,
                    scope=data["scope"],
                    name=data["name"],
                    source_slugs=data["sources"],
                    expires_days=data["expires_days"],
                    created_by=request.user,
                )
            except ValidationError as exc:
                add_service_errors(form, exc, {"source_slugs": "sources"})
            else:
                return render(
                    request, "accounts/token_created.html", {"token": token, "text": text, "title": "Token created"}
                )
        return render(request, "accounts/token_create.html", {"form": form, "title": "New API token"}, status=400)


class ApiTokenRevokeView(PolicyRequiredMixin, View):
    policy_resource = "api_token"
    owner_field = "user"
    http_method_names = ["post"]

    def post(self, request, pk: int):
        token = get_object_or_404(selectors.api_token_list(user=request.user), pk=pk)
        if token.user_id != request.user.pk and not can(request.user, "api_token", CHANGE):
            raise PermissionDenied  # an auditor sees everyone's tokens but revokes only their own
        services.api_token_revoke(token=token, revoked_by=request.user)
        messages.success(request, f"Token tl_{token.key_id}_… revoked.")
        return redirect("accounts:token_list")


# Four-eyes approvals ------------------------------------------------------------------------------

# Where the object of a request is shown, by resource (URL names of higher apps, reversed lazily
# like the sidebar's, so accounts imports none of them).
APPROVAL_OBJECT_URLS = {"agreement": ("contracts:agreement_detail", "reference")}
APPROVAL_COLOURS = {"pending": "yellow", "approved": "green", "rejected": "red", "cancelled": "secondary"}


def approval_object_url(approval: ApprovalRequest) -> str | None:
    url_name, kwarg = APPROVAL_OBJECT_URLS.get(approval.resource, (None, None))
    if url_name is None:
        return None
    try:
        return reverse(url_name, kwargs={kwarg: approval.object_key})
    except NoReverseMatch:
        return None


class ApprovalTable(tables.Table):
    id = tables.Column(verbose_name="#")
    status = tables.Column()
    resource = tables.Column(visible=False)  # shown under the object; exported on its own
    object_key = tables.Column(verbose_name="Object", attrs={"td": {"class": "text-nowrap"}})
    requested_by = tables.Column(accessor="requested_by__username", verbose_name="Asked by")
    requested_at = DateTimeColumn(format="Y-m-d H:i", verbose_name="Asked (UTC)")
    decided_by = tables.Column(accessor="decided_by__username", verbose_name="Decided by", default="—")
    decided_at = DateTimeColumn(format="Y-m-d H:i", verbose_name="Decided (UTC)", visible=False)
    actions = tables.TemplateColumn(
        template_name="accounts/approval_actions.html", orderable=False, verbose_name="", exclude_from_export=True
    )

    class Meta:
        model = ApprovalRequest
        fields = (
            "id",
            "status",
            "resource",
            "object_key",
            "summary",
            "requested_by",
            "requested_at",
            "decided_by",
            "decided_at",
            "note",
        )

    def render_status(self, value, record):
        return format_html(
            '<span class="badge bg-{}-lt">{}</span>', APPROVAL_COLOURS.get(record.status, "secondary"), value
        )

    def value_status(self, record):
        return record.status

    def render_object_key(self, value, record):
        url = approval_object_url(record)
        label = format_html('<a href="{}">{}</a>', url, value) if url else value
        return format_html('{}<div class="small text-secondary">{}</div>', label, record.resource.replace("_", " "))

    def value_object_key(self, value):
        return value


class ApprovalListView(ObjectListView):
    """Changes waiting for a second person, pending first; approve or reject them here."""

    policy_resource = "approval"
    table_class = ApprovalTable
    filterset_class = ApprovalFilterSet
    template_name = "accounts/approval_list.html"
    title = "Approvals"
    empty_message = "No approval requests."

    def get_queryset(self):
        pending_first = Case(
            When(status=ApprovalRequest.Status.PENDING, then=Value(0)), default=Value(1), output_field=IntegerField()
        )
        return (
            ApprovalRequest.objects.select_related("requested_by", "decided_by")
            .annotate(pending_first=pending_first)
            .order_by("pending_first", "-requested_at", "-id")
        )


class ApprovalDecisionView(PolicyRequiredMixin, View):
    """POST approves (or rejects) through accounts.approvals; a refusal comes back as a message.
    The requester's own "reject" is a withdrawal."""

    policy_resource = "approval"
    policy_action = CHANGE
    http_method_names = ["post"]
    approve = True

    def post(self, request, pk: int):
        approval = get_object_or_404(ApprovalRequest, pk=pk)
        note = request.POST.get("note", "").strip()[:2000]
        try:
            if self.approve:
                approvals.approval_approve(request=approval, approver=request.user, note=note)
                messages.success(request, f"Approved #{approval.pk}: {approval.summary}.")
            else:
                decided = approvals.approval_reject(request=approval, approver=request.user, note=note)
                verb = "Withdrew" if decided.status == ApprovalRequest.Status.CANCELLED else "Rejected"
                messages.success(request, f"{verb} #{approval.pk}: {approval.summary}.")
        except ApplicationError as exc:  # Forbidden, Conflict, or a change that no longer validates
            messages.error(request, exc.message)
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = reverse("accounts:approval_list")
        return redirect(target)
