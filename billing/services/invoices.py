"""Chargeback invoices: generate a closed month's drafts, approve (four-eyes), issue with a gapless
number and the PDF, credit notes, and the bulk issue of a month fanned out to the workers.

Generation compares what each department owes for a month (billing.chargeback) with what the
invoices of the month already bill — the month's own invoice (when it is regenerated, its own
lines do not count) and, for earlier months whose invoices were generated, every invoice that
billed them. The month's own figures become its lines; a difference for an earlier month becomes
a prior-period adjustment line (`kind=adjustment`, `service_period` = that month) on this
month's invoice. So late data, restatements, re-rating, true-ups and credits received after an
invoice was issued are billed exactly once, on the next invoice generated, and an issued
invoice never changes. Credit notes do not count as billed: they correct an invoice, and the
correction must not be undone by the next month's adjustment.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from accounts.approvals import four_eyes_enabled
from core.currencies import minor_units
from core.exceptions import ApplicationError, Conflict, Forbidden
from core.models import JobRun
from core.money import to_decimal
from core.selectors import organization_settings
from core.services import job_run_create, job_run_fail, job_run_start, job_run_succeed
from procurement.models import Department

from ..chargeback import Charge, month_charges
from ..models import Invoice, InvoiceCounter, InvoiceLine, Period

logger = logging.getLogger(__name__)

SERIES = {Invoice.Kind.INVOICE: "CB", Invoice.Kind.CREDIT_NOTE: "CN"}
GENERATION_LOCK = 74657  # pg_advisory_xact_lock key: one generation at a time
ISSUE_CHUNK = 8  # invoices per task when a month is issued in bulk

Report = Callable[[int, str | None], None]


# Generation ------------------------------------------------------------------------------------


def _line_key(line: InvoiceLine) -> tuple:
    return (line.charge, line.vendor_id, line.model, line.token_class, line.reference.get("key", ""))


def _billed(month: date, *, exclude: set[int]) -> dict[tuple[int, tuple], tuple[int, Decimal]]:
    """What invoices (not credit notes) bill for `month`: (department, line key) → (tokens, amount)."""
    billed: dict[tuple[int, tuple], list] = defaultdict(lambda: [0, Decimal(0)])
    lines = (
        InvoiceLine.objects.filter(service_period=month, invoice__kind=Invoice.Kind.INVOICE)
        .exclude(invoice_id__in=exclude)
        .select_related("invoice")
        .only("charge", "vendor_id", "model", "token_class", "reference", "tokens", "amount", "invoice__department_id")
    )
    for line in lines:
        entry = billed[(line.invoice.department_id, _line_key(line))]
        entry[0] += line.tokens
        entry[1] += line.amount
    return {key: (tokens, amount) for key, (tokens, amount) in billed.items()}


def _differences(
    charges: list[Charge], billed: dict[tuple, tuple[int, Decimal]], department_id: int
) -> list[tuple[Charge | None, tuple, int, Decimal]]:
    """Per line key: (the charge or None, key, tokens to bill, amount to bill) = owed − billed."""
    owed = {charge.key: charge for charge in charges}
    keys = list(owed)
    keys += sorted((k for d, k in billed if d == department_id and k not in owed), key=repr)
    out = []
    for key in keys:
        charge = owed.get(key)
        tokens, amount = billed.get((department_id, key), (0, Decimal(0)))
        out.append(
            (
                charge,
                key,
                (charge.tokens if charge else 0) - tokens,
                (charge.amount if charge else Decimal(0)) - amount,
            )
        )
    return out


def _line(invoice, position, *, kind, key, service_period, tokens, amount, unit_price, description, extra):
    charge_kind, vendor_id, model, token_class, ref = key
    return InvoiceLine(
        invoice=invoice,
        position=position,
        kind=kind,
        charge=charge_kind,
        service_period=service_period,
        vendor_id=vendor_id,
        model=model,
        token_class=token_class,
        tokens=tokens,
        unit_price=unit_price,
        amount=amount,
        description=description,
        reference={**extra, "key": ref},
    )


def invoices_generate(
    *, month: date, department=None, actor, report: Report | None = None
) -> tuple[list[Invoice], dict]:
    """Draft (or regenerate the drafts of) the chargeback invoices of a closed `month`, for every
    department that owes something, or only for `department`. Approved and issued invoices are
    left as they are. Returns the invoices written and a summary (counts, skipped, warnings)."""
    if month.day != 1:
        raise ApplicationError("A period is a month: give its first day")
    period = Period.objects.filter(month=month).first()
    if period is None or not period.is_closed:
        raise Conflict(
            f"{month:%Y-%m} is open: close it before generating its invoices", extra={"period": f"{month:%Y-%m}"}
        )
    settings = organization_settings()
    currency = settings.reporting_currency
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [GENERATION_LOCK])
        existing = {
            invoice.department_id: invoice
            for invoice in Invoice.objects.select_for_update(of=("self",))
            .select_related("department")
            .filter(kind=Invoice.Kind.INVOICE, period=month)
        }
        drafts = {invoice.pk for invoice in existing.values() if invoice.status == Invoice.Status.DRAFT}
        current = month_charges(month, currency=currency)
        warnings = list(current.warnings)
        billed_now = _billed(month, exclude=drafts)
        earlier = []
        for earlier_period in Period.objects.filter(
            month__lt=month, status=Period.Status.CLOSED, invoiced_at__isnull=False
        ).order_by("month"):
            charges = month_charges(earlier_period.month, currency=currency)
            warnings += [f"{earlier_period.label}: {w}" for w in charges.warnings]
            earlier.append((earlier_period.month, charges, _billed(earlier_period.month, exclude=drafts)))

        departments = set(current.by_department) | {d for d, _ in billed_now}
        for _, charges, billed in earlier:
            departments |= set(charges.by_department) | {d for d, _ in billed}
        if department is not None:
            departments &= {department.pk}
        # Usage no rule attributes (the system department UNALLOCATED) counts in the blended rates
        # but is nobody's to pay: no invoice; its amount is reported (closing acknowledged it).
        system = set(Department.objects.filter(pk__in=departments, is_system=True).values_list("pk", flat=True))
        not_charged = sum(
            (charge.amount for department_id in system for charge in current.by_department.get(department_id, [])),
            Decimal(0),
        )
        departments -= system
        places = minor_units(currency)
        written, skipped = [], []
        now = timezone.now()
        for index, department_id in enumerate(sorted(departments)):
            invoice = existing.get(department_id)
            if invoice is not None and invoice.status != Invoice.Status.DRAFT:
                skipped.append({"department": invoice.department.code, "invoice": invoice.pk, "status": invoice.status})
                continue
            lines: list[InvoiceLine] = []
            target = invoice or Invoice(
                kind=Invoice.Kind.INVOICE,
                department_id=department_id,
                period=month,
                currency=currency,
                payment_terms_days=settings.default_payment_terms_days,
                created_by=actor,
            )
            for charge, key, tokens, amount in _differences(
                current.by_department.get(department_id, []), billed_now, department_id
            ):
                if charge is None and not tokens and not amount:
                    continue
                if charge is not None and not tokens and not amount and not charge.tokens:
                    continue
                lines.append(
                    _line(
                        target,
                        len(lines),
                        kind=charge.charge if charge else key[0],
                        key=key,
                        service_period=month,
                        tokens=tokens,
                        amount=amount,
                        unit_price=charge.unit_price if charge else None,
                        description=charge.description if charge else "Reversal",
                        extra=charge.reference if charge else {},
                    )
                )
            for earlier_month, charges, billed in earlier:
                for charge, key, tokens, amount in _differences(
                    charges.by_department.get(department_id, []), billed, department_id
                ):
                    if not tokens and not amount:
                        continue
                    description = charge.description if charge else f"{key[0]} no longer owed"
                    lines.append(
                        _line(
                            target,
                            len(lines),
                            kind=InvoiceLine.Kind.ADJUSTMENT,
                            key=key,
                            service_period=earlier_month,
                            tokens=tokens,
                            amount=amount,
                            unit_price=charge.unit_price if charge else None,
                            description=f"Adjustment for {earlier_month:%Y-%m}: {description}",
                            extra=charge.reference if charge else {},
                        )
                    )
            if not lines and invoice is None:
                continue
            target.total = sum((line.amount for line in lines), Decimal(0)).quantize(Decimal(1).scaleb(-places))
            target.generated_at = now
            target.currency = currency
            target._history_user = actor
            target.save()
            if invoice is not None:
                invoice.lines.all().delete()
            InvoiceLine.objects.bulk_create(lines)
            written.append(target)
            if report is not None and index % 10 == 0:
                report(min(99, 100 * (index + 1) // max(1, len(departments))), None)
        if period.invoiced_at is None:
            period.invoiced_at = now
            period._history_user = actor
            period.save(update_fields=["invoiced_at"])
    summary = {
        "period": f"{month:%Y-%m}",
        "invoices": len(written),
        "amount": str(sum((i.total for i in written), Decimal(0))),
        "currency": currency,
        "skipped": skipped,
        "warnings": warnings,
        "unallocated_not_charged": str(not_charged),
        "message": f"{len(written)} invoices generated for {month:%Y-%m}"
        + (f"; {len(skipped)} approved or issued left as they are" if skipped else ""),
    }
    return written, summary


def invoices_generate_start(*, month: date, department=None, actor) -> JobRun:
    if not Period.objects.filter(month=month, status=Period.Status.CLOSED).exists():
        raise Conflict(
            f"{month:%Y-%m} is open: close it before generating its invoices", extra={"period": f"{month:%Y-%m}"}
        )
    params = {"period": month.isoformat()}
    if department is not None:
        params["department"] = department.pk
    return job_run_create(kind="invoice_generate", created_by=actor, params=params, task="billing.invoices_generate")


def invoices_generate_run_execute(run: JobRun, report: Report) -> dict:
    department = Department.objects.get(pk=run.params["department"]) if run.params.get("department") else None
    month = date.fromisoformat(run.params["period"])
    _, summary = invoices_generate(month=month, department=department, actor=run.created_by, report=report)
    return summary


# Approval and issue ----------------------------------------------------------------------------


@transaction.atomic
def invoice_approve(*, invoice: Invoice, actor) -> Invoice:
    """Approve a draft. With four-eyes on, the approver must not be who generated it."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status != Invoice.Status.DRAFT:
        raise Conflict(f"{invoice} is {invoice.get_status_display().lower()}: only a draft can be approved")
    if four_eyes_enabled() and invoice.created_by_id is not None and invoice.created_by_id == actor.pk:
        raise Forbidden("Four-eyes is on: someone other than who generated the invoice must approve it")
    invoice.status = Invoice.Status.APPROVED
    invoice.approved_by = actor
    invoice.approved_at = timezone.now()
    invoice._history_user = actor
    invoice.save(update_fields=["status", "approved_by", "approved_at"])
    return invoice


