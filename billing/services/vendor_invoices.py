"""Vendor invoices: entered (or uploaded) by finance, changed while received, approved before payment.

Defaults: the currency is the vendor's billing currency; the due date is the invoice date plus
the payment terms of the vendor's agreement active on the invoice date, else the vendor's own
payment terms; the PO number is that agreement's; the tax type follows the vendor's invoice type.

Amounts: every amount has at most the currency's minor unit (2 places for USD and CNY, 0 for
JPY). With lines, the subtotal is the sum of the lines (given, it must be exactly that); without
lines a subtotal is required. The total is subtotal + tax (given, it must be exactly that).

Documents (the PDF, a scan, or the e-invoice itself) are checked by size
(VENDOR_INVOICE_DOCUMENT_MAX_BYTES, default 20 MiB: 413) and by content, not just by name: PDF,
PNG, JPEG, TIFF, XML (UBL, CII / Factur-X, China's e-fapiao XML) and OFD (China's e-invoice
layout); anything else answers 415.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from contracts.models import Agreement
from core.currencies import is_currency, minor_units
from core.exceptions import Conflict, PayloadTooLarge, UnsupportedFormat, ValidationFailed
from core.money import places
from procurement.models import Vendor

from ..models import VendorInvoice, VendorInvoiceLine
from ..months import FIRST_YEAR, LAST_YEAR

VENDOR_INVOICE_FIELDS = (
    "vendor",
    "number",
    "po_number",
    "invoice_date",
    "period",
    "due_date",
    "currency",
    "subtotal",
    "tax",
    "total",
    "tax_type",
    "notes",
)
LINE_FIELDS = ("description", "model", "tokens", "amount")
DEFAULT_DOCUMENT_MAX_BYTES = 20 * 1024 * 1024

# vendor invoice type → the tax document it issues
TAX_TYPE_OF_INVOICE_TYPE = {
    Vendor.InvoiceType.VAT: VendorInvoice.TaxType.VAT,
    Vendor.InvoiceType.FAPIAO_GENERAL: VendorInvoice.TaxType.FAPIAO_GENERAL,
    Vendor.InvoiceType.FAPIAO_SPECIAL: VendorInvoice.TaxType.FAPIAO_SPECIAL,
}


class DocumentTooLarge(PayloadTooLarge):
    pass


class DocumentTypeRefused(UnsupportedFormat):
    pass


# Documents -------------------------------------------------------------------------------------

# extension → (kind, content check)
DOCUMENT_TYPES: dict[str, tuple[str, object]] = {
    ".pdf": ("PDF", lambda head: head.startswith(b"%PDF-")),
    ".png": ("PNG image", lambda head: head.startswith(b"\x89PNG\r\n\x1a\n")),
    ".jpg": ("JPEG image", lambda head: head.startswith(b"\xff\xd8\xff")),
    ".jpeg": ("JPEG image", lambda head: head.startswith(b"\xff\xd8\xff")),
    ".tif": ("TIFF image", lambda head: head[:4] in (b"II*\x00", b"MM\x00*")),
    ".tiff": ("TIFF image", lambda head: head[:4] in (b"II*\x00", b"MM\x00*")),
    ".xml": ("XML e-invoice", lambda head: _looks_like_xml(head)),
    ".ofd": ("OFD e-invoice", lambda head: head.startswith(b"PK\x03\x04")),
}


def _looks_like_xml(head: bytes) -> bool:
    for bom in (b"\xef\xbb\xbf",):
        head = head.removeprefix(bom)
    return head.lstrip().startswith(b"<")


def document_max_bytes() -> int:
    return int(getattr(settings, "VENDOR_INVOICE_DOCUMENT_MAX_BYTES", DEFAULT_DOCUMENT_MAX_BYTES))


def document_check(file) -> None:
    """Refuse a document that is too large (413) or not a PDF, image or e-invoice (415)."""
    name = getattr(file, "name", "") or ""
    size = getattr(file, "size", None)
    limit = document_max_bytes()
    if size is not None and size > limit:
        mib = f" ({limit / (1024 * 1024):.4g} MiB)" if limit >= 1024 * 1024 else ""
        message = f"The document is {size:,} bytes; the limit is {limit:,} bytes{mib}."
        raise DocumentTooLarge(message, extra={"fields": {"document": [message]}})
    extension = posixpath.splitext(name.lower())[1]
    accepted = ", ".join(sorted({ext.lstrip(".").upper() for ext in DOCUMENT_TYPES}))
    if extension not in DOCUMENT_TYPES:
        message = f"“{name}” is not an accepted document; upload a PDF, an image or an XML/OFD e-invoice ({accepted})."
        raise DocumentTypeRefused(message, extra={"fields": {"document": [message]}})
    kind, matches = DOCUMENT_TYPES[extension]
    position = file.tell() if hasattr(file, "tell") else 0
    file.seek(0)
    head = file.read(64)
    file.seek(position)
    if isinstance(head, str):
        head = head.encode()
    if not matches(head):
        message = f"“{name}” is not a {kind}: its content does not match its name."
        raise DocumentTypeRefused(message, extra={"fields": {"document": [message]}})


# Defaults --------------------------------------------------------------------------------------


def agreement_on(vendor: Vendor, day: date) -> Agreement | None:
    """The vendor's agreement active on `day` (at most one is)."""
    return (
        Agreement.objects.filter(vendor=vendor, status=Agreement.Status.ACTIVE, start__lte=day, end__gte=day)
        .order_by("-start")
        .first()
    )


