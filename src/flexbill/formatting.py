"""How flexbill writes amounts for people: one locale and one rule for the PDF, the emails and the pay page, so a
member reads the same figure the same way everywhere."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from babel import Locale
from babel.numbers import parse_pattern

from flexbill.money import round_money

# The one locale of what members read: how amounts, quantities and dates are written.
LOCALE = "en_GB"
_LOCALE = Locale.parse(LOCALE)
_CURRENCY_PATTERN = parse_pattern(_LOCALE.currency_formats["standard"])  # what babel's format_currency uses


def format_money(amount: Decimal, currency: str) -> str:
    """An amount as printed, rounded to the currency's minor unit; a zero is never negative.

    >>> format_money(Decimal("1234.5"), "GBP"), format_money(Decimal("1234.5"), "EUR")
    ('£1,234.50', '€1,234.50')
    >>> format_money(Decimal("1234"), "JPY"), format_money(Decimal("-5"), "GBP"), format_money(Decimal("0.125"), "GBP")
    ('JP¥1,234', '-£5.00', '£0.13')
    >>> format_money(Decimal("-0.004"), "GBP"), format_money(Decimal("-0.00"), "GBP")
    ('£0.00', '£0.00')
    """
    # Rounded here, half up as everywhere in flexbill: Babel's own rounding is half even.
    rounded = round_money(amount, currency)
    return _formatted(rounded.copy_abs() if rounded.is_zero() else rounded, currency)


# A page of invoices prints the same few amounts again and again (a space has a handful of prices), and Babel takes
# some 20 microseconds for each: the last few thousand are kept. Keys are rounded and zero is positive, so amounts
# that compare equal (1.0 and 1.00, 0 and -0) also print the same.
@lru_cache(maxsize=4096)
def _formatted(rounded: Decimal, currency: str) -> str:
    return str(_CURRENCY_PATTERN.apply(rounded, _LOCALE, currency=currency))