def _next_number(series: str, year: int) -> str:
    """The next number of the series and year, from its counter row locked until the caller's
    transaction commits: gapless, never reused (an issue that rolls back gives its number back)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO billing_invoicecounter (series, year, last_number) VALUES (%s, %s, 0) "
            "ON CONFLICT (series, year) DO NOTHING",
            [series, year],
        )
    counter = InvoiceCounter.objects.select_for_update().get(series=series, year=year)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return f"{series}-{year}-{counter.last_number:06d}"


def _issuer_snapshot() -> dict:
    s = organization_settings()
    return {
        "name": s.issuer_name,
        "address": s.issuer_address,
        "tax_id": s.issuer_tax_id,
        "email": s.issuer_email,
        "bank_details": s.issuer_bank_details,
        "footer": s.invoice_footer,
    }


def invoice_issue(*, invoice: Invoice, actor, render_pdf: bool = True) -> Invoice:
    """Issue: the next number of its series and year (CB for invoices, CN for credit notes), the
    issue and due dates and the issuer's details, frozen from then on (409 when already issued).
    The PDF is rendered right after the number commits and its bytes stored — outside the
    counter's lock, so issuing in parallel does not wait on rendering; if rendering fails, the
    invoice stays issued and `invoice_pdf_store` renders it on the next request for the PDF."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update(of=("self",)).select_related("original").get(pk=invoice.pk)
        if invoice.status == Invoice.Status.ISSUED:
            raise Conflict(f"{invoice.number} is issued already", extra={"number": invoice.number})
        if four_eyes_enabled() and invoice.status != Invoice.Status.APPROVED:
            raise Conflict("Four-eyes is on: the invoice must be approved before it is issued")
        if invoice.kind == Invoice.Kind.INVOICE:
            if not Period.objects.filter(month=invoice.period, status=Period.Status.CLOSED).exists():
                raise Conflict(f"{invoice.period_label} is open: close it before issuing its invoices")
        else:
            _credit_cap_check(invoice.original, extra=Decimal(0))
        today = timezone.now().date()
        invoice.number = _next_number(SERIES[invoice.kind], today.year)
        invoice.status = Invoice.Status.ISSUED
        invoice.issue_date = today
        invoice.due_date = today + timedelta(days=invoice.payment_terms_days)
        invoice.issued_at = timezone.now()
        invoice.issued_by = actor
        invoice.issuer = _issuer_snapshot()
        invoice._history_user = actor
        invoice.save()
    if render_pdf:
        try:
            invoice_pdf_store(invoice=invoice)
        except Exception:  # the invoice is issued; the PDF is rendered again when asked for
            logger.exception("PDF of %s not rendered at issue", invoice.number)
    return invoice


