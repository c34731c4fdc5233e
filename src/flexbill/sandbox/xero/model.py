"""The records of a Xero organisation, and the arithmetic Xero does on them.

Xero computes tax per line, rounds it half-up to the cent and sums the rounded taxes; totals follow from the
lines. The worked example from Xero's "rounding in Xero" page, at 15%:

>>> rate = Decimal("15")
>>> [line_tax(Decimal(amount), rate, "Exclusive") for amount in ("25.06", "25.61", "25.63")]
[Decimal('3.76'), Decimal('3.84'), Decimal('3.84')]

(11.44 in total, where taxing the 76.30 subtotal once would give 11.45.) Tax inside a tax-inclusive amount:

>>> line_tax(Decimal("120.00"), Decimal("20"), "Inclusive")
Decimal('20.00')
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from flexbill.sandbox.xero.wire import FOUR_PLACES, money, round_to

ZERO = Decimal(0)
HUNDRED = Decimal(100)

LineAmountTypes = Literal["Exclusive", "Inclusive", "NoTax"]
LINE_AMOUNT_TYPES: dict[str, LineAmountTypes] = {"exclusive": "Exclusive", "inclusive": "Inclusive", "notax": "NoTax"}
DOCUMENT_STATUSES = ("DRAFT", "SUBMITTED", "DELETED", "AUTHORISED", "PAID", "VOIDED")
DocumentKind = Literal["invoice", "credit_note"]


def line_tax(line_amount: Decimal, rate_percent: Decimal, amount_types: LineAmountTypes) -> Decimal:
    """The tax of one line, rounded half-up to the cent (the line amount is tax-inclusive for ``Inclusive``)."""
    if amount_types == "NoTax" or rate_percent == ZERO:
        return money(ZERO)
    if amount_types == "Inclusive":
        return money(line_amount * rate_percent / (HUNDRED + rate_percent))
    return money(line_amount * rate_percent / HUNDRED)


@dataclass
class Account:
    account_id: str
    code: str
    name: str
    type: str
    account_class: str
    tax_type: str
    updated: dt.datetime
    description: str = ""
    status: str = "ACTIVE"
    enable_payments: bool = False
    system_account: str = ""
    bank_account_number: str = ""
    currency_code: str = ""
    reporting_code: str = ""
    reporting_code_name: str = ""
    show_in_expense_claims: bool = False

    @property
    def takes_payments(self) -> bool:
        """Payments go to bank accounts, and to accounts with "Enable payments to this account" ticked."""
        return self.status == "ACTIVE" and (self.type == "BANK" or self.enable_payments)

    @property
    def usable_on_sales(self) -> bool:
        """A line of a sales document may post to any active account but a bank account or a control account."""
        return self.status == "ACTIVE" and self.type != "BANK" and self.system_account not in _CONTROL_ACCOUNTS


_CONTROL_ACCOUNTS = frozenset({"DEBTORS", "CREDITORS", "GST", "GSTONIMPORTS", "RETAINEDEARNINGS", "UNPAIDEXPCLM"})


@dataclass(frozen=True)
class TaxComponent:
    name: str
    rate: Decimal
    is_compound: bool = False
    is_non_recoverable: bool = False


@dataclass
class TaxRate:
    name: str
    tax_type: str
    report_tax_type: str
    components: list[TaxComponent]
    status: str = "ACTIVE"
    can_apply_to_assets: bool = True
    can_apply_to_equity: bool = True
    can_apply_to_expenses: bool = True
    can_apply_to_liabilities: bool = True
    can_apply_to_revenue: bool = True

    @property
    def effective_rate(self) -> Decimal:
        """Simple components add up; a compound component applies to the amount plus the simple taxes.

        >>> TaxRate("x", "TAX001", "OUTPUT", [TaxComponent("A", Decimal(5)), TaxComponent("B", Decimal(10), True)]
        ...         ).effective_rate
        Decimal('15.5000')
        """
        simple = sum((c.rate for c in self.components if not c.is_compound), ZERO)
        compound = sum((c.rate for c in self.components if c.is_compound), ZERO)
        return round_to(simple + compound * (HUNDRED + simple) / HUNDRED, FOUR_PLACES)


@dataclass
class TrackingOption:
    option_id: str
    name: str
    status: str = "ACTIVE"


@dataclass
class TrackingCategory:
    category_id: str
    name: str
    options: list[TrackingOption]
    status: str = "ACTIVE"

    def option_named(self, name: str) -> TrackingOption | None:
        wanted = name.strip().casefold()
        return next((o for o in self.options if o.name.casefold() == wanted and o.status == "ACTIVE"), None)


@dataclass
class Contact:
    contact_id: str
    name: str
    created: dt.datetime
    updated: dt.datetime
    status: str = "ACTIVE"
    contact_number: str | None = None
    account_number: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    company_number: str | None = None
    tax_number: str | None = None
    bank_account_details: str | None = None
    default_currency: str | None = None
    sales_default_account_code: str | None = None
    accounts_receivable_tax_type: str | None = None
    addresses: list[dict[str, str]] = field(default_factory=list)
    phones: list[dict[str, str]] = field(default_factory=list)
    persons: list[dict[str, object]] = field(default_factory=list)
    is_customer: bool = False
    is_supplier: bool = False


@dataclass
class Line:
    line_id: str
    description: str
    quantity: Decimal
    unit_amount: Decimal
    line_amount: Decimal
    tax_type: str
    tax_amount: Decimal
    account_code: str | None = None
    account_id: str | None = None
    item_code: str | None = None
    discount_rate: Decimal | None = None
    discount_amount: Decimal | None = None
    tracking: list[tuple[str, str]] = field(default_factory=list)  # (category id, option id)


@dataclass
class Document:
    """An invoice (ACCREC) or a credit note (ACCRECCREDIT): both share the lines, the totals and the numbering."""

    doc_id: str
    kind: DocumentKind
    type: str
    number: str
    contact_id: str
    date: dt.date
    status: str
    line_amount_types: LineAmountTypes
    lines: list[Line]
    currency_code: str
    currency_rate: Decimal
    created: dt.datetime
    updated: dt.datetime
    due_date: dt.date | None = None
    reference: str | None = None
    url: str | None = None
    branding_theme_id: str | None = None
    expected_payment_date: dt.date | None = None
    sent_to_contact: bool = False
    amount_paid: Decimal = ZERO
    amount_credited: Decimal = ZERO  # invoice: credit notes allocated to it; credit note: credit allocated away
    fully_paid_on: dt.date | None = None
    payment_ids: list[str] = field(default_factory=list)
    allocation_ids: list[str] = field(default_factory=list)
    created_by: str | None = None

    @property
    def sub_total(self) -> Decimal:
        amounts = sum((line.line_amount for line in self.lines), ZERO)
        if self.line_amount_types == "Inclusive":
            return money(amounts - self.total_tax)
        return money(amounts)

    @property
    def total_tax(self) -> Decimal:
        return money(sum((line.tax_amount for line in self.lines), ZERO))

    @property
    def total(self) -> Decimal:
        return money(self.sub_total + self.total_tax)

    @property
    def total_discount(self) -> Decimal:
        return money(sum((_discount(line) for line in self.lines), ZERO))

    @property
    def outstanding(self) -> Decimal:
        """What is still owed (invoice: AmountDue) or still to use (credit note: RemainingCredit)."""
        if self.status in ("DELETED", "VOIDED"):
            return money(ZERO)
        return money(self.total - self.amount_paid - self.amount_credited)

    @property
    def has_money_applied(self) -> bool:
        return self.amount_paid != ZERO or self.amount_credited != ZERO


def _discount(line: Line) -> Decimal:
    gross = line.quantity * line.unit_amount
    return money(gross) - line.line_amount if gross else ZERO


@dataclass
class Payment:
    payment_id: str
    doc_kind: DocumentKind
    doc_id: str
    account_id: str
    date: dt.date
    amount: Decimal
    currency_rate: Decimal
    payment_type: str
    created: dt.datetime
    updated: dt.datetime
    reference: str | None = None
    status: str = "AUTHORISED"
    is_reconciled: bool = False
    created_by: str | None = None


@dataclass
class Allocation:
    allocation_id: str
    credit_note_id: str
    invoice_id: str
    amount: Decimal
    date: dt.date
    created: dt.datetime
    is_deleted: bool = False