def payment_terms_days(vendor: Vendor, day: date) -> int:
    """The payment terms of the agreement active on `day`, else the vendor's."""
    agreement = agreement_on(vendor, day)
    return agreement.payment_terms_days if agreement else vendor.payment_terms_days


# Validation ------------------------------------------------------------------------------------


def _places_message(currency: str, digits: int) -> str:
    if digits == 0:
        return f"{currency} amounts are whole numbers (no decimal places)."
    return f"{currency} amounts have at most {digits} decimal place{'s' if digits != 1 else ''}."


def _clean_lines(lines: Iterable[Mapping], digits: int | None, currency: str) -> tuple[list[dict], list[dict]]:
    """(lines, per-line errors as DRF shapes them: [{}, {"amount": [...]}, …])."""
    cleaned, errors = [], []
    for raw in lines:
        unknown = set(raw) - set(LINE_FIELDS) - {"id", "position"}
        if unknown:
            raise TypeError(f"Unknown vendor invoice line fields: {', '.join(sorted(unknown))}")
        line = {
            "description": str(raw.get("description") or "").strip(),
            "model": str(raw.get("model") or "").strip(),
            "tokens": raw.get("tokens"),
            "amount": raw.get("amount"),
        }
        problems: dict[str, list[str]] = {}
        if not line["description"]:
            problems["description"] = ["Describe the line (e.g. “deepseek-chat input tokens”)."]
        if line["amount"] is None:
            problems["amount"] = ["Give the line's amount."]
        elif digits is not None and places(Decimal(line["amount"])) > digits:
            problems["amount"] = [_places_message(currency, digits)]
        if line["tokens"] is not None and int(line["tokens"]) < 0:
            problems["tokens"] = ["Tokens cannot be negative."]
        cleaned.append(line)
        errors.append(problems)
    return cleaned, errors


def _duplicate(invoice: VendorInvoice) -> VendorInvoice | None:
    if not (invoice.vendor_id and invoice.number):
        return None
    others = VendorInvoice.objects.filter(vendor_id=invoice.vendor_id, number__iexact=invoice.number)
    if invoice.pk:
        others = others.exclude(pk=invoice.pk)
    return others.first()


def _duplicate_message(invoice: VendorInvoice, other: VendorInvoice | None = None) -> str:
    when = f" (dated {other.invoice_date})" if other else ""
    return f"{invoice.vendor.name} invoice {invoice.number} is already entered{when}; open that one instead."