def invoice_pdf_store(*, invoice: Invoice) -> bytes:
    """The issued invoice's PDF bytes: rendered once and stored; later calls return the stored
    bytes. A draft is rendered as a preview and not stored."""
    from ..pdf import invoice_pdf_render

    if invoice.is_issued:
        stored = Invoice.objects.filter(pk=invoice.pk).values_list("pdf", flat=True).first()
        if stored:
            return bytes(stored)
    data = invoice_pdf_render(invoice=invoice)
    if invoice.is_issued:
        written = Invoice.objects.filter(pk=invoice.pk, pdf__isnull=True).update(
            pdf=data, pdf_sha256=hashlib.sha256(data).hexdigest()
        )
        if not written:  # another process stored its rendering first: that one is the copy
            return bytes(Invoice.objects.filter(pk=invoice.pk).values_list("pdf", flat=True).first())
    return data


# Credit notes ----------------------------------------------------------------------------------


def invoice_credited_by_line(original: Invoice) -> dict[int, Decimal]:
    """Per original line: how much credit notes (any status) credit it, as a positive amount."""
    credited: dict[int, Decimal] = defaultdict(Decimal)
    for line_id, amount in InvoiceLine.objects.filter(
        invoice__original=original, invoice__kind=Invoice.Kind.CREDIT_NOTE, original_line__isnull=False
    ).values_list("original_line_id", "amount"):
        credited[line_id] += -amount
    return credited


