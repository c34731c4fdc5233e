"""Pure rules of invoices: tax on lines, totals, number templates, statuses.

Tax (``docs/billing.md`` has worked examples):

* Prices are tax-exclusive or tax-inclusive per location. A line's *amount* is in that basis: the net amount
  when prices exclude tax, the gross amount when they include it.
* ``per_line`` rounding (the default, and how Xero computes): each line's tax is rounded half-up to the cent.
  Exclusive: tax = amount x rate / 100. Inclusive: tax = amount x rate / (100 + rate), net = amount - tax.
* ``per_document``: the tax of all lines with the same rate is computed on their sum and rounded once, then
  shared back over those lines by largest remainder, so each line still carries its own tax amount and the
  lines add up to the document's tax exactly.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from flexbill.money import ZERO, allocate, round_money

HUNDRED = Decimal(100)


class TaxRounding(StrEnum):
    PER_LINE = "per_line"
    PER_DOCUMENT = "per_document"


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    AWAITING_PAYMENT = "awaiting_payment"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    VOIDED = "voided"


OPEN_STATUSES = frozenset({InvoiceStatus.AWAITING_PAYMENT, InvoiceStatus.PARTIALLY_PAID})


@dataclass(frozen=True, slots=True)
class TaxComponent:
    name: str
    rate: Decimal


@dataclass(frozen=True, slots=True)
class TaxRate:
    """A named tax rate made of one or more components (e.g. GST 5% + QST 9.975%), rates in percent."""

    id: uuid.UUID
    code: str
    name: str
    components: tuple[TaxComponent, ...]

    @property
    def rate(self) -> Decimal:
        return sum((c.rate for c in self.components), ZERO)


@dataclass(frozen=True, slots=True)
class LineTax:
    net: Decimal
    tax: Decimal
    gross: Decimal


def tax_on_amount(amount: Decimal, rate: Decimal, *, inclusive: bool, currency: str) -> LineTax:
    """Tax of one line rounded on its own (the ``per_line`` policy).

    >>> tax_on_amount(Decimal("100.00"), Decimal("20"), inclusive=False, currency="GBP")
    LineTax(net=Decimal('100.00'), tax=Decimal('20.00'), gross=Decimal('120.00'))
    >>> tax_on_amount(Decimal("10.00"), Decimal("15"), inclusive=True, currency="NZD")
    LineTax(net=Decimal('8.70'), tax=Decimal('1.30'), gross=Decimal('10.00'))
    """
    if inclusive:
        tax = round_money(amount * rate / (HUNDRED + rate), currency)
        return LineTax(net=amount - tax, tax=tax, gross=amount)
    tax = round_money(amount * rate / HUNDRED, currency)
    return LineTax(net=amount, tax=tax, gross=amount + tax)


def tax_lines(
    amounts: Sequence[tuple[Decimal, TaxRate]],
    *,
    inclusive: bool,
    rounding: TaxRounding,
    currency: str,
) -> list[LineTax]:
    """Net, tax and gross of every line, in order. ``amounts`` are rounded line amounts in the price basis."""
    for amount, _ in amounts:
        if amount != round_money(amount, currency):
            raise ValueError(f"line amount {amount} is not rounded to {currency}")
    if rounding is TaxRounding.PER_LINE:
        return [tax_on_amount(a, r.rate, inclusive=inclusive, currency=currency) for a, r in amounts]

    result: list[LineTax | None] = [None] * len(amounts)
    by_rate: dict[Decimal, list[int]] = defaultdict(list)
    for index, (_, tax_rate) in enumerate(amounts):
        by_rate[tax_rate.rate].append(index)
    for percent, indexes in by_rate.items():
        line_amounts = [amounts[i][0] for i in indexes]
        document = tax_on_amount(sum(line_amounts, ZERO), percent, inclusive=inclusive, currency=currency)
        shares = _allocate_signed(document.tax, line_amounts, currency)
        for i, amount, tax in zip(indexes, line_amounts, shares, strict=True):
            result[i] = (
                LineTax(net=amount - tax, tax=tax, gross=amount)
                if inclusive
                else LineTax(net=amount, tax=tax, gross=amount + tax)
            )
    return [line for line in result if line is not None]


def _allocate_signed(total: Decimal, weights: Sequence[Decimal], currency: str) -> list[Decimal]:
    """Largest-remainder allocation that also accepts negative lines (credits) by weighting their magnitude."""
    if all(w >= 0 for w in weights) or all(w <= 0 for w in weights):
        return allocate(total, [abs(w) for w in weights], currency)
    # Mixed signs: compute each line on its own, then put the rounding difference on the largest line.
    parts = [round_money(total * w / sum(weights, ZERO), currency) if sum(weights, ZERO) else ZERO for w in weights]
    largest = max(range(len(weights)), key=lambda i: abs(weights[i]))
    parts[largest] += total - sum(parts, ZERO)
    return parts


@dataclass(frozen=True, slots=True)
class TaxBreakdownRow:
    tax_rate_code: str
    component: str
    rate: Decimal
    taxable_amount: Decimal
    tax_amount: Decimal


def tax_breakdown(lines: Sequence[tuple[TaxRate, LineTax]], currency: str) -> list[TaxBreakdownRow]:
    """Tax per rate and component, as printed under an invoice's lines. Components share their rate's tax by
    largest remainder in proportion to their percentages, so the rows add up to the invoice's tax total."""
    grouped: dict[str, tuple[TaxRate, Decimal, Decimal]] = {}
    for rate, line in lines:
        _, net, tax = grouped.get(rate.code, (rate, ZERO, ZERO))
        grouped[rate.code] = (rate, net + line.net, tax + line.tax)
    rows: list[TaxBreakdownRow] = []
    for code in sorted(grouped):
        rate, net, tax = grouped[code]
        components = rate.components or (TaxComponent(rate.name, ZERO),)
        shares = _allocate_signed(tax, [c.rate for c in components], currency)
        for component, share in zip(components, shares, strict=True):
            rows.append(TaxBreakdownRow(code, component.name, component.rate, net, share))
    return rows


