"""Monthly reports: who receives which pack, writing the packs, emailing them (DESIGN.md, Monthly
report).

* Audiences: the whole company's pack goes to the active finance and procurement users; each
  active department manager receives the pack of the departments they manage (with their
  sub-departments), one pack per distinct set shared by the managers of that set. Users without
  an email address receive nothing (the pack is still archived).
* A send run (`report_send`, a JobRun) is started by beat on the organisation's
  `monthly_report_day` for the previous month (`reports_monthly_due`, once per month: a later day
  catches up if beat was down on the day), or by finance for any ended month ("send now",
  `POST reports/send`). Each run writes fresh packs (the month's figures as they are then) and
  archives them; earlier runs' packs stay in the archive.
* Exactly once: a pack is unique per run and audience, a delivery per pack and address. A run
  delivered again (late acknowledgement after a worker died) finds the packs it wrote and the
  deliveries it sent and carries on with the rest. A delivery is sent while its row is locked
  and marked sent in the same transaction, so two workers never send it both. The one window:
  a worker killed after the SMTP server accepted a message and before that commit leaves it
  unsent, and the redelivered run sends it again, so email is at-least-once for that message
  (its Message-ID, chosen when the delivery is created, is the same both times, so mail systems
  can tell). tests/faults/test_report_send_killed.py kills a worker mid-send.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import time
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import make_msgid
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from billing.months import month_last_day, previous_month
from core.exceptions import ApplicationError
from core.jobs import Report
from core.models import JobRun, OrganizationSettings
from core.roles import Role
from core.selectors import organization_settings
from core.services import job_run_create

from ..models import MonthlyReport, ReportDelivery
from ..selectors.reports import Scope, company_scope, manager_scopes, monthly_report_data

logger = logging.getLogger(__name__)

RUN_KIND = "report_send"
TASK = "insights.reports_send"
COMPANY_ROLES = (Role.FINANCE, Role.PROCUREMENT)
SEND_ATTEMPTS = 3
RETRY_SECONDS = 2


# Who ------------------------------------------------------------------------------------------


def _active_users(*roles: Role):
    return get_user_model().objects.filter(is_active=True, role__in=roles).exclude(email="").order_by("email")


def report_audiences() -> list[tuple[Scope, list]]:
    """(scope, recipients) of each pack: the company's first, then the managers' by scope."""
    audiences = [(company_scope(), list(_active_users(*COMPANY_ROLES)))]
    managers = list(get_user_model().objects.filter(is_active=True, role=Role.DEPARTMENT_MANAGER).order_by("email"))
    for scope, users in sorted(manager_scopes(managers).values(), key=lambda item: item[0].label.lower()):
        audiences.append((scope, [user for user in users if user.email]))
    return audiences


# Starting a run -------------------------------------------------------------------------------


def _check_period(period: date, *, today: date) -> None:
    if period.day != 1:
        raise ApplicationError("A report's period is a month: give it as YYYY-MM")
    if month_last_day(period) >= today:
        raise ApplicationError(
            f"{period:%Y-%m} has not ended yet: a monthly report covers a whole month",
            extra={"period": f"{period:%Y-%m}"},
        )


def reports_send_start(*, period: date, actor, today: date | None = None) -> JobRun:
    """ "Send now": a run writing and emailing `period`'s packs (202 with the run)."""
    _check_period(period, today=today or timezone.now().date())
    return job_run_create(
        kind=RUN_KIND,
        created_by=actor,
        params={"period": period.isoformat(), "trigger": MonthlyReport.Trigger.MANUAL},
        task=TASK,
    )


def reports_monthly_due(*, today: date | None = None) -> JobRun | None:
    """Beat, daily: on or after the month's report day, the previous month's run, once. The
    settings row is locked while deciding, so two beats (or a beat and a retry) start one run."""
    today = today or timezone.now().date()
    with transaction.atomic():
        org = OrganizationSettings.objects.select_for_update().filter(pk=organization_settings().pk).first()
        if org is None or today.day < org.monthly_report_day:
            return None
        period = previous_month(today)
        already = JobRun.objects.filter(
            kind=RUN_KIND, params__period=period.isoformat(), params__trigger=MonthlyReport.Trigger.SCHEDULE
        ).exists()
        if already:
            return None
        return job_run_create(
            kind=RUN_KIND,
            params={"period": period.isoformat(), "trigger": MonthlyReport.Trigger.SCHEDULE},
            task=TASK,
        )


# Writing the packs -----------------------------------------------------------------------------


def _summary(data) -> dict:
    return {
        "spend": str(data.spend.cost),
        "previous": str(data.previous_spend.cost),
        "list_cost": str(data.spend.list_cost),
        "savings": str(data.spend.savings),
        "budget": str(data.month_budget) if data.month_budget is not None else None,
        "tokens": data.spend.tokens,
        "open_alerts": data.open_alerts,
    }


def report_write(*, period: date, scope: Scope, run: JobRun | None = None, trigger: str) -> MonthlyReport:
    """The pack of `scope` for `period` in this run: written once (a run that comes back finds it)."""
    existing = MonthlyReport.objects.filter(run=run, scope_key=scope.key).first() if run is not None else None
    if existing is not None:
        return existing
    from ..reports.pdf import period_title, report_pdf_render  # weasyprint and matplotlib: on first use

    data = monthly_report_data(period=period, scope=scope)
    title = period_title(period, scope.label)
    pdf = report_pdf_render(data, title=title)
    try:
        with transaction.atomic():
            report = MonthlyReport.objects.create(
                period=period,
                scope=MonthlyReport.Scope.COMPANY if scope.is_company else MonthlyReport.Scope.DEPARTMENTS,
                scope_key=scope.key,
                title=title[:300],
                trigger=trigger,
                run=run,
                currency=data.currency,
                summary=_summary(data),
                pdf=pdf,
                pdf_sha256=hashlib.sha256(pdf).hexdigest(),
            )
            if not scope.is_company:
                report.departments.set(scope.department_ids)
    except IntegrityError:  # the same run, delivered twice, wrote it first
        return MonthlyReport.objects.get(run=run, scope_key=scope.key)
    return report


