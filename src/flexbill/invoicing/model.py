"""Pure rules of invoices: tax on lines, totals, number templates, statuses.

Tax (``docs/billing.md`` has worked examples):

* Prices are tax-exclusive or tax-inclusive per location. A line's *amount* is in that basis: the net amount
  when prices exclude tax, the gross amount when they include it.
* A rate's components are taxed one by one and a line's tax is their sum. Exclusive: component tax = amount x
  component rate / 100. Inclusive: component tax = amount x component rate / (100 + total rate); net = amount
  - tax.
* ``per_line`` rounding (the default, and how Xero computes): each component of each line is rounded half-up
  to the cent.
* ``per_document``: per rate and component, the tax is computed on the sum of the lines and rounded once, then
  shared back over those lines by largest remainder of their exact taxes (``money.allocate_exact``), so each
  line still carries its own tax and the lines add up to the document's tax exactly.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from flexbill.money import ZERO, allocate_exact, round_money

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
    rate: Decimal = field(init=False)  # the sum of the components, computed once

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", sum((c.rate for c in self.components), ZERO))


class LineTax(NamedTuple):
    """A line's net, tax and gross. (A named tuple: a bill run makes hundreds of thousands of them.)"""

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


def component_taxes(
    amounts: Sequence[tuple[Decimal, TaxRate]],
    *,
    inclusive: bool,
    rounding: TaxRounding,
    currency: str,
) -> list[tuple[Decimal, ...]]:
    """The tax of each component of each line's rate, rounded, in order.

    Each component is taxed on its own, as tax authorities and accounting systems do with combined rates (GST 5%
    + QST 9.975% on 10.10: 0.51 + 1.01, not 1.51 split after the fact). With ``per_line`` rounding each
    component of each line is rounded on its own; with ``per_document`` the exact taxes of all lines with the
    same rate and component are summed and rounded once, then shared back over those lines by largest
    remainder of their exact taxes (so credits, lines of negative amount, keep their own rate too).
    """
    for amount, _ in amounts:
        if amount != round_money(amount, currency):
            raise ValueError(f"line amount {amount} is not rounded to {currency}")
    exact = [_exact_component_taxes(amount, rate, inclusive) for amount, rate in amounts]
    if rounding is TaxRounding.PER_LINE:
        return [tuple(round_money(tax, currency) for tax in line) for line in exact]

    rounded = [list(line) for line in exact]
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for index, (_, rate) in enumerate(amounts):
        for position in range(len(rate.components)):
            groups[(rate.code, position)].append(index)
    for (_, position), indexes in groups.items():
        shares = [exact[i][position] for i in indexes]
        rate = amounts[indexes[0]][1]
        total = sum((amounts[i][0] for i in indexes), ZERO)
        document_tax = round_money(_exact_component_taxes(total, rate, inclusive)[position], currency)
        for i, tax in zip(indexes, allocate_exact(document_tax, shares, currency), strict=True):
            rounded[i][position] = tax
    return [tuple(line) for line in rounded]


def _exact_component_taxes(amount: Decimal, rate: TaxRate, inclusive: bool) -> tuple[Decimal, ...]:
    # One division per component, so that a tax of exactly half a cent stays exact (and rounds up).
    divisor = HUNDRED + rate.rate if inclusive else HUNDRED
    return tuple(amount * component.rate / divisor for component in rate.components)


def tax_lines(
    amounts: Sequence[tuple[Decimal, TaxRate]],
    *,
    inclusive: bool,
    rounding: TaxRounding,
    currency: str,
) -> list[LineTax]:
    """Net, tax and gross of every line, in order. ``amounts`` are rounded line amounts in the price basis."""
    taxes = component_taxes(amounts, inclusive=inclusive, rounding=rounding, currency=currency)
    return _line_taxes(amounts, taxes, inclusive)


def _line_taxes(
    amounts: Sequence[tuple[Decimal, TaxRate]], taxes: Sequence[tuple[Decimal, ...]], inclusive: bool
) -> list[LineTax]:
    result = []
    for (amount, _), components in zip(amounts, taxes, strict=True):
        tax = sum(components, ZERO)
        result.append(LineTax(amount - tax, tax, amount) if inclusive else LineTax(amount, tax, amount + tax))
    return result


@dataclass(frozen=True, slots=True)
class TaxBreakdownRow:
    tax_rate_code: str
    component: str
    rate: Decimal
    taxable_amount: Decimal
    tax_amount: Decimal


def tax_breakdown(
    amounts: Sequence[tuple[Decimal, TaxRate]],
    *,
    inclusive: bool,
    rounding: TaxRounding,
    currency: str,
) -> list[TaxBreakdownRow]:
    """Tax per rate and component, as printed under an invoice's lines: the same computation as the lines', so
    the rows add up to the invoice's tax total. ``taxable_amount`` is the net of the lines at that rate."""
    taxes = component_taxes(amounts, inclusive=inclusive, rounding=rounding, currency=currency)
    lines = _line_taxes(amounts, taxes, inclusive)
    rates: dict[str, TaxRate] = {}
    nets: dict[str, Decimal] = defaultdict(lambda: ZERO)
    sums: dict[tuple[str, int], Decimal] = defaultdict(lambda: ZERO)
    for (_, rate), line, components in zip(amounts, lines, taxes, strict=True):
        rates[rate.code] = rate
        nets[rate.code] += line.net
        for position, tax in enumerate(components):
            sums[(rate.code, position)] += tax
    rows: list[TaxBreakdownRow] = []
    for code in sorted(rates):
        for position, component in enumerate(rates[code].components):
            rows.append(TaxBreakdownRow(code, component.name, component.rate, nets[code], sums[(code, position)]))
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