def _credit_cap_check(original: Invoice, *, extra: Decimal) -> None:
    credited = sum(invoice_credited_by_line(original).values(), Decimal(0)) + extra
    if credited > original.total:
        raise ApplicationError(
            f"Credit notes would credit {_shown(credited, original.currency)}, more than {original.number}'s total "
            f"of {_shown(original.total, original.currency)}",
            extra={"credited": str(credited), "total": str(original.total)},
        )


def _shown(amount: Decimal, currency: str) -> str:
    """An amount as people read it: the currency's minor unit, and its code."""
    return f"{amount.quantize(Decimal(1).scaleb(-minor_units(currency))):,} {currency}"


@transaction.atomic
def invoice_credit_note_create(*, invoice: Invoice, reason: str, lines: list[dict] | None = None, actor) -> Invoice:
    """A draft credit note against an issued invoice: every line's remaining amount, or the given
    `lines` ([{"line": <original line id>, "amount": "<positive amount>"}]). Never more than
    what is left to credit of a line or of the invoice (400)."""
    original = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if original.kind != Invoice.Kind.INVOICE or not original.is_issued:
        raise Conflict("Only an issued invoice can be credited")
    if not (reason or "").strip():
        raise ApplicationError("Give the reason for the credit note", extra={"fields": {"reason": ["Required."]}})
    places = minor_units(original.currency)
    quantum = Decimal(1).scaleb(-places)
    originals = {line.pk: line for line in original.lines.all()}
    credited = invoice_credited_by_line(original)
    wanted: list[tuple[InvoiceLine, Decimal]] = []
    if lines is None:
        for line in originals.values():
            remaining = line.amount - credited.get(line.pk, Decimal(0))
            if (line.amount > 0 and remaining > 0) or (line.amount < 0 and remaining < 0):
                wanted.append((line, remaining))
    else:
        errors = {}
        for index, item in enumerate(lines):
            line = originals.get(item.get("line"))
            try:
                amount = to_decimal(item.get("amount"))
            except ValueError as exc:
                errors[str(index)] = [str(exc)]
                continue
            if line is None:
                errors[str(index)] = [f"Line {item.get('line')!r} is not a line of {original.number}"]
            elif amount <= 0 or amount != amount.quantize(quantum):
                errors[str(index)] = [f"Give a positive amount with at most {places} decimals"]
            elif line.amount <= 0:
                errors[str(index)] = ["This line is a credit already: it cannot be credited"]
            elif amount > line.amount - credited.get(line.pk, Decimal(0)):
                left = line.amount - credited.get(line.pk, Decimal(0))
                errors[str(index)] = [f"At most {_shown(left, original.currency)} is left to credit on this line"]
            else:
                wanted.append((line, amount))
        if errors:
            raise ApplicationError("Some credit note lines are not valid", extra={"fields": {"lines": errors}})
    if not wanted:
        raise Conflict(f"Nothing is left to credit on {original.number}")
    total = sum((amount for _, amount in wanted), Decimal(0))
    _credit_cap_check(original, extra=total)
    note = Invoice(
        kind=Invoice.Kind.CREDIT_NOTE,
        department_id=original.department_id,
        period=original.period,
        currency=original.currency,
        payment_terms_days=original.payment_terms_days,
        original=original,
        reason=reason.strip(),
        created_by=actor,
        generated_at=timezone.now(),
        total=-total,
    )
    note._history_user = actor
    note.save()
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            invoice=note,
            position=position,
            kind=InvoiceLine.Kind.CREDIT,
            charge=line.charge,
            service_period=line.service_period,
            vendor_id=line.vendor_id,
            model=line.model,
            token_class=line.token_class,
            tokens=-line.tokens if amount == line.amount else 0,
            unit_price=line.unit_price,
            amount=-amount,
            description=f"Credit: {line.description}",
            reference={"credits": line.pk},
            original_line=line,
        )
        for position, (line, amount) in enumerate(wanted)
    )
    return note


