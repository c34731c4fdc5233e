"""Money: a Decimal amount with an explicit currency. No floats, ever.

Rounding is always explicit: :func:`round_money` rounds half-up to the currency's minor unit, and
:func:`allocate` splits an amount by weights with the largest-remainder method so that the parts always add up
to the whole.

>>> allocate(Decimal("10.00"), [Decimal(1), Decimal(1), Decimal(1)], "GBP")
[Decimal('3.34'), Decimal('3.33'), Decimal('3.33')]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

# Minor units of the currencies whose exponent is not 2 (ISO 4217). Everything else has cents.
_MINOR_UNITS: dict[str, int] = {
    "BHD": 3, "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "IQD": 3, "ISK": 0, "JOD": 3, "JPY": 0, "KMF": 0,
    "KRW": 0, "KWD": 3, "LYD": 3, "OMR": 3, "PYG": 0, "RWF": 0, "TND": 3, "UGX": 0, "UYI": 0, "VND": 0,
    "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
}  # fmt: skip

ZERO = Decimal(0)


def minor_unit(currency: str) -> int:
    """Number of decimal places of ``currency`` (2 unless ISO 4217 says otherwise)."""
    return _MINOR_UNITS.get(currency.upper(), 2)


@lru_cache(maxsize=256)
def quantum(currency: str) -> Decimal:
    """The smallest amount of ``currency``: ``Decimal('0.01')`` for GBP, ``Decimal('1')`` for JPY."""
    return Decimal(1).scaleb(-minor_unit(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's minor unit: 2.165 -> 2.17, 2.164 -> 2.16 (as Xero does)."""
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def to_decimal(value: object) -> Decimal:
    """A Decimal from a str, int or Decimal. Floats are refused: they cannot hold cents exactly."""
    if isinstance(value, bool | float):
        raise TypeError(f"money must not be built from {type(value).__name__} {value!r}; use a decimal string")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a decimal number") from None
    else:
        raise TypeError(f"cannot make a decimal amount from {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return result


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in a currency. Arithmetic only between the same currency."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", to_decimal(self.amount))
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise ValueError(f"currency must be a 3-letter ISO 4217 code in capitals, not {self.currency!r}")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(ZERO, currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def rounded(self) -> Money:
        return Money(round_money(self.amount, self.currency), self.currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def allocate(total: Decimal, weights: Sequence[Decimal], currency: str) -> list[Decimal]:
    """Split ``total`` (already rounded to the currency) in proportion to ``weights``, largest remainder first.

    Each part is first rounded towards zero to the minor unit; the units left over go one by one to the parts
    with the largest remainders (ties to the earliest part). The parts always sum exactly to ``total``.
    Weights must not be negative; when they are all zero the split is even.

    >>> allocate(Decimal("100.00"), [Decimal(1), Decimal(2)], "EUR")
    [Decimal('33.33'), Decimal('66.67')]
    """
    if not weights:
        if total != ZERO:
            raise ValueError("cannot allocate a non-zero amount over no parts")
        return []
    if any(w < 0 for w in weights):
        raise ValueError("allocation weights must not be negative")
    unit = quantum(currency)
    if total != round_money(total, currency):
        raise ValueError(f"{total} is not rounded to the minor unit of {currency}")
    weight_sum = sum(weights, ZERO)
    effective = list(weights) if weight_sum != ZERO else [Decimal(1)] * len(weights)
    weight_sum = sum(effective, ZERO)
    sign = Decimal(-1) if total < 0 else Decimal(1)
    magnitude = abs(total)
    exact = [magnitude * w / weight_sum for w in effective]
    parts = [e.quantize(unit, rounding=ROUND_DOWN) for e in exact]
    leftover_units = int((magnitude - sum(parts, ZERO)) / unit)
    by_remainder = sorted(range(len(parts)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in by_remainder[:leftover_units]:
        parts[i] += unit
    result = [sign * p for p in parts]
    assert sum(result, ZERO) == total, "allocation must sum to the whole"
    return result


def allocate_exact(total: Decimal, exact_shares: Sequence[Decimal], currency: str) -> list[Decimal]:
    """Round exact shares (of any sign) to the minor unit so that they sum to ``total``, their rounded sum.

    Each share is rounded down (towards minus infinity); the units left over go one by one to the shares with the
    largest remainders (ties to the earliest). Used where every part has its own exact value, such as each line's
    exact tax under per-document rounding.

    >>> allocate_exact(Decimal("11.45"), [Decimal("3.759"), Decimal("3.8415"), Decimal("3.8445")], "NZD")
    [Decimal('3.76'), Decimal('3.84'), Decimal('3.85')]
    """
    unit = quantum(currency)
    if total != round_money(total, currency):
        raise ValueError(f"{total} is not rounded to the minor unit of {currency}")
    parts = [share.quantize(unit, rounding=ROUND_FLOOR) for share in exact_shares]
    leftover = (total - sum(parts, ZERO)) / unit
    if leftover != leftover.to_integral_value() or not 0 <= leftover <= len(parts):
        raise ValueError(f"{total} is not the rounded sum of the shares {list(exact_shares)}")
    by_remainder = sorted(range(len(parts)), key=lambda i: (-(exact_shares[i] - parts[i]), i))
    for i in by_remainder[: int(leftover)]:
        parts[i] += unit
    return parts


def format_amount(amount: Decimal, currency: str) -> str:
    """The wire form of an amount: a plain decimal string with the currency's minor unit, e.g. ``"12.50"``."""
    return str(round_money(amount, currency))


def describe(amount: Decimal, currency: str) -> str:
    """An amount for a person to read in a message: ``"310.00 GBP"``."""
    return f"{format_amount(amount, currency)} {currency}"


def to_minor_units(amount: Decimal, currency: str) -> int:
    """An amount as the whole number of the currency's smallest unit that gateways take.

    >>> to_minor_units(Decimal("1234.50"), "GBP"), to_minor_units(Decimal("5000"), "JPY")
    (123450, 5000)
    """
    if amount != amount.quantize(quantum(currency)):
        raise ValueError(f"{amount} has more decimal places than {currency} has")
    return int(amount.scaleb(minor_unit(currency)))


def from_minor_units(units: int, currency: str) -> Decimal:
    """What a gateway's whole number of smallest units is worth.

    >>> from_minor_units(123450, "GBP"), from_minor_units(5000, "JPY")
    (Decimal('1234.50'), Decimal('5000'))
    """
    return Decimal(units).scaleb(-minor_unit(currency)).quantize(quantum(currency))
