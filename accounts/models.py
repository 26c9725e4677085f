"""Users with one role each, and API tokens (only a hash is stored)."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from core.policy import VIEW
from core.roles import Role


class TokenLedgerUserManager(UserManager):
    def create_superuser(self, username, email=None, password=None, **extra_fields):
        extra_fields.setdefault("role", Role.ADMIN)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    """A person or a service account. The role decides what they may see and do (core.policy).

    There is no default role: a user created without one can do nothing until an administrator
    gives them a role.
    """

    role = models.CharField(max_length=32, choices=Role.choices)
    history = HistoricalRecords(excluded_fields=["password", "last_login"])

    objects = TokenLedgerUserManager()

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    @property
    def is_service_account(self) -> bool:
        return self.role == Role.SERVICE


class ApiToken(models.Model):
    """A bearer token: `tl_<key_id>_<secret>`. `key_id` finds the row; the SHA-256 of the whole
    token proves it (the secret has 256 bits of entropy, so a fast hash is the right tool)."""

    class Scope(models.TextChoices):
        INGEST = "ingest", "Ingest usage (named sources only)"
        READ = "read", "Read"
        WRITE = "write", "Read and write"

    PREFIX = "tl"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True, help_text="What the token is for.")
    key_id = models.CharField(max_length=16, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, editable=False)
    scope = models.CharField(max_length=16, choices=Scope.choices)
    source_slugs = ArrayField(models.SlugField(max_length=64), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    history = HistoricalRecords(excluded_fields=["last_used_at", "last_used_ip", "token_hash"])

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.PREFIX}_{self.key_id}… ({self.get_scope_display()})"

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def matches(self, token: str) -> bool:
        return hmac.compare_digest(self.token_hash, self.hash_token(token))

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.is_expired:
            return "expired"
        return "active"

    def permits(self, *, action: str, resource: str) -> bool:
        """What the scope allows, before the role is asked (both must agree)."""
        if self.scope == self.Scope.WRITE:
            return True
        if self.scope == self.Scope.READ:
            return action == VIEW
        # ingest: push usage, and follow the runs its uploads started
        return (resource == "usage" and action == "ingest") or (
            resource in ("ingestion_run", "job_run") and action == VIEW
        )

    def allows_source(self, slug: str) -> bool:
        """Ingest tokens push only to their named sources; read/write tokens to any source."""
        if self.scope == self.Scope.INGEST:
            return slug in self.source_slugs
        return not self.source_slugs or slug in self.source_slugs


class ApprovalRequest(models.Model):
    """Four-eyes: a change that waits for a second person of the right role (DESIGN.md).

    `payload` is the change in the API's JSON form; the handler registered for `action`
    (accounts.approvals) validates it again and applies it when the request is approved."""

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"
        CANCELLED = "cancelled"

    action = models.CharField(max_length=64)
    resource = models.CharField(max_length=64, help_text="The policy resource whose 'approve' right is needed.")
    object_key = models.CharField(max_length=200, help_text="The object's reference, code or id.")
    summary = models.TextField()
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["resource", "object_key", "status"], name="approval_object_status")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.object_key} ({self.status})"