# Bulk issue ------------------------------------------------------------------------------------


def invoices_issue_start(*, month: date, actor) -> JobRun:
    """Issue every unissued invoice of the month: a run whose task sends chunks of invoices to
    the workers (each a task of its own: two workers issue in parallel)."""
    wanted = Invoice.Status.APPROVED if four_eyes_enabled() else None
    queryset = Invoice.objects.filter(kind=Invoice.Kind.INVOICE, period=month).exclude(status=Invoice.Status.ISSUED)
    if wanted:
        queryset = queryset.filter(status=wanted)
    ids = list(queryset.order_by("department__code").values_list("pk", flat=True))
    if not ids:
        raise Conflict(f"{month:%Y-%m} has no invoices ready to issue")
    return job_run_create(
        kind="invoice_issue",
        created_by=actor,
        params={"period": month.isoformat(), "ids": ids},
        task="billing.invoices_issue",
    )


def invoices_issue_fan_out(*, run_id: int, send: Callable[[int, list[int]], None]) -> None:
    run = job_run_start(run_id=run_id)
    if run is None:
        return
    ids = run.params.get("ids", [])
    run.result = {"issued": 0, "errors": [], "total": len(ids)}
    run.save(update_fields=["result"])
    for start in range(0, len(ids), ISSUE_CHUNK):
        send(run_id, ids[start : start + ISSUE_CHUNK])


def _pdf_store_quietly(invoice: Invoice) -> None:
    try:
        invoice_pdf_store(invoice=invoice)
    except Exception:  # the PDF is rendered on its first request instead (invoice_issue's docstring)
        logger.exception("could not render the PDF of issued invoice %s", invoice.pk)


def invoices_issue_chunk(*, run_id: int, ids: list[int]) -> None:
    """Issue some of a bulk run's invoices; the run's counts and progress move as chunks finish,
    and the last chunk ends the run. A chunk delivered twice finds its invoices issued: counted,
    not issued again."""
    run = JobRun.objects.get(pk=run_id)
    issued, errors = 0, []
    for invoice in Invoice.objects.filter(pk__in=ids).order_by("pk"):
        if invoice.is_issued:
            issued += 1
            if not invoice.pdf_sha256:  # issued by a worker that died before it stored the PDF
                _pdf_store_quietly(invoice)
            continue
        try:
            invoice_issue(invoice=invoice, actor=run.created_by)
            issued += 1
        except ApplicationError as exc:
            if Invoice.objects.filter(pk=invoice.pk, status=Invoice.Status.ISSUED).exists():
                issued += 1  # a second delivery of this chunk issued it meanwhile: counted, not an error
                continue
            errors.append({"invoice": invoice.pk, "message": exc.message})
    with transaction.atomic():
        run = JobRun.objects.select_for_update().get(pk=run_id)
        result = run.result or {"issued": 0, "errors": [], "total": len(run.params.get("ids", []))}
        result["issued"] = Invoice.objects.filter(pk__in=run.params.get("ids", []), status="issued").count()
        result["errors"] = [e for e in result.get("errors", []) if e["invoice"] not in ids] + errors
        done = result["issued"] + len(result["errors"])
        run.result = result
        run.progress = min(100, 100 * done // max(1, result["total"]))
        run.save(update_fields=["result", "progress"])
    if done >= result["total"]:
        message = f"{result['issued']} invoices issued"
        if result["errors"]:
            job_run_fail(run_id=run_id, message=message + f"; {len(result['errors'])} refused (see the result)")
        else:
            job_run_succeed(run_id=run_id, result=result, message=message)