def reports_send_run_execute(run: JobRun, report: Report) -> dict:
    period = date.fromisoformat(run.params["period"])
    trigger = run.params.get("trigger", MonthlyReport.Trigger.MANUAL)
    audiences = report_audiences()
    written: list[MonthlyReport] = []
    for index, (scope, users) in enumerate(audiences):
        pack = report_write(period=period, scope=scope, run=run, trigger=trigger)
        for user in users:
            # the Message-ID is chosen (and committed) before any attempt to send: a message sent
            # again after a worker died past the server's acceptance carries the same one
            ReportDelivery.objects.get_or_create(
                report=pack,
                email=user.email.lower(),
                defaults={"user": user, "message_id": make_msgid(f"report{pack.pk}", domain="tokenledger")},
            )
        written.append(pack)
        report(int(60 * (index + 1) / len(audiences)), f"{index + 1} of {len(audiences)} packs written")
    deliveries = list(
        ReportDelivery.objects.filter(report__in=written)
        .exclude(status=ReportDelivery.Status.SENT)
        .values_list("pk", flat=True)
    )
    for index, delivery_id in enumerate(deliveries):
        report_deliver(delivery_id=delivery_id)
        report(60 + int(40 * (index + 1) / len(deliveries)), f"{index + 1} of {len(deliveries)} emails sent")
    statuses = ReportDelivery.objects.filter(report__in=written)
    sent = statuses.filter(status=ReportDelivery.Status.SENT).count()
    failed = list(statuses.filter(status=ReportDelivery.Status.FAILED).values_list("email", "error"))
    message = f"{len(written)} packs for {period:%Y-%m}, {sent} emails sent"
    if failed:
        message += f"; {len(failed)} failed ({failed[0][0]}: {failed[0][1]})"
    return {
        "message": message,
        "period": f"{period:%Y-%m}",
        "reports": [pack.pk for pack in written],
        "sent": sent,
        "failed": [email for email, _ in failed],
    }


# Sending ---------------------------------------------------------------------------------------


def _message(delivery: ReportDelivery) -> EmailMultiAlternatives:
    pack = delivery.report
    url = settings.SITE_URL.rstrip("/") + reverse("insights:report_detail", args=[pack.pk])
    context = {
        "report": pack,
        "headline": report_headline(pack),
        "url": url,
        "name": (delivery.user.get_full_name() or delivery.user.get_username()) if delivery.user else "",
    }
    message = EmailMultiAlternatives(
        subject=f"[TokenLedger] {pack.title}",
        body=render_to_string("insights/reports/email.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[delivery.email],
        headers={"Message-ID": delivery.message_id},
    )
    message.attach_alternative(render_to_string("insights/reports/email.html", context), "text/html")
    message.attach(pack.filename, bytes(pack.pdf), "application/pdf")
    return message


def report_headline(pack: MonthlyReport) -> list[tuple[str, str]]:
    """The figures an email and the archive show beside a pack: (label, text)."""
    from billing.pdf import money_format  # imports weasyprint: on first use, not in every worker's start

    summary, currency = pack.summary or {}, pack.currency
    rows = []
    for key, label in (
        ("spend", "Spend"),
        ("previous", "Month before"),
        ("budget", "Budget for the month"),
        ("savings", "Savings against list price"),
    ):
        if summary.get(key) not in (None, ""):
            rows.append((label, money_format(Decimal(summary[key]), currency)))
    if "open_alerts" in summary:
        rows.append(("Open alerts", str(summary["open_alerts"])))
    return rows


def report_deliver(*, delivery_id: int) -> str:
    """Email one pack to one address, unless it was sent already; SMTP and socket errors are
    tried again SEND_ATTEMPTS times, then the delivery is marked failed with the error."""
    for attempt in range(1, SEND_ATTEMPTS + 1):
        with transaction.atomic():
            delivery = (
                ReportDelivery.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("report", "user")
                .filter(pk=delivery_id)
                .exclude(status=ReportDelivery.Status.SENT)
                .first()
            )
            if delivery is None:  # sent already, or another worker holds it
                return "skipped"
            if not delivery.message_id:
                delivery.message_id = make_msgid(f"report{delivery.report_id}", domain="tokenledger")
            delivery.attempts += 1
            try:
                _message(delivery).send()
            except (smtplib.SMTPException, OSError) as exc:
                delivery.status = ReportDelivery.Status.FAILED
                delivery.error = f"{type(exc).__name__}: {exc}"[:2000]
                delivery.save(update_fields=["status", "error", "attempts", "message_id"])
                logger.warning("monthly report %s to %s: %s", delivery.report_id, delivery.email, delivery.error)
            else:
                delivery.status = ReportDelivery.Status.SENT
                delivery.error = ""
                delivery.sent_at = timezone.now()
                delivery.save(update_fields=["status", "error", "attempts", "message_id", "sent_at"])
                return "sent"
        if attempt < SEND_ATTEMPTS:
            time.sleep(RETRY_SECONDS * attempt)
    return "failed"