def _save(
    invoice: VendorInvoice,
    *,
    fields: dict,
    lines: list[Mapping] | None,
    document,
    actor,
    creating: bool,
) -> VendorInvoice:
    """Apply `fields` (and `lines`, None = keep) to `invoice`, fill the defaults, validate and save."""
    unknown = set(fields) - set(VENDOR_INVOICE_FIELDS)
    if unknown:
        raise TypeError(f"Unknown vendor invoice fields: {', '.join(sorted(unknown))}")
    dated_before = invoice.invoice_date
    for name, value in fields.items():
        setattr(invoice, name, value)
    errors: dict[str, list] = {}
    vendor = invoice.vendor if invoice.vendor_id else None
    if vendor is None:
        errors["vendor"] = ["Name the vendor (its slug)."]
    invoice.number = (invoice.number or "").strip()
    if not invoice.number:
        errors["number"] = ["Give the vendor's invoice number."]
    invoice.po_number = (invoice.po_number or "").strip()
    if invoice.period:
        invoice.period = invoice.period.replace(day=1)
    else:
        errors["period"] = ["Give the month of usage the invoice charges (YYYY-MM)."]
    if not invoice.invoice_date:
        errors["invoice_date"] = ["Give the invoice date (YYYY-MM-DD)."]
    for name in ("invoice_date", "due_date", "period"):
        value = getattr(invoice, name)
        if value and not FIRST_YEAR <= value.year <= LAST_YEAR and name not in errors:
            errors[name] = [f"Give a date from {FIRST_YEAR} to {LAST_YEAR}."]
            setattr(invoice, name, None if name != "period" else value)

    agreement = agreement_on(vendor, invoice.invoice_date) if vendor and invoice.invoice_date else None
    # the due date follows the invoice date unless it is given (or, on a change, kept)
    redate = creating or "due_date" in fields or invoice.invoice_date != dated_before
    if vendor and invoice.invoice_date and fields.get("due_date") is None and redate:
        terms = agreement.payment_terms_days if agreement else vendor.payment_terms_days
        invoice.due_date = invoice.invoice_date + timedelta(days=terms)
    if invoice.due_date and invoice.invoice_date and invoice.due_date < invoice.invoice_date:
        errors["due_date"] = ["The due date cannot be before the invoice date."]
    if creating and vendor and not invoice.po_number and agreement:
        invoice.po_number = agreement.po_number
    if creating and vendor and "tax_type" not in fields:
        invoice.tax_type = TAX_TYPE_OF_INVOICE_TYPE.get(vendor.invoice_type, VendorInvoice.TaxType.NONE)

    invoice.currency = (invoice.currency or (vendor.billing_currency if vendor else "")).strip().upper()
    digits = None
    if not is_currency(invoice.currency):
        errors["currency"] = [f"“{invoice.currency}” is not an ISO 4217 currency code (for example USD, EUR, CNY)."]
    else:
        digits = minor_units(invoice.currency)

    # Lines and amounts
    if lines is not None:
        new_lines, line_errors = _clean_lines(lines, digits, invoice.currency)
        if any(line_errors):
            errors["lines"] = line_errors
        line_amounts = [Decimal(line["amount"]) for line in new_lines if line["amount"] is not None]
    else:
        new_lines = None
        line_amounts = list(invoice.lines.values_list("amount", flat=True)) if invoice.pk else []
    has_lines = bool(new_lines) if lines is not None else bool(line_amounts)
    if invoice.tax is None:
        invoice.tax = Decimal(0)
    if has_lines and "lines" not in errors:
        lines_sum = sum(line_amounts, Decimal(0))
        given = fields.get("subtotal")
        if given is not None and given != lines_sum:
            errors["subtotal"] = [
                f"The subtotal {given.normalize():f} is not the sum of the lines ({lines_sum.normalize():f}); "
                "they must match exactly (or leave the subtotal out)."
            ]
        else:
            invoice.subtotal = lines_sum
    elif not has_lines and invoice.subtotal is None:
        errors["subtotal"] = ["Give the subtotal (before tax), or the invoice's lines."]
    if invoice.tax is not None and invoice.tax < 0:
        errors["tax"] = ["Tax cannot be negative."]
    if "subtotal" not in errors and invoice.subtotal is not None and not errors.get("tax"):
        expected_total = invoice.subtotal + invoice.tax
        given_total = fields.get("total")
        if given_total is not None and given_total != expected_total:
            errors["total"] = [
                f"The total {given_total.normalize():f} is not subtotal + tax "
                f"({invoice.subtotal.normalize():f} + {invoice.tax.normalize():f} = {expected_total.normalize():f})."
            ]
        else:
            invoice.total = expected_total
    if digits is not None:
        for name in ("subtotal", "tax", "total"):
            value = getattr(invoice, name)
            if name not in errors and value is not None and places(value) > digits:
                errors[name] = [_places_message(invoice.currency, digits)]

    if vendor and invoice.number and (other := _duplicate(invoice)):
        errors["number"] = [_duplicate_message(invoice, other)]
    if document:
        try:
            document_check(document)
        except (DocumentTooLarge, DocumentTypeRefused) as exc:
            if errors:  # report everything at once, beside the fields (400)
                errors["document"] = [exc.message]
            else:
                raise
    if errors.get("lines"):
        # per-line errors keep their row, as DRF shapes nested errors: {"lines": [{}, {"amount": [...]}]}
        raise ValidationFailed(errors)
    if errors:
        raise ValidationError(errors)
    try:
        invoice.full_clean(exclude=["document", "subtotal", "total"], validate_constraints=False)
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from exc

    if creating:
        invoice.created_by = actor
    invoice._history_user = actor
    reasons = []
    if new_lines is not None:
        reasons.append(f"{len(new_lines)} line{'s' if len(new_lines) != 1 else ''}")
    if document:
        reasons.append(f"document {posixpath.basename(document.name)}")
        invoice.document.save(f"{invoice.vendor.slug}/{posixpath.basename(document.name)}", document, save=False)
    if reasons and not creating:
        invoice._change_reason = "; ".join(reasons)
    try:
        with transaction.atomic():
            invoice.save()
    except IntegrityError as exc:  # entered at the same moment by someone else
        raise ValidationError({"number": [_duplicate_message(invoice)]}) from exc
    if new_lines is not None:
        invoice.lines.all().delete()
        VendorInvoiceLine.objects.bulk_create(
            VendorInvoiceLine(invoice=invoice, position=position, **line) for position, line in enumerate(new_lines)
        )
    return invoice


