"""`manage.py create_api_token --user U [--scope ingest|read|write] [--source SLUG]… [--expires-days N]`.

Prints the token alone on the last line, once; only its hash is stored.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import ApiToken, User
from accounts.services import api_token_create
from core.roles import Role

from .create_user import validation_message


class Command(BaseCommand):
    help = "Create an API token for a user and print it once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--user", required=True, metavar="USERNAME")
        parser.add_argument(
            "--scope",
            choices=ApiToken.Scope.values,
            help="Default: ingest for service accounts, otherwise write (whatever the role allows).",
        )
        parser.add_argument("--source", action="append", default=[], metavar="SLUG", help="Repeat for several.")
        parser.add_argument(
            "--expires-days",
            type=int,
            default=None,
            help=f"Default {settings.API_TOKEN_DEFAULT_EXPIRY_DAYS} days.",
        )
        parser.add_argument("--no-expiry", action="store_true", help="The token never expires.")
        parser.add_argument("--name", default="", help="What the token is for.")

    def handle(self, *args, **opts) -> None:
        user = User.objects.filter(username=opts["user"]).first()
        if user is None:
            raise CommandError(f"No user {opts['user']!r}; create it first with create_user.")
        if opts["no_expiry"] and opts["expires_days"] is not None:
            raise CommandError("Give either --expires-days or --no-expiry, not both.")
        scope = opts["scope"] or (ApiToken.Scope.INGEST if user.role == Role.SERVICE else ApiToken.Scope.WRITE)
        expires_days = None if opts["no_expiry"] else (opts["expires_days"] or settings.API_TOKEN_DEFAULT_EXPIRY_DAYS)
        if opts["expires_days"] is not None and opts["expires_days"] <= 0:
            raise CommandError("--expires-days must be a positive number of days.")
        try:
            token, text = api_token_create(
                user=user,
                scope=scope,
                name=opts["name"] or "created with manage.py create_api_token",
                source_slugs=opts["source"],
                expires_days=expires_days,
            )
        except ValidationError as exc:
            raise CommandError(validation_message(exc)) from exc
        expiry = token.expires_at.date().isoformat() if token.expires_at else "never"
        self.stderr.write(
            f"Token {token.key_id} for {user.username}: scope {token.scope}"
            + (f", sources {', '.join(token.source_slugs)}" if token.source_slugs else "")
            + f", expires {expiry}. Store it now; it is not shown again."
        )
        self.stdout.write(text)
