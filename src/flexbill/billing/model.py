"""Planning a bill run: a pure function of (memberships, fees, what is already billed, date, rules).

The bill run for date D (a billing day) covers the period P = [D, next billing day):

* Memberships are billed **in advance**. A membership's time is cut into *blocks* on the billing grid: blocks of
  the plan's interval (N months), counted from the billing day on or before the membership's start. Every
  block that starts before the end of P and is not yet billed is billed; blocks that start before D and were
  never billed are **catch-up** lines, each with its own period.
* What was billed is tracked as *coverage*: the ``[start, end)`` span each billed line paid for. Billing resumes
  where coverage ends, so extending a membership bills only the extra days.
* Proration is days active / days in the block. Policies: ``first_invoice`` prorates any partial block;
  ``second_invoice`` holds a partial first block back until the next block is billed with it (two lines, one
  invoice); ``none`` bills whole blocks (a partial first or last block costs a whole one).
* One-off fees are billed **in arrears**: every fee dated before D that is not yet billed.

Nothing here reads a clock or a database; ``flexbill.billing.service`` feeds it and stores what it returns.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from fractions import Fraction
from typing import NamedTuple

from flexbill.invoicing.model import InvoiceStatus, LineTax, TaxRate, TaxRounding, tax_lines
from flexbill.money import ZERO, round_money
from flexbill.periods import (
    Period,
    add_months,
    block_containing,
    grid_date_on_or_before,
    human_period,
    is_billing_day,
    proration,
)

HUNDRED = Decimal(100)
UNIT_PRICE_PLACES = Decimal("0.0001")  # prorated unit prices keep 4 places, as Xero accepts with unitdp=4


class Proration(StrEnum):
    FIRST_INVOICE = "first_invoice"
    SECOND_INVOICE = "second_invoice"
    NONE = "none"


class Grouping(StrEnum):
    SINGLE = "single"  # one invoice per customer and location per run
    SEPARATE = "separate"  # memberships and fees on separate invoices


class IssueMode(StrEnum):
    ISSUE = "issue"
    DRAFT = "draft"


class AccountingSync(StrEnum):
    OFF = "off"
    MANUAL = "manual"
    AUTO = "auto"


class DiscountType(StrEnum):
    PERCENT = "percent"
    AMOUNT = "amount"


class LineKind(StrEnum):
    MEMBERSHIP = "membership"
    FEE = "fee"


@dataclass(frozen=True, slots=True)
class BillingRules:
    billing_day: int = 1
    generate_days_before: int = 0
    due_days: int = 14
    grouping: Grouping = Grouping.SINGLE
    issue_mode: IssueMode = IssueMode.ISSUE
    tax_rounding: TaxRounding = TaxRounding.PER_LINE
    lock_date: date | None = None
    accounting_sync: AccountingSync = AccountingSync.OFF
    auto_send: bool = False
    auto_charge: bool = False
    # A declined automatic charge is tried again this many times, this many days apart.
    charge_retries: int = 3
    charge_retry_days: int = 3
    # A reminder goes this many days after the due date to a member who has not paid (None: no reminder).
    reminder_days: int | None = None


@dataclass(frozen=True, slots=True)
class AccountRef:
    id: uuid.UUID
    code: str


@dataclass(frozen=True, slots=True)
class LocationTerms:
    id: uuid.UUID
    code: str
    currency: str
    prices_include_tax: bool


@dataclass(frozen=True, slots=True)
class MembershipToBill:
    id: uuid.UUID
    customer_id: uuid.UUID
    location_id: uuid.UUID
    plan_name: str
    price: Decimal  # per interval, per unit, in the location's price basis
    quantity: Decimal
    interval_months: int
    proration: Proration
    start: date
    end_exclusive: date | None
    account: AccountRef
    tax_rate: TaxRate
    discount_type: DiscountType | None = None
    discount_value: Decimal | None = None
    billed_through: date | None = None  # end of the billed coverage that runs on from the start
    billed_later: tuple[Period, ...] = ()  # billed coverage after a gap (an earlier invoice voided)


@dataclass(frozen=True, slots=True)
class FeeToBill:
    id: uuid.UUID
    customer_id: uuid.UUID
    location_id: uuid.UUID
    date: date
    description: str
    quantity: Decimal
    unit_price: Decimal
    account: AccountRef
    tax_rate: TaxRate


class MembershipCharge(NamedTuple):
    """One block (or part of one) of a membership to bill."""

    block: Period
    active: Period  # the days of the block the membership is active and being billed for
    coverage: Period  # what this charge pays for; billing resumes at coverage.end
    fraction: Fraction  # 1 for a whole block


class PlannedLine(NamedTuple):
    """A line of a planned invoice. (Named tuples here: a bill run makes hundreds of thousands of lines.)"""

    kind: LineKind
    description: str
    quantity: Decimal
    unit_price: Decimal
    discount_rate: Decimal | None  # percent, when a percentage discount applies
    discount_amount: Decimal  # how much the discount took off this line
    amount: Decimal  # quantity x unit price less discount, rounded; in the location's price basis
    account: AccountRef
    tax_rate: TaxRate
    period: Period | None  # the service period shown on the invoice
    coverage: Period | None  # memberships: the span claimed as billed
    membership_id: uuid.UUID | None = None
    fee_id: uuid.UUID | None = None


class PricedLine(NamedTuple):
    line: PlannedLine
    tax: LineTax


@dataclass(frozen=True, slots=True)
class PlannedInvoice:
    customer_id: uuid.UUID
    location: LocationTerms
    issue_date: date
    due_date: date
    status: InvoiceStatus
    tax_rounding: TaxRounding
    lines: tuple[PricedLine, ...]
    subtotal: Decimal = field(init=False)
    tax_total: Decimal = field(init=False)
    total: Decimal = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "subtotal", sum((p.tax.net for p in self.lines), ZERO))
        object.__setattr__(self, "tax_total", sum((p.tax.tax for p in self.lines), ZERO))
        object.__setattr__(self, "total", sum((p.tax.gross for p in self.lines), ZERO))

    @property
    def currency(self) -> str:
        return self.location.currency


class NotABillingDay(ValueError):
    pass


def billing_period(run_date: date, rules: BillingRules) -> Period:
    """P = [D, next billing day). D must be a billing day."""
    if not is_billing_day(run_date, rules.billing_day):
        raise NotABillingDay(
            f"{run_date.isoformat()} is not a billing day: bill runs are for day {rules.billing_day} of a month"
        )
    return Period(run_date, add_months(run_date, 1))


def scheduled_run_date(today: date, rules: BillingRules) -> date:
    """The billing day whose bill run is due today: the next billing day once we are within
    ``generate_days_before`` days of it, otherwise the latest billing day (whose run, if done, finds nothing).

    >>> scheduled_run_date(date(2026, 11, 28), BillingRules(billing_day=1, generate_days_before=3))
    datetime.date(2026, 12, 1)
    >>> scheduled_run_date(date(2026, 11, 27), BillingRules(billing_day=1, generate_days_before=3))
    datetime.date(2026, 11, 1)
    """
    latest = grid_date_on_or_before(today, rules.billing_day)
    upcoming = next_billing_day(today, rules.billing_day)
    return upcoming if today >= upcoming - timedelta(days=rules.generate_days_before) else latest


def next_billing_day(today: date, billing_day: int) -> date:
    """Today if it is a billing day, else the next one.

    >>> next_billing_day(date(2026, 11, 27), 1), next_billing_day(date(2026, 12, 1), 1)
    (datetime.date(2026, 12, 1), datetime.date(2026, 12, 1))
    """
    latest = grid_date_on_or_before(today, billing_day)
    return latest if latest == today else add_months(latest, 1)


def membership_charges(membership: MembershipToBill, run_date: date, billing_day: int) -> list[MembershipCharge]:
    """The blocks of ``membership`` that the bill run for ``run_date`` bills, oldest first.

    Worked example (billing day 1, monthly, ``first_invoice``): a membership from 10 Nov 2026 with nothing
    billed, run of 1 Dec 2026 -> [10 Nov, 1 Dec) at 21/30 (catch-up) and [1 Dec, 1 Jan) at 1.

    Coverage already billed is skipped: what runs on from the start (``billed_through``) and any later islands
    (``billed_later``, left when an earlier invoice was voided and its period released), so a gap is billed
    again as catch-up and nothing is billed twice.
    """
    horizon = add_months(run_date, 1)
    anchor = grid_date_on_or_before(membership.start, billing_day)
    end = membership.end_exclusive
    cursor = membership.billed_through or membership.start
    later = sorted(membership.billed_later)
    charges: list[MembershipCharge] = []
    while True:
        while later and later[0].start <= cursor:
            cursor = max(cursor, later.pop(0).end)
        if end is not None and cursor >= end:
            break
        block = block_containing(cursor, anchor, membership.interval_months)
        if block.start >= horizon:
            break
        limit = block.end if end is None else min(block.end, end)
        cut_short = bool(later) and later[0].start < limit
        if cut_short:
            limit = later[0].start
        active = Period(cursor, limit)
        if membership.proration is Proration.NONE:
            coverage = Period(cursor, limit if cut_short else block.end)
            # Whole blocks, except a stub left by a moved billing day or a gap narrower than a block.
            partial_stub = cut_short or cursor not in (membership.start, block.start)
            fraction = proration(active, block) if partial_stub else Fraction(1)
        else:
            coverage = active
            fraction = proration(active, block)
        charges.append(MembershipCharge(block=block, active=active, coverage=coverage, fraction=fraction))
        cursor = coverage.end

    first_billing = membership.billed_through is None and not membership.billed_later
    if membership.proration is Proration.SECOND_INVOICE and first_billing and len(charges) == 1:
        first = charges[0]
        partial_first_block = first.active.start > first.block.start
        continues = end is None or end > first.block.end
        if partial_first_block and continues:
            return []  # held back: billed with the next block, on the next run
    return charges


def membership_line(membership: MembershipToBill, charge: MembershipCharge, currency: str) -> PlannedLine:
    prorated = charge.fraction != 1
    unit_price = membership.price
    if prorated:
        exact = membership.price * charge.fraction.numerator / charge.fraction.denominator
        unit_price = exact.quantize(UNIT_PRICE_PLACES, rounding=ROUND_HALF_UP)
    before_discount = round_money(membership.quantity * unit_price, currency)
    discount_rate: Decimal | None = None
    if membership.discount_type is DiscountType.PERCENT and membership.discount_value:
        discount_rate = membership.discount_value
        amount = round_money(before_discount * (HUNDRED - discount_rate) / HUNDRED, currency)
    elif membership.discount_type is DiscountType.AMOUNT and membership.discount_value:
        off = membership.discount_value * charge.fraction.numerator / charge.fraction.denominator
        amount = max(ZERO, before_discount - round_money(off, currency))
    else:
        amount = before_discount
    description = f"{membership.plan_name}, {human_period(charge.active)}"
    if prorated:
        description += f" ({charge.active.days} of {charge.block.days} days)"
    return PlannedLine(
        kind=LineKind.MEMBERSHIP,
        description=description,
        quantity=membership.quantity,
        unit_price=unit_price,
        discount_rate=discount_rate,
        discount_amount=before_discount - amount,
        amount=amount,
        account=membership.account,
        tax_rate=membership.tax_rate,
        period=charge.active,
        coverage=charge.coverage,
        membership_id=membership.id,
    )


def fee_line(fee: FeeToBill, currency: str) -> PlannedLine:
    day = Period(fee.date, fee.date + timedelta(days=1))
    return PlannedLine(
        kind=LineKind.FEE,
        description=fee.description,
        quantity=fee.quantity,
        unit_price=fee.unit_price,
        discount_rate=None,
        discount_amount=ZERO,
        amount=round_money(fee.quantity * fee.unit_price, currency),
        account=fee.account,
        tax_rate=fee.tax_rate,
        period=day,
        coverage=None,
        fee_id=fee.id,
    )


def price_invoice(
    lines: Sequence[PlannedLine], location: LocationTerms, rounding: TaxRounding
) -> tuple[PricedLine, ...]:
    taxes = tax_lines(
        [(line.amount, line.tax_rate) for line in lines],
        inclusive=location.prices_include_tax,
        rounding=rounding,
        currency=location.currency,
    )
    return tuple(PricedLine(line, tax) for line, tax in zip(lines, taxes, strict=True))


def plan_bill_run(
    run_date: date,
    rules: BillingRules,
    locations: Mapping[uuid.UUID, LocationTerms],
    memberships: Iterable[MembershipToBill],
    fees: Iterable[FeeToBill],
) -> list[PlannedInvoice]:
    """The invoices the bill run for ``run_date`` creates. Deterministic: same input, same invoices, same order.

    ``memberships`` and ``fees`` are the candidates (active memberships, unbilled fees); what they already had
    billed is in ``billed_through`` and ``billed_later``. Running the plan on its own output's coverage yields nothing.
    """
    billing_period(run_date, rules)  # validates the date
    # Lines grouped into invoices. Keys use the ids' integers: hashing a UUID runs Python code, an int's does not,
    # and a run hashes these keys hundreds of thousands of times.
    groups: dict[tuple[int, int, LineKind | None], list[tuple[tuple[object, ...], PlannedLine]]] = defaultdict(list)
    owners: dict[tuple[int, int, LineKind | None], tuple[uuid.UUID, uuid.UUID]] = {}
    separate = rules.grouping is Grouping.SEPARATE

    def add(customer_id: uuid.UUID, location_id: uuid.UUID, order: tuple[object, ...], line: PlannedLine) -> None:
        key = (customer_id.int, location_id.int, line.kind if separate else None)
        if key not in owners:
            owners[key] = (customer_id, location_id)
        groups[key].append((order, line))

    for membership in memberships:
        currency = locations[membership.location_id].currency
        for charge in membership_charges(membership, run_date, rules.billing_day):
            line = membership_line(membership, charge, currency)
            order = (0, charge.active.start, membership.plan_name, membership.id.int)
            add(membership.customer_id, membership.location_id, order, line)

    for fee in fees:
        if fee.date >= run_date:
            continue  # arrears: only fees dated before the billing day
        line = fee_line(fee, locations[fee.location_id].currency)
        add(fee.customer_id, fee.location_id, (1, fee.date, fee.description, fee.id.int), line)

    status = InvoiceStatus.DRAFT if rules.issue_mode is IssueMode.DRAFT else InvoiceStatus.AWAITING_PAYMENT
    due_date = run_date + timedelta(days=rules.due_days)
    invoices = []
    for key, ordered in groups.items():
        customer_id, location_id = owners[key]
        location = locations[location_id]
        lines = [line for _, line in sorted(ordered, key=lambda item: item[0])]
        invoices.append(
            PlannedInvoice(
                customer_id=customer_id,
                location=location,
                issue_date=run_date,
                due_date=due_date,
                status=status,
                tax_rounding=rules.tax_rounding,
                lines=price_invoice(lines, location, rules.tax_rounding),
            )
        )
    # Per location and customer; with separate grouping the memberships' invoice comes before the fees'.
    invoices.sort(key=lambda inv: (inv.location.code, inv.customer_id.int, inv.lines[0].line.kind is LineKind.FEE))
    return invoices
