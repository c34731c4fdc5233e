"""How values look on the wire: amounts as decimal strings, dates as YYYY-MM-DD, inclusive end dates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flexbill.money import minor_unit, round_money
from flexbill.periods import inclusive_end


def amount(value: Decimal, currency: str) -> str:
    """An amount in the currency's minor unit: ``Decimal('210')`` in GBP -> ``"210.00"``."""
    return str(round_money(value, currency))


def number(value: Decimal) -> str:
    """A quantity or a percentage without trailing zeros: ``Decimal('1.0000')`` -> ``"1"``, ``"17.5"``."""
    normalized = value.normalize()
    return f"{normalized:f}"


def unit_price(value: Decimal, currency: str) -> str:
    """A unit price with at least the currency's places and up to four: ``"300.00"``, ``"112.9032"``."""
    places = max(minor_unit(currency), min(4, -value.normalize().as_tuple().exponent))  # type: ignore[operator]
    return f"{value:.{places}f}"


def plain_price(value: Decimal) -> str:
    """A price that belongs to no currency yet (a plan's): at least two places."""
    places = max(2, min(4, -value.normalize().as_tuple().exponent))  # type: ignore[operator]
    return f"{value:.{places}f}"


def last_day(end_exclusive: date | None) -> date | None:
    """End dates go on the wire inclusive: the last day."""
    return inclusive_end(end_exclusive)
