"""`manage.py create_user --username U --role R [--email E] [--department CODE]… [--password P]`."""

from __future__ import annotations

import sys

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.services import user_create_or_update
from core.roles import Role


def validation_message(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)


class Command(BaseCommand):
    help = "Create a user with a role, or update the user with that username."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--email")
        parser.add_argument(
            "--department",
            action="append",
            default=[],
            metavar="CODE",
            help="A department the manager manages (repeat for several); replaces earlier ones.",
        )
        parser.add_argument("--password", help="Without it a new user signs in by SSO or password reset.")
        parser.add_argument("--first-name")
        parser.add_argument("--last-name")

    def handle(self, *args, **opts) -> None:
        password = opts["password"]
        if password is not None:
            try:
                validate_password(password, User(username=opts["username"], email=opts["email"] or ""))
            except ValidationError as exc:
                # An operator at the command line is trusted, as with createsuperuser; say it plainly.
                self.stderr.write(f"Warning: weak password ({' '.join(exc.messages)})")
        try:
            user, created = user_create_or_update(
                username=opts["username"],
                role=opts["role"],
                email=opts["email"],
                departments=opts["department"],
                password=password,
                first_name=opts["first_name"],
                last_name=opts["last_name"],
                validate_new_password=False,
            )
        except ValidationError as exc:
            raise CommandError(validation_message(exc)) from exc
        verb = "Created" if created else "Updated"
        depts = f" managing {', '.join(opts['department'])}" if opts["department"] else ""
        self.stdout.write(f"{verb} user {user.username} ({user.role}){depts}")
        sys.stdout.flush()
