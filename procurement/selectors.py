"""Reads of the procurement app."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal, localcontext

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from core.currencies import minor_units
from core.money import places
from core.roles import Role
from core.selectors import organization_settings

from .directory import descendant_ids
from .models import Budget, Department, Vendor, VendorAlias, VendorCertification, VendorModel

# Vendors ---------------------------------------------------------------------------------------


def vendor_list() -> QuerySet[Vendor]:
    return Vendor.objects.prefetch_related(Prefetch("alias_set", queryset=VendorAlias.objects.order_by("alias")))


def vendor_by_alias(name: str) -> Vendor | None:
    """The vendor a feed's provider name belongs to (its slug, name or an alias, ignoring case)."""
    name = (name or "").strip()
    if not name:
        return None
    alias = VendorAlias.objects.select_related("vendor").filter(alias__iexact=name).first()
    if alias:
        return alias.vendor
    return Vendor.objects.filter(slug__iexact=name).first() or Vendor.objects.filter(name__iexact=name).first()


def vendor_ids_by_feed_name() -> dict[str, int]:
    """vendor_by_alias for a whole batch: every lower-cased alias, slug and name → vendor id,
    with the same precedence (an alias, then a slug, then a name)."""
    lookup: dict[str, int] = {}
    for vendor_id, slug, name in Vendor.objects.values_list("id", "slug", "name"):
        lookup.setdefault(name.strip().lower(), vendor_id)
        lookup[slug.lower()] = vendor_id
    for vendor_id, alias in VendorAlias.objects.values_list("vendor_id", "alias"):
        lookup[alias.strip().lower()] = vendor_id
    return lookup


# Certifications --------------------------------------------------------------------------------

CERTIFICATION_STATUSES = [
    ("valid", "Valid"),
    ("expiring", f"Expiring within {VendorCertification.EXPIRING_WITHIN_DAYS} days"),
    ("expired", "Expired"),
    ("future", "Not yet valid"),
]


def certification_list() -> QuerySet[VendorCertification]:
    return VendorCertification.objects.select_related("vendor")


def certifications_with_status(
    queryset: QuerySet[VendorCertification], status: str, *, today: date | None = None
) -> QuerySet[VendorCertification]:
    """The database side of VendorCertification.status, so lists filter on what they show."""
    today = today or timezone.now().date()
    soon = today + timedelta(days=VendorCertification.EXPIRING_WITHIN_DAYS)
    current = Q(valid_from__lte=today, valid_until__gte=today)
    conditions = {
        "expired": Q(valid_until__lt=today),
        "future": Q(valid_from__gt=today),
        "expiring": current & Q(valid_until__lte=soon),
        "valid": current & Q(valid_until__gt=soon),
    }
    return queryset.filter(conditions[status]) if status in conditions else queryset


# Price book ------------------------------------------------------------------------------------


def vendor_model_list() -> QuerySet[VendorModel]:
    return VendorModel.objects.select_related("vendor")


def _in_force(on: date) -> Q:
    return Q(effective_from__lte=on) & (Q(effective_to__isnull=True) | Q(effective_to__gte=on))


def vendor_models_in_force(queryset: QuerySet[VendorModel], on: date) -> QuerySet[VendorModel]:
    return queryset.filter(_in_force(on))


def vendor_prices_in_force(*, vendor: Vendor, on: date) -> QuerySet[VendorModel]:
    return vendor.models.filter(_in_force(on)).order_by("model")


def list_price_for(vendor: Vendor | int, model: str, on_date: date) -> VendorModel | None:
    """The list price of `model` (exactly as the vendor names it) in force on `on_date`, or None.

    Effective periods of one vendor's model never overlap (a database exclusion constraint),
    so there is at most one."""
    vendor_id = vendor.pk if isinstance(vendor, Vendor) else vendor
    return (
        VendorModel.objects.filter(vendor_id=vendor_id, model=model)
        .filter(_in_force(on_date))
        .order_by("-effective_from")
        .first()
    )


def vendor_model_periods(price: VendorModel) -> QuerySet[VendorModel]:
    """Every list price of the same vendor and model, latest first: the model's price history."""
    return VendorModel.objects.filter(vendor_id=price.vendor_id, model=price.model).order_by("-effective_from")


# Departments -----------------------------------------------------------------------------------


def department_list() -> QuerySet[Department]:
    User = get_user_model()
    return Department.objects.select_related("parent").prefetch_related(
        Prefetch("managers", queryset=User.objects.order_by("username")),
        Prefetch("children", queryset=Department.objects.order_by("code").only("id", "code", "parent_id")),
    )


