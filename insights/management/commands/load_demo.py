"""`manage.py load_demo`: the demo company, idempotently. The run command calls it on every start.

Demo users get random passwords on first load, kept in the logins file (var/demo-logins.json) so
later runs print the same ones; the service account gets an ingest token for the demo gateway.
"""

from __future__ import annotations

import json
import secrets
from datetime import date, timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiToken, User
from accounts.services import api_token_create, user_create_or_update
from billing.demo import load_gl_accounts, load_invoiced_month
from billing.months import previous_month
from contracts.demo import load_agreements
from core.demo import load_fx_rates
from core.roles import Role
from core.services import organization_settings_ensure
from insights.models import Forecast, MonthlyReport
from insights.services.forecasts import forecasts_refresh_start
from insights.services.reports import reports_send_start
from procurement.demo import load_budgets, load_certifications, load_departments, load_price_book, load_vendors
from usage.demo import load_sources, load_usage
from usage.demo_costs import load_vendor_costs

FX_FROM = date(2025, 1, 1)
USAGE_MONTHS = 6  # months of demo usage, up to yesterday

DEMO_USERS = [
    # role, username, first, last, departments
    (Role.ADMIN, "admin", "Ada", "Admin", []),
    (Role.PROCUREMENT, "procurement", "Priya", "Buyer", []),
    (Role.FINANCE, "finance", "Felix", "Controller", []),
    (Role.DEPARTMENT_MANAGER, "manager", "Mina", "Manager", ["ENG-AI"]),
    (Role.AUDITOR, "auditor", "Aaron", "Auditor", []),
    (Role.SERVICE, "gateway-bot", "Gateway", "Service", []),
]


class Command(BaseCommand):
    help = "Load the demo company (departments, users, sources); safe to run again."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--logins-file",
            default=str(Path(settings.VAR_DIR) / "demo-logins.json"),
            help="Where demo passwords and the service token are kept between runs.",
        )
        parser.add_argument(
            "--no-forecasts",
            action="store_true",
            help="Queue neither the first forecasts nor the first reports (else each is queued when there are none).",
        )

    def handle(self, *args, **opts) -> None:
        logins_path = Path(opts["logins_file"])
        logins = json.loads(logins_path.read_text()) if logins_path.exists() else {}
        with transaction.atomic():
            org = organization_settings_ensure()
            if not org.issuer_name:
                org.issuer_name = "Example Holdings Ltd — Group Finance"
                org.issuer_address = "1 Ledger Street\nLondon EC2A 4NE\nUnited Kingdom"
                org.issuer_email = "finance@example.com"
                org.save()
            today = timezone.now().date()
            fx_added = load_fx_rates(FX_FROM, today)
            load_departments()
            vendors = load_vendors()
            prices_added = load_price_book(vendors)
            load_certifications(vendors, today)
            fiscal_year = today.year if today.month >= org.fiscal_year_start_month else today.year - 1
            budgets_added = load_budgets(fiscal_year, vendors)
            agreements_added = len(load_agreements())
            load_sources()
            for role, username, first, last, departments in DEMO_USERS:
                login = logins.get(role.value, {})
                password = None if role == Role.SERVICE else login.get("password") or secrets.token_urlsafe(12)
                user, _ = user_create_or_update(
                    username=username,
                    role=role,
                    email=f"{username}@example.com",
                    first_name=first,
                    last_name=last,
                    departments=departments,
                    password=password,
                    validate_new_password=False,
                )
                if role == Role.SERVICE:
                    token_text = login.get("token")
                    key_id = token_text.split("_")[1] if token_text else None
                    if not key_id or not ApiToken.objects.filter(key_id=key_id, user=user, revoked_at=None).exists():
                        _, token_text = api_token_create(
                            user=user, scope=ApiToken.Scope.INGEST, name="demo gateway", source_slugs=["demo-gateway"]
                        )
                    logins[role.value] = {"username": username, "token": token_text}
                else:
                    logins[role.value] = {"username": username, "password": password}
        today = timezone.now().date()
        first_month = (today.replace(day=1) - timedelta(days=31 * (USAGE_MONTHS - 1))).replace(day=1)
        usage_added = load_usage(first_month, today - timedelta(days=1))
        costs_added = load_vendor_costs(first_month, today - timedelta(days=1))
        load_gl_accounts()
        invoices_issued = load_invoiced_month(today, actor=User.objects.get(username="finance"))
        # The first start: the worker computes the forecasts (nightly after that), then writes and
        # emails last month's reports (to var/mail/), as beat would on the report day.
        finance = User.objects.get(username="finance")
        first_reports = None if MonthlyReport.objects.exists() else previous_month(today)
        if not opts["no_forecasts"]:
            with transaction.atomic():
                if not Forecast.objects.exists():
                    forecasts_refresh_start(actor=finance, then_reports=first_reports)
                elif first_reports is not None:
                    reports_send_start(period=first_reports, actor=finance)
        logins_path.parent.mkdir(parents=True, exist_ok=True)
        logins_path.write_text(json.dumps(logins, indent=2))
        logins_path.chmod(0o600)
        self.stdout.write(
            f"Demo data loaded: {len(vendors)} vendors ({prices_added} new list prices), {budgets_added} new budgets, "
            f"{agreements_added} new agreements, {fx_added} new FX rates, {usage_added} new usage records, "
            f"{costs_added} new vendor cost lines, {invoices_issued} new invoices issued, "
            f"{User.objects.count()} users."
        )
