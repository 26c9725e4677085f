from __future__ import annotations

import django_tables2 as tables

from core.columns import DateTimeColumn

from .models import ApiToken, User


class UserTable(tables.Table):
    username = tables.Column(linkify=("accounts:user_edit", {"username": tables.A("username")}))
    name = tables.Column(accessor="get_full_name", verbose_name="Name", orderable=False)
    role = tables.Column()
    departments = tables.Column(accessor="managed_departments", verbose_name="Departments", orderable=False)
    is_active = tables.BooleanColumn(verbose_name="Active")
    last_login = DateTimeColumn(format="Y-m-d H:i")

    class Meta:
        model = User
        fields = ("username", "name", "email", "role", "departments", "is_active", "last_login")

    def render_departments(self, value):
        return ", ".join(d.code for d in value.all()) or "—"

    def value_departments(self, value):
        return ", ".join(d.code for d in value.all())


class ApiTokenTable(tables.Table):
    key_id = tables.Column(verbose_name="Token")
    user = tables.Column(accessor="user__username", verbose_name="User")
    sources = tables.Column(accessor="source_slugs", verbose_name="Sources", orderable=False)
    status = tables.TemplateColumn(template_name="accounts/_token_status.html", orderable=False, verbose_name="Status")
    created_at = DateTimeColumn(format="Y-m-d H:i")
    expires_at = DateTimeColumn(format="Y-m-d", default="never")
    last_used_at = DateTimeColumn(format="Y-m-d H:i", default="never")
    actions = tables.TemplateColumn(
        template_name="accounts/_token_actions.html", orderable=False, verbose_name="", exclude_from_export=True
    )

    class Meta:
        model = ApiToken
        fields = ("key_id", "name", "user", "scope", "sources", "status", "created_at", "expires_at", "last_used_at")

    def render_scope(self, value):
        return value

    def render_key_id(self, value):
        return f"tl_{value}_…"

    def render_sources(self, value):
        return ", ".join(value) or "all"

    def value_status(self, record):
        return record.status