# --- numbering -------------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\{(?:(?P<number>number)(?::0(?P<width>[1-9]\d?))?|(?P<other>location_code|year|month))\}")


def validate_number_template(template: str) -> None:
    """A template holds ``{number}`` (optionally zero-padded: ``{number:05}``) and may hold ``{location_code}``,
    ``{year}`` and ``{month}``; any other brace is an error."""
    if not template.strip():
        raise ValueError("the number template is empty")
    if len(_TOKEN.findall(template)) == 0 or "{number" not in template:
        raise ValueError("the number template must contain {number} (e.g. INV-{number:05})")
    leftover = _TOKEN.sub("", template)
    if "{" in leftover or "}" in leftover:
        raise ValueError("the number template may only use {number}, {number:0N}, {location_code}, {year} and {month}")
    if template.count("{number") != 1:
        raise ValueError("the number template must contain {number} exactly once")


def render_number(template: str, number: int, *, location_code: str, issue_date: date) -> str:
    """``INV-{location_code}-{number:05}`` with 42 at location LON -> ``INV-LON-00042``."""

    def substitute(match: re.Match[str]) -> str:
        if match.group("number"):
            width = int(match.group("width") or 0)
            return str(number).zfill(width)
        token = match.group("other")
        if token == "location_code":
            return location_code
        if token == "year":
            return f"{issue_date.year:04d}"
        return f"{issue_date.month:02d}"

    return _TOKEN.sub(substitute, template)


def status_after_settlement(total: Decimal, settled: Decimal) -> InvoiceStatus:
    """The status of an issued invoice given what has been paid or credited against it."""
    if settled >= total:
        return InvoiceStatus.PAID
    if settled > ZERO:
        return InvoiceStatus.PARTIALLY_PAID
    return InvoiceStatus.AWAITING_PAYMENT
