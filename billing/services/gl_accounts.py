"""GL account codes of the month-end journal (billing.gl_export): one row per purpose and scope."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from ..models import GlAccount

GL_ACCOUNT_FIELDS = ("purpose", "vendor", "department", "account_code", "cost_centre", "description")


def _scope(account: GlAccount) -> str:
    parts = []
    if account.vendor_id:
        parts.append(f"vendor {account.vendor.slug}")
    if account.department_id:
        parts.append(f"department {account.department.code}")
    return " and ".join(parts) or "everything else"


def _duplicate_message(account: GlAccount) -> str:
    return (
        f"There is already a GL account for {account.get_purpose_display().lower()} ({_scope(account)}); "
        "change that one instead."
    )


@transaction.atomic
def gl_account_save(*, account: GlAccount | None = None, actor, **fields) -> GlAccount:
    """Create (account=None) or change an account code. One row per purpose, vendor and
    department (either may be empty: the row then applies to every vendor or department)."""
    unknown = set(fields) - set(GL_ACCOUNT_FIELDS)
    if unknown:
        raise TypeError(f"Unknown GL account fields: {', '.join(sorted(unknown))}")
    account = account or GlAccount()
    for name, value in fields.items():
        setattr(account, name, value)
    account.account_code = (account.account_code or "").strip()
    account.cost_centre = (account.cost_centre or "").strip()
    errors: dict[str, list[str]] = {}
    if not account.account_code:
        errors["account_code"] = ["Give the account code (e.g. 6420)."]
    clash = GlAccount.objects.filter(
        purpose=account.purpose, vendor_id=account.vendor_id, department_id=account.department_id
    ).exclude(pk=account.pk)
    if account.purpose and clash.exists():
        errors["purpose"] = [_duplicate_message(account)]
    try:
        account.full_clean(validate_constraints=False)
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            errors.setdefault(name, list(messages))
    if errors:
        raise ValidationError(errors)
    account._history_user = actor
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError as exc:
        raise ValidationError({"purpose": [_duplicate_message(account)]}) from exc
    return account


def gl_account_delete(*, account: GlAccount, actor) -> None:
    account._history_user = actor
    account.delete()
