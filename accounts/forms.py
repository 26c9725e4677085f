from __future__ import annotations

from django import forms
from django.conf import settings

from core.roles import Role

from .models import ApiToken, User


class UserForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    role = forms.ChoiceField(choices=Role.choices)
    departments = forms.CharField(
        required=False,
        help_text="Department codes a department manager manages, separated by commas (for example FIN, RND).",
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the current password; new users without one sign in by SSO or password reset.",
    )

    def __init__(self, *args, instance: User | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance = instance
        if instance is not None:
            self.fields["username"].disabled = True

    def clean_departments(self) -> list[str]:
        raw = self.cleaned_data["departments"]
        return [code.strip().upper() for code in raw.replace(";", ",").split(",") if code.strip()]

    def clean_username(self):
        username = self.cleaned_data["username"]
        if self.instance is None and User.objects.filter(username=username).exists():
            raise forms.ValidationError("A user with this username exists.")
        return username


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, help_text="What the token is for.")
    user = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True),
        to_field_name="username",
        required=False,
        help_text="Administrators can create tokens for service accounts; leave empty for yourself.",
    )
    scope = forms.ChoiceField(choices=ApiToken.Scope.choices, initial=ApiToken.Scope.READ)
    sources = forms.CharField(
        required=False, help_text="Source slugs separated by commas; ingest tokens push only to these."
    )
    expires_days = forms.IntegerField(
        min_value=1, required=False, initial=settings.API_TOKEN_DEFAULT_EXPIRY_DAYS, help_text="Empty: never expires."
    )

    def __init__(self, *args, can_choose_user: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not can_choose_user:
            del self.fields["user"]

    def clean_sources(self) -> list[str]:
        return [s.strip() for s in self.cleaned_data["sources"].split(",") if s.strip()]