@transaction.atomic
def vendor_invoice_create(
    *,
    actor,
    vendor: Vendor,
    number: str,
    invoice_date: date,
    period: date,
    lines: list[Mapping] | None = None,
    document=None,
    **fields,
) -> VendorInvoice:
    """Enter a vendor's invoice (status `received`). See the module for defaults and rules."""
    fields.update(vendor=vendor, number=number, invoice_date=invoice_date, period=period)
    invoice = VendorInvoice(tax=Decimal(0))
    return _save(invoice, fields=fields, lines=lines or [], document=document, actor=actor, creating=True)


@transaction.atomic
def vendor_invoice_update(
    *, invoice: VendorInvoice, actor, lines: list[Mapping] | None = None, document=None, **fields
) -> VendorInvoice:
    """Change a received invoice; `lines` (when given) replace its lines. An approved invoice
    cannot change (409). Leaving out `due_date` recomputes it when the invoice date changes."""
    locked = VendorInvoice.objects.select_for_update().select_related("vendor").get(pk=invoice.pk)
    if locked.status == VendorInvoice.Status.APPROVED:
        raise Conflict(
            f"Invoice {locked.number} was approved on {locked.approved_at:%Y-%m-%d}; an approved invoice cannot change."
        )
    return _save(locked, fields=fields, lines=lines, document=document, actor=actor, creating=False)


@transaction.atomic
def vendor_invoice_attach_document(*, invoice: VendorInvoice, file, actor) -> VendorInvoice:
    """Attach (or replace) the invoice's document; allowed until the invoice is approved."""
    locked = VendorInvoice.objects.select_for_update().select_related("vendor").get(pk=invoice.pk)
    if locked.status == VendorInvoice.Status.APPROVED:
        raise Conflict(f"Invoice {locked.number} is approved; its document cannot change.")
    document_check(file)
    name = posixpath.basename(file.name)
    locked.document.save(f"{locked.vendor.slug}/{name}", file, save=False)
    locked._history_user = actor
    locked._change_reason = f"document {name}"
    locked.save(update_fields=["document"])
    return locked


@transaction.atomic
def vendor_invoice_approve(*, invoice: VendorInvoice, actor) -> VendorInvoice:
    """Approve for payment. Approving twice answers 409."""
    locked = (
        VendorInvoice.objects.select_for_update(of=("self",)).select_related("vendor", "approved_by").get(pk=invoice.pk)
    )
    if locked.status == VendorInvoice.Status.APPROVED:
        who = locked.approved_by.username if locked.approved_by else "someone"
        raise Conflict(
            f"Invoice {locked.number} was already approved by {who} on {locked.approved_at:%Y-%m-%d %H:%M} UTC."
        )
    locked.status = VendorInvoice.Status.APPROVED
    locked.approved_at = timezone.now()
    locked.approved_by = actor
    locked._history_user = actor
    locked._change_reason = "approved"
    locked.save(update_fields=["status", "approved_at", "approved_by"])
    return locked


@transaction.atomic
def vendor_invoice_delete(*, invoice: VendorInvoice, actor) -> None:
    """Delete an invoice entered by mistake; an approved invoice is kept (409)."""
    locked = VendorInvoice.objects.select_for_update().get(pk=invoice.pk)
    if locked.status == VendorInvoice.Status.APPROVED:
        raise Conflict(f"Invoice {locked.number} is approved and cannot be deleted.")
    document = locked.document.name if locked.document else ""
    locked._history_user = actor
    locked.delete()
    if document:
        transaction.on_commit(lambda: locked.document.storage.delete(document))
