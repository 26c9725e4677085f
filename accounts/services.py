"""Writes of the accounts app: users, roles, department memberships and API tokens."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import timedelta

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core import directory
from core.exceptions import Forbidden
from core.policy import CHANGE, can
from core.roles import Role

from .models import ApiToken, User


@transaction.atomic
def user_create_or_update(
    *,
    username: str,
    role: str,
    email: str | None = None,
    departments: Sequence[str] | None = None,
    password: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    is_active: bool | None = None,
    actor: User | None = None,
    validate_new_password: bool = True,
) -> tuple[User, bool]:
    """Create the user, or update the one with this username. Department codes set the departments
    a department manager manages (replacing earlier ones); other roles may not manage departments."""
    errors: dict[str, list[str]] = {}
    if role not in Role.values:
        errors["role"] = [f"Unknown role {role!r}; choose one of {', '.join(Role.values)}."]
    departments = list(dict.fromkeys(departments or []))
    if departments and role != Role.DEPARTMENT_MANAGER:
        errors["departments"] = ["Only department managers are given departments."]
    elif departments:
        unknown = directory.departments().unknown_department_codes(departments)
        if unknown:
            errors["departments"] = [f"Unknown department code(s): {', '.join(unknown)}."]
    if errors:
        raise ValidationError(errors)

    user = User.objects.select_for_update().filter(username=username).first()
    created = user is None
    if created:
        user = User(username=username)
    user.role = role
    if email is not None:
        user.email = email
    if first_name is not None:
        user.first_name = first_name
    if last_name is not None:
        user.last_name = last_name
    if is_active is not None:
        user.is_active = is_active
    if password is not None:
        if validate_new_password:
            try:
                validate_password(password, user)
            except ValidationError as exc:
                raise ValidationError({"password": exc.messages}) from exc
        user.set_password(password)
    elif created:
        # No password: the user signs in through single sign-on or sets one by password reset;
        # a service account only ever uses API tokens.
        user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user._history_user = actor
    user.save()
    if role == Role.DEPARTMENT_MANAGER:
        if departments or created:
            directory.departments().set_managed_departments(user, departments, actor=actor)
    else:
        directory.departments().set_managed_departments(user, [], actor=actor)
    return user, created


def _new_token_text() -> tuple[str, str]:
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32).replace("_", "x")  # "_" separates the token's parts
    return key_id, f"{ApiToken.PREFIX}_{key_id}_{secret}"


@transaction.atomic
def api_token_create(
    *,
    user: User,
    scope: str,
    name: str = "",
    source_slugs: Sequence[str] = (),
    expires_days: int | None = None,
    created_by: User | None = None,
) -> tuple[ApiToken, str]:
    """Create a token and return it with its text, which is shown once and never stored."""
    errors: dict[str, list[str]] = {}
    if scope not in ApiToken.Scope.values:
        errors["scope"] = [f"Unknown scope {scope!r}; choose one of {', '.join(ApiToken.Scope.values)}."]
    elif scope == ApiToken.Scope.INGEST and not can(user, "usage", "ingest"):
        errors["scope"] = [
            f"A {user.get_role_display().lower()} may not push usage, so an ingest token would be useless."
        ]
    elif scope == ApiToken.Scope.INGEST and not source_slugs:
        errors["source_slugs"] = ["An ingest token pushes only to the sources it names; name at least one."]
    source_slugs = list(dict.fromkeys(source_slugs))
    if source_slugs:
        unknown = directory.sources().unknown_source_slugs(source_slugs)
        if unknown:
            errors["source_slugs"] = [f"Unknown source(s): {', '.join(unknown)}."]
    if expires_days is not None and expires_days <= 0:
        errors["expires_days"] = ["Expiry must be a positive number of days."]
    if not user.is_active:
        errors["user"] = ["The user is inactive."]
    if errors:
        raise ValidationError(errors)

    key_id, text = _new_token_text()
    token = ApiToken(
        user=user,
        name=name,
        key_id=key_id,
        token_hash=ApiToken.hash_token(text),
        scope=scope,
        source_slugs=source_slugs,
        created_by=created_by,
        expires_at=timezone.now() + timedelta(days=expires_days) if expires_days else None,
    )
    token._history_user = created_by
    token.save()
    return token, text


def api_token_revoke(*, token: ApiToken, revoked_by: User | None) -> ApiToken:
    """Revoke at once. People revoke their own tokens; only administrators revoke other people's
    (an auditor sees every token but changes none). `revoked_by=None`: a management command."""
    if revoked_by is not None and token.user_id != revoked_by.pk and not can(revoked_by, "api_token", CHANGE):
        raise Forbidden("Only administrators can revoke other people's tokens.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.revoked_by = revoked_by
        token._history_user = revoked_by
        token.save(update_fields=["revoked_at", "revoked_by"])
    return token