def department_tree_positions() -> dict[int, tuple[int, int]]:
    """Every department's (position, depth) in the tree read depth-first, children by code:
    the order in which a tree is drawn. One query for the whole tree."""
    children: dict[int | None, list[tuple[str, int]]] = defaultdict(list)
    for dept_id, parent_id, code in Department.objects.values_list("id", "parent_id", "code"):
        children[parent_id].append((code, dept_id))
    positions: dict[int, tuple[int, int]] = {}
    stack = [(dept_id, 0) for _, dept_id in sorted(children[None], reverse=True)]
    while stack:
        dept_id, depth = stack.pop()
        if dept_id in positions:
            continue
        positions[dept_id] = (len(positions), depth)
        stack.extend((child, depth + 1) for _, child in sorted(children[dept_id], reverse=True))
    return positions


def department_tree(departments: Iterable[Department]) -> list[Department]:
    """The given departments in tree order, each with `tree_depth` set (0 for a root)."""
    positions = department_tree_positions()
    rows = list(departments)
    for row in rows:
        row.tree_depth = positions.get(row.pk, (0, 0))[1]
    return sorted(rows, key=lambda row: positions.get(row.pk, (len(positions), 0))[0])


def department_subtree(department: Department) -> list[Department]:
    """The department's sub-departments at every level, in tree order, `tree_depth` relative to it."""
    ids = descendant_ids([department.pk]) - {department.pk}
    rows = department_tree(department_list().filter(pk__in=ids))
    base = department_tree_positions().get(department.pk, (0, 0))[1] + 1
    for row in rows:
        row.tree_depth -= base
    return rows


def department_ancestors(department: Department) -> list[Department]:
    """From the root down to the department's parent."""
    by_id = {d.pk: d for d in Department.objects.only("id", "code", "name", "parent_id")}
    chain: list[Department] = []
    current = by_id.get(department.parent_id)
    while current is not None and current not in chain:
        chain.append(current)
        current = by_id.get(current.parent_id)
    return list(reversed(chain))


def department_manager_choices():
    """Users who may be named managers of a department: active department managers."""
    return get_user_model().objects.filter(role=Role.DEPARTMENT_MANAGER, is_active=True).order_by("username")


# Budgets ---------------------------------------------------------------------------------------


def budget_list() -> QuerySet[Budget]:
    return Budget.objects.select_related("department", "vendor")


def fiscal_year_months(fiscal_year: int, start_month: int) -> list[date]:
    """The first day of each of the fiscal year's twelve months. `fiscal_year` is the calendar
    year in which the fiscal year starts."""
    return [date(fiscal_year + (start_month - 1 + i) // 12, (start_month - 1 + i) % 12 + 1, 1) for i in range(12)]


def current_fiscal_year(start_month: int, *, today: date | None = None) -> int:
    """The fiscal year today falls in (named by the calendar year in which it starts)."""
    today = today or timezone.now().date()
    return today.year if today.month >= start_month else today.year - 1


def fiscal_year_bounds(fiscal_year: int, start_month: int) -> tuple[date, date]:
    """First and last day (inclusive) of the fiscal year."""
    first = fiscal_year_months(fiscal_year, start_month)[0]
    following = date(first.year + 1, first.month, 1)
    return first, following - timedelta(days=1)


def tidy_amount(value: Decimal, currency: str) -> Decimal:
    """An amount at its currency's minor unit (100.000000 as stored → 100.00 for USD), never
    dropping a digit that is not zero."""
    digits = minor_units(currency)
    return value.quantize(Decimal(1).scaleb(-digits)) if places(value) <= digits else value.normalize()


def budget_phasing(budget: Budget, *, start_month: int | None = None) -> list[tuple[date, Decimal]]:
    """The budget's twelve monthly amounts, with the first day of each month.

    Explicit monthly amounts are used as they are. Even phasing gives each month the amount ÷ 12
    rounded down to the currency's minor unit, and the last month the rest, so the months always
    add up exactly to the amount. `start_month` defaults to the organisation's fiscal year start."""
    if start_month is None:
        start_month = organization_settings().fiscal_year_start_month
    if budget.monthly_amounts:
        amounts = [tidy_amount(value, budget.currency) for value in budget.monthly_amounts]
    else:
        quantum = Decimal(1).scaleb(-minor_units(budget.currency))
        with localcontext() as ctx:
            ctx.prec = 60
            share = (budget.amount / 12).quantize(quantum, rounding=ROUND_DOWN)
            amounts = [share] * 11 + [tidy_amount(budget.amount - share * 11, budget.currency)]
    return list(zip(fiscal_year_months(budget.fiscal_year, start_month), amounts, strict=True))


def unallocated_department() -> Department:
    """The system department usage goes to when no rule attributes it (created if missing)."""
    from .models.departments import UNALLOCATED

    department, _ = Department.objects.get_or_create(
        code=UNALLOCATED, defaults={"name": "Unallocated (no attribution rule matched)", "is_system": True}
    )
    return department
