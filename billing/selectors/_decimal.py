"""Decimal arithmetic shared by the status selectors: enough precision that sums and products of
10¹³-token counts and 12-place costs never round, and one rounding rule (half up) for what divides."""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, localcontext
from functools import wraps
from typing import ParamSpec, TypeVar

from ..projections import ARITHMETIC_PRECISION

PERCENT_QUANTUM = Decimal("0.01")

P = ParamSpec("P")
R = TypeVar("R")


def exact_decimal(func: Callable[P, R]) -> Callable[P, R]:
    """Run `func` with a Decimal context of ARITHMETIC_PRECISION digits (the default 28 could
    round a large sum)."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with localcontext() as ctx:
            ctx.prec = ARITHMETIC_PRECISION
            return func(*args, **kwargs)

    return wrapper


@exact_decimal
def quantize(value: Decimal, quantum: Decimal) -> Decimal:
    return value.quantize(quantum, rounding=ROUND_HALF_UP)


@exact_decimal
def pro_rata(amount: Decimal, part: int, whole: int, quantum: Decimal) -> Decimal:
    """amount × part ÷ whole, rounded half up to `quantum`."""
    return (amount * part / whole).quantize(quantum, rounding=ROUND_HALF_UP)


@exact_decimal
def percent(part: Decimal, whole: Decimal) -> Decimal | None:
    """part ÷ whole × 100 at 2 places; None when there is no whole to divide by."""
    if whole <= 0:
        return None
    return (part * 100 / whole).quantize(PERCENT_QUANTUM, rounding=ROUND_HALF_UP)
