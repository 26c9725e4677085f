"""Money: a Decimal with an ISO 4217 currency. Never a float.

Prices are per 1 000 000 tokens with up to 6 decimals. Costs are computed exactly and stored with
12 decimal places (exact for a token count × a 6-place price ÷ 10⁶). Rounding to the currency's
minor unit (ROUND_HALF_UP) happens only on invoice lines (DESIGN.md, Money).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

from .currencies import is_currency, minor_units

PRICE_PLACES = 6
COST_PLACES = 12
TOKENS_PER_PRICE_UNIT = 1_000_000
PRICE_QUANTUM = Decimal(1).scaleb(-PRICE_PLACES)
COST_QUANTUM = Decimal(1).scaleb(-COST_PLACES)


class MoneyError(ValueError):
    pass


def to_decimal(value: object) -> Decimal:
    """Parse money from text or an int; floats are refused (they are not exact)."""
    if isinstance(value, (bool, float)):
        raise MoneyError(f"{value!r}: money must be given as a decimal string, not a float")
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise MoneyError(f"{value!r} is not a decimal number") from exc
    if not result.is_finite():
        raise MoneyError(f"{value!r} is not a finite number")
    return result


def round_to_minor_unit(amount: Decimal, currency: str) -> Decimal:
    """Round half up to the currency's minor unit: 2 places for USD, EUR, CNY; 0 for JPY."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP)


def cost_of(tokens: int, price_per_million: Decimal) -> Decimal:
    """The exact cost of `tokens` at a per-million price, at the stored 12 places."""
    with localcontext() as ctx:
        ctx.prec = 60  # 64-bit token counts × 18-digit prices fit without rounding
        return (Decimal(tokens) * price_per_million / TOKENS_PER_PRICE_UNIT).quantize(COST_QUANTUM)


def places(amount: Decimal) -> int:
    exponent = amount.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            object.__setattr__(self, "amount", to_decimal(self.amount))
        if not is_currency(self.currency):
            raise MoneyError(f"{self.currency!r} is not an ISO 4217 currency code")

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money) or other.currency != self.currency:
            raise MoneyError(f"cannot combine {self.currency} with {getattr(other, 'currency', other)!r}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __mul__(self, factor: Decimal | int) -> Money:
        if isinstance(factor, float):
            raise MoneyError("multiply money by a Decimal or an int, not a float")
        return Money(self.amount * factor, self.currency)

    def rounded(self) -> Money:
        return Money(round_to_minor_unit(self.amount, self.currency), self.currency)

    def __str__(self) -> str:
        return f"{self.currency} {self.amount}"
