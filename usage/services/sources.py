"""Sources: where usage comes from, and how a vendor's API is pulled for them."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone

from core.crypto import encrypt
from core.exceptions import Conflict

from ..models import Source
from ..pipeline.feeds.endpoints import PULL_FORMATS

PULL_FIELDS = ("pull_enabled", "base_url", "credential_env", "pull_interval_minutes", "pull_open_days", "pull_start")
SOURCE_FIELDS = ("slug", "name", "vendor", "format", "is_active", "description", *PULL_FIELDS)

# `credential` not given: the stored one stays.
KEEP = object()

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# TokenLedger's own configuration is never sent to a vendor as a credential.
RESERVED_ENV_PREFIXES = (
    "DJANGO_",
    "DATABASE_",
    "CELERY_",
    "CACHE_",
    "EMAIL_",
    "AWS_",
    "SSO_",
    "FIELD_ENCRYPTION_",
    "TEST_",
    "TOKENLEDGER_",
)
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
MAX_INTERVAL_MINUTES = 7 * 24 * 60
MAX_OPEN_DAYS = 31


@transaction.atomic
def source_save(*, source: Source | None = None, actor, credential=KEEP, **fields) -> Source:
    """Create or change a source. `credential`: a new API key to store encrypted, "" or KEEP to
    keep the stored one, None to forget it. Turning pulls on, or changing how the source is
    pulled, makes a pull due at once."""
    unknown = set(fields) - set(SOURCE_FIELDS)
    if unknown:
        raise TypeError(f"Unknown source fields: {', '.join(sorted(unknown))}")
    source = source or Source()
    before = {name: getattr(source, name) for name in ("pull_enabled", "base_url", "credential_env", "format")}
    before_pull_start = source.pull_start
    for name, value in fields.items():
        setattr(source, name, value)
    source.credential_env = (source.credential_env or "").strip()
    source.base_url = (source.base_url or "").strip()
    credential_changed = False
    if credential is None:
        credential_changed = bool(source.credential_encrypted)
        source.credential_encrypted = ""
    elif credential is not KEEP and str(credential).strip():
        source.credential_encrypted = encrypt(str(credential).strip())
        credential_changed = True
    _check_pull_settings(source)
    source.full_clean()
    if source.pull_enabled and source.is_active:
        changed = credential_changed or any(getattr(source, k) != v for k, v in before.items())
        if changed or source.next_pull_at is None:
            source.next_pull_at = timezone.now()
    if (
        source.pk
        and source.pull_start
        and source.pull_start != before_pull_start
        and source.pulled_until
        and source.pull_start < source.pulled_until.date()
    ):
        source.pulled_until = None  # an earlier first day: pull again from there (a backfill)
    source._history_user = actor
    source.save()
    return source


def _check_pull_settings(source: Source) -> None:
    errors: dict[str, list[str]] = {}
    if source.credential_env:
        if not ENV_NAME.match(source.credential_env):
            errors.setdefault("credential_env", []).append(
                "The name of an environment variable: letters, digits and underscores, not starting with a digit."
            )
        elif source.credential_env.upper().startswith(RESERVED_ENV_PREFIXES) or source.credential_env.upper() in (
            "SECRET_KEY",
            "PATH",
            "HOME",
        ):
            errors.setdefault("credential_env", []).append(
                "That variable holds TokenLedger's own configuration; name the variable holding the vendor's key."
            )
    if source.base_url:
        parts = urlsplit(source.base_url)
        if parts.scheme != "https" and not (parts.scheme == "http" and (parts.hostname or "") in LOCAL_HOSTS):
            errors.setdefault("base_url", []).append(
                "Use https:// (plain http only for 127.0.0.1 or localhost, e.g. a test server)."
            )
        if parts.username or parts.password or parts.query or parts.fragment:
            errors.setdefault("base_url", []).append(
                "Give the address alone: no user, password, query or fragment (the credential has its own field)."
            )
    if not 1 <= (source.pull_interval_minutes or 0) <= MAX_INTERVAL_MINUTES:
        errors.setdefault("pull_interval_minutes", []).append(f"Between 1 and {MAX_INTERVAL_MINUTES} minutes.")
    if (source.pull_open_days or 0) > MAX_OPEN_DAYS:
        errors.setdefault("pull_open_days", []).append(f"At most {MAX_OPEN_DAYS} days.")
    if source.pull_start and source.pull_start > timezone.now().date():
        errors.setdefault("pull_start", []).append("The first day to pull cannot be in the future.")
    if source.pull_enabled:
        if source.format not in PULL_FORMATS:
            errors.setdefault("format", []).append(
                f"{source.get_format_display()} cannot be pulled; pullable formats: {', '.join(sorted(PULL_FORMATS))}."
            )
        if not source.credential_env and not source.credential_encrypted:
            errors.setdefault("credential", []).append(
                "A pull needs a credential: name the environment variable holding it, or store one."
            )
    if errors:
        raise ValidationError(errors)


def source_delete(*, source: Source, actor) -> None:
    try:
        with transaction.atomic():
            source._history_user = actor
            source.delete()
    except ProtectedError as exc:
        raise Conflict(f"{source.name} has ingestion runs or usage; deactivate it instead.") from exc
