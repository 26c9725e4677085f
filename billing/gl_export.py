"""The month-end GL journal (CSV): each department's LLM spend per vendor, debited to the expense
account on the department's cost centre, against the accrued liability, credited per vendor.

Amounts are in the reporting currency: the month's rated spend of each department × vendor from
the monthly usage totals (usage_monthly_rollup: records' reporting-currency cost, volume
true-ups included). Each debit is rounded half up to the currency's minor unit; a vendor's credit
is the **sum of its rounded debit lines** (as an invoice's total is the sum of its lines), so the
journal balances by construction and no rounding line is needed. (The credit may differ from the
vendor's exact total rounded by at most half a minor unit per department.) A department × vendor
whose spend is negative (a true-up credit larger than the month's usage) is written as a credit
to the expense account; a vendor whose lines net to a negative amount gets a debit on the accrual
account. Lines that round to zero are left out.

Account codes come from GlAccount rows (billing.models.gl): the most specific row of the purpose
wins — vendor and department, then vendor, then department, then neither — else the settings
GL_EXPENSE_ACCOUNT and GL_ACCRUAL_ACCOUNT. The cost centre of an expense line is the row's
`cost_centre` when it has one, else the department's code; an accrual line has the row's
`cost_centre` (usually none).

CSV injection: a cell that begins with =, +, -, @, a tab or a carriage return is prefixed with a
single quote, so a spreadsheet shows it as text instead of running it (amounts are never
negative in the debit and credit columns, so numbers are untouched).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db.models import Sum

from core.money import round_to_minor_unit
from core.selectors import organization_settings
from usage.models import MonthlyRollup

from .models import GlAccount
from .months import month_last_day

ZERO = Decimal(0)
COLUMNS = (
    "date",
    "journal",
    "account",
    "cost_centre",
    "department",
    "vendor",
    "description",
    "debit",
    "credit",
    "currency",
)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value) -> str:
    """A cell a spreadsheet will not evaluate: text starting with = + - @ (or a tab or CR) gets a
    leading single quote."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


@dataclass(frozen=True)
class JournalLine:
    date: date
    journal: str
    account: str
    cost_centre: str
    department: str
    vendor: str
    description: str
    debit: Decimal
    credit: Decimal
    currency: str

    def cells(self) -> list[str]:
        return [
            csv_safe(self.date.isoformat()),
            csv_safe(self.journal),
            csv_safe(self.account),
            csv_safe(self.cost_centre),
            csv_safe(self.department),
            csv_safe(self.vendor),
            csv_safe(self.description),
            csv_safe(_amount(self.debit)),
            csv_safe(_amount(self.credit)),
            csv_safe(self.currency),
        ]


def _amount(value: Decimal) -> str:
    return "" if not value else format(value, "f")


@dataclass
class Journal:
    month: date
    currency: str
    reference: str
    lines: list[JournalLine] = field(default_factory=list)
    unpriced_records: int = 0

    @property
    def total_debit(self) -> Decimal:
        return sum((line.debit for line in self.lines), ZERO)

    @property
    def total_credit(self) -> Decimal:
        return sum((line.credit for line in self.lines), ZERO)

    @property
    def balanced(self) -> bool:
        return self.total_debit == self.total_credit

    @property
    def filename(self) -> str:
        return f"gl-journal-{self.month:%Y-%m}.csv"


class AccountMap:
    """The account (and cost centre) of a purpose for a vendor and department: the most specific
    GlAccount row wins, else the setting."""

    DEFAULTS = {GlAccount.Purpose.EXPENSE: "GL_EXPENSE_ACCOUNT", GlAccount.Purpose.ACCRUAL: "GL_ACCRUAL_ACCOUNT"}
    FALLBACK = {GlAccount.Purpose.EXPENSE: "6000", GlAccount.Purpose.ACCRUAL: "2100"}

    def __init__(self, rows) -> None:
        self.rows = {(row.purpose, row.vendor_id, row.department_id): row for row in rows}

    @classmethod
    def load(cls) -> AccountMap:
        return cls(GlAccount.objects.all())

    def row(self, purpose: str, vendor_id: int | None, department_id: int | None) -> GlAccount | None:
        for key in (
            (purpose, vendor_id, department_id),
            (purpose, vendor_id, None),
            (purpose, None, department_id),
            (purpose, None, None),
        ):
            if key in self.rows:
                return self.rows[key]
        return None

    def account(self, purpose: str, vendor_id: int | None, department_id: int | None) -> tuple[str, str]:
        """(account code, cost centre override or "")."""
        row = self.row(purpose, vendor_id, department_id)
        if row is not None:
            return row.account_code, row.cost_centre
        setting = self.DEFAULTS.get(purpose)
        return str(getattr(settings, setting, "") or self.FALLBACK[purpose]), ""


def gl_journal(*, month: date) -> Journal:
    """The month's journal: see the module for amounts, rounding and accounts."""
    month = month.replace(day=1)
    currency = organization_settings().reporting_currency
    day = month_last_day(month)
    journal = Journal(month=month, currency=currency, reference=f"TL-{month:%Y-%m}")
    rows = (
        MonthlyRollup.objects.filter(month=month)
        .values("vendor_id", "vendor__slug", "vendor__name", "department_id", "department__code")
        .annotate(cost=Sum("cost"), unpriced=Sum("unpriced_records"))
        .order_by("vendor__name", "vendor_id", "department__code")
    )
    accounts = AccountMap.load()
    vendor_totals: dict[int, Decimal] = defaultdict(lambda: ZERO)
    vendors: dict[int, tuple[str, str]] = {}
    for row in rows:
        journal.unpriced_records += int(row["unpriced"] or 0)
        amount = round_to_minor_unit(row["cost"] or ZERO, currency)
        if not amount:
            continue
        vendor_id, department_id = row["vendor_id"], row["department_id"]
        vendors[vendor_id] = (row["vendor__slug"], row["vendor__name"])
        account, cost_centre = accounts.account(GlAccount.Purpose.EXPENSE, vendor_id, department_id)
        journal.lines.append(
            JournalLine(
                date=day,
                journal=journal.reference,
                account=account,
                cost_centre=cost_centre or row["department__code"],
                department=row["department__code"],
                vendor=row["vendor__slug"],
                description=f"LLM usage {month:%Y-%m}: {row['vendor__name']}, {row['department__code']}",
                debit=max(amount, ZERO),
                credit=max(-amount, ZERO),
                currency=currency,
            )
        )
        vendor_totals[vendor_id] += amount
    for vendor_id, total in vendor_totals.items():
        if not total:
            continue
        slug, name = vendors[vendor_id]
        account, cost_centre = accounts.account(GlAccount.Purpose.ACCRUAL, vendor_id, None)
        journal.lines.append(
            JournalLine(
                date=day,
                journal=journal.reference,
                account=account,
                cost_centre=cost_centre,
                department="",
                vendor=slug,
                description=f"Accrued LLM usage {month:%Y-%m}: {name}",
                debit=max(-total, ZERO),
                credit=max(total, ZERO),
                currency=currency,
            )
        )
    return journal


def gl_journal_csv(journal: Journal) -> str:
    """The journal as CSV text: one header row (COLUMNS), then its lines (debits, then credits)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for line in journal.lines:
        writer.writerow(line.cells())
    return out.getvalue()
