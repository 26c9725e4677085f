"""Pages for users (administrators) and API tokens (everyone's own; administrators see all)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View

from core import directory
from core.policy import CHANGE, can
from core.views.generic import ObjectListView, ServiceFormView, add_service_errors
from core.views.mixins import PolicyRequiredMixin

from . import selectors, services
from .filtersets import ApiTokenFilterSet, UserFilterSet
from .forms import ApiTokenForm, UserForm
from .models import User
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
        services.api_token_revoke(token=token, revoked_by=request.user)
        messages.success(request, f"Token tl_{token.key_id}_… revoked.")
        return redirect("accounts:token_list")
