"""How flexbill writes amounts for people: one locale and one rule for the PDF, the emails and the pay page, so a
member reads the same figure the same way everywhere."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency

from flexbill.money import round_money

# The one locale of what members read: how amounts, quantities and dates are written.
LOCALE = "en_GB"


def format_money(amount: Decimal, currency: str) -> str:
    """An amount as printed, rounded to the currency's minor unit.

    >>> format_money(Decimal("1234.5"), "GBP"), format_money(Decimal("1234.5"), "EUR")
    ('£1,234.50', '€1,234.50')
    >>> format_money(Decimal("1234"), "JPY"), format_money(Decimal("-5"), "GBP"), format_money(Decimal("0.125"), "GBP")
    ('JP¥1,234', '-£5.00', '£0.13')
    """
    # Rounded here, half up as everywhere in flexbill: Babel's own rounding is half even.
    return format_currency(round_money(amount, currency), currency, locale=LOCALE)
