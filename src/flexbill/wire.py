"""How values look on the wire: amounts as decimal strings, dates as YYYY-MM-DD, inclusive end dates."""

from __future__ import annotations

from decimal import Decimal

from flexbill.money import format_amount, minor_unit
from flexbill.periods import inclusive_end

amount = format_amount  # an amount in the currency's minor unit: Decimal('210') in GBP -> "210.00"


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


last_day = inclusive_end  # end dates go on the wire inclusive: the last day
