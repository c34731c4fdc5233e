"""The JSON shapes the API returns, and how rows (and previewed invoices) become them, with the few reads some
shapes need (the sync state, an invoice's payments). Outgoing webhooks carry the same shapes
(``flexbill.events.snapshots``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from flexbill import wire
from flexbill.accounting.model import RecordKind
from flexbill.accounting.store import AccountingConnectionRow, SyncRecordRow
from flexbill.billing.model import BillingRules, PlannedInvoice
from flexbill.billing.store import BillRunRow
from flexbill.catalog.service import tax_rate_terms
from flexbill.catalog.store import LocationRow, PlanRow, RevenueAccountRow, TaxRateRow
from flexbill.clock import Clock
from flexbill.customers.store import CustomerRow, FeeRow, MembershipRow
from flexbill.invoicing.model import OPEN_STATUSES, TaxBreakdownRow, TaxRate, tax_breakdown
from flexbill.invoicing.service import amount_due, is_overdue, stored_tax_breakdown, todays_by_location
from flexbill.invoicing.store import CreditNoteRow, InvoiceRow, PaymentRow
from flexbill.notify.store import EmailRow
from flexbill.payments.store import ChargeAttemptRow

ItemT = TypeVar("ItemT")


class AccountingOut(BaseModel):
    """Where a record stands in the accounting system."""

    provider: str | None = None  # e.g. "xero"; None when the record's location has no accounting connection
    status: str = "not_synced"  # not_synced, pending, synced, failed, out_of_date
    external_id: str | None = None
    number: str | None = None  # the accounting system's number of it
    synced_at: datetime | None = None
    error: str | None = None  # why it failed, in the accounting system's words
    remote_status: str | None = None  # the accounting system's status word, e.g. AUTHORISED, PAID, VOIDED


class Page(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    next_cursor: str | None


class LocationOut(BaseModel):
    id: uuid.UUID
    name: str
    code: str
    currency: str
    timezone: str
    prices_include_tax: bool
    invoice_number_template: str
    credit_note_number_template: str
    legal_name: str | None
    address: str
    email: str | None
    phone: str | None
    tax_number: str | None
    payment_details: str
    email_sender_name: str | None
    email_reply_to: str | None
    has_logo: bool


class TaxComponentOut(BaseModel):
    name: str
    rate: str


class TaxRateOut(BaseModel):
    id: uuid.UUID
    name: str
    code: str
    rate: str
    components: list[TaxComponentOut]


class RevenueAccountOut(BaseModel):
    id: uuid.UUID
    name: str
    code: str
    tax_rate_id: uuid.UUID


class PlanOut(BaseModel):
    id: uuid.UUID
    name: str
    price: str
    currency: str | None
    revenue_account_id: uuid.UUID
    proration: str
    interval_months: int


class CustomerOut(BaseModel):
    id: uuid.UUID
    name: str
    kind: str
    email: str
    address_line1: str | None
    address_line2: str | None
    city: str | None
    region: str | None
    postal_code: str | None
    country: str | None
    tax_number: str | None
    home_location_id: uuid.UUID
    tax_rate_id: uuid.UUID | None
    accounting: AccountingOut = AccountingOut()


class MembershipOut(BaseModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    plan_id: uuid.UUID
    location_id: uuid.UUID
    start_date: date
    end_date: date | None
    quantity: str
    price: str | None
    discount_type: str | None
    discount_value: str | None
    billed_until: date | None  # the last day invoiced so far


class FeeOut(BaseModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    location_id: uuid.UUID
    date: date
    description: str
    quantity: str
    unit_price: str
    revenue_account_id: uuid.UUID
    tax_rate_id: uuid.UUID | None


class BillingRulesOut(BaseModel):
    billing_day: int
    generate_days_before: int
    due_days: int
    grouping: str
    issue_mode: str
    tax_rounding: str
    lock_date: date | None
    accounting_sync: str
    auto_send: bool
    auto_charge: bool
    charge_retries: int
    charge_retry_days: int
    reminder_days: int | None


class InvoiceLineOut(BaseModel):
    id: uuid.UUID | None
    kind: str
    description: str
    quantity: str
    unit_price: str
    discount_rate: str | None
    discount_amount: str
    net_amount: str
    tax_amount: str
    gross_amount: str
    tax_rate_code: str
    tax_rate: str
    account_code: str
    period_start: date | None
    period_end: date | None
    membership_id: uuid.UUID | None
    fee_id: uuid.UUID | None


class InvoicePaymentOut(BaseModel):
    id: uuid.UUID
    date: date
    amount: str
    method: str
    source: str  # manual (recorded by staff), gateway (taken by a payment gateway), accounting (made in the books)
    reference: str | None
    status: str  # succeeded, partially_refunded, refunded
    amount_refunded: str


class TaxBreakdownOut(BaseModel):
    tax_rate_code: str
    component: str
    rate: str
    taxable_amount: str
    tax_amount: str


class InvoiceOut(BaseModel):
    id: uuid.UUID | None
    number: str | None
    customer_id: uuid.UUID
    location_id: uuid.UUID
    bill_run_id: uuid.UUID | None
    currency: str
    issue_date: date
    due_date: date
    status: str
    overdue: bool
    prices_include_tax: bool
    tax_rounding: str
    subtotal: str
    tax_total: str
    total: str
    amount_paid: str
    amount_credited: str
    amount_due: str
    bill_to: dict[str, str | None]
    lines: list[InvoiceLineOut]
    tax_breakdown: list[TaxBreakdownOut]
    payment_failed: bool = False
    payment_failure_reason: str | None = None
    disputed: bool = False
    payments: list[InvoicePaymentOut] = []
    accounting: AccountingOut = AccountingOut()


class BillRunOut(BaseModel):
    id: uuid.UUID | None
    date: date
    location_id: uuid.UUID | None
    preview: bool
    invoice_count: int
    invoices: list[InvoiceOut]


class PaymentOut(BaseModel):
    id: uuid.UUID
    invoice_id: uuid.UUID
    date: date
    amount: str
    currency: str
    method: str
    reference: str | None
    source: str  # manual (recorded by staff), gateway (taken by a payment gateway), accounting (made in the books)
    status: str = "succeeded"
    amount_refunded: str = "0"
    accounting: AccountingOut = AccountingOut()


class CreditNoteLineOut(BaseModel):
    invoice_line_id: uuid.UUID
    description: str
    net_amount: str
    tax_amount: str
    gross_amount: str
    account_code: str
    tax_rate_code: str


class CreditNoteOut(BaseModel):
    id: uuid.UUID
    number: str
    invoice_id: uuid.UUID
    customer_id: uuid.UUID
    location_id: uuid.UUID
    currency: str
    date: date
    reason: str
    subtotal: str
    tax_total: str
    total: str
    lines: list[CreditNoteLineOut]
    accounting: AccountingOut = AccountingOut()


class ChargeAttemptOut(BaseModel):
    id: uuid.UUID
    number: int
    kind: str  # auto (off-session on the due date) or checkout (the member on a payment page)
    status: str  # pending, succeeded, failed, requires_action, unknown, canceled
    amount: str
    currency: str
    provider_id: str | None
    failure_code: str | None
    failure_message: str | None
    payment_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class ApiKeyOut(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]


# --- conversions -----------------------------------------------------------------------------------------------


def location_out(row: LocationRow) -> LocationOut:
    fields = {name: getattr(row, name) for name in LocationOut.model_fields if name != "has_logo"}
    return LocationOut(**fields, has_logo=row.logo is not None)


def tax_rate_out(row: TaxRateRow) -> TaxRateOut:
    return TaxRateOut(
        id=row.id,
        name=row.name,
        code=row.code,
        rate=wire.number(row.total_rate),
        components=[TaxComponentOut(name=c.name, rate=wire.number(c.rate)) for c in row.components],
    )


def revenue_account_out(row: RevenueAccountRow) -> RevenueAccountOut:
    return RevenueAccountOut.model_validate(row, from_attributes=True)


def plan_out(row: PlanRow) -> PlanOut:
    return PlanOut(
        id=row.id,
        name=row.name,
        price=wire.plain_price(row.price),
        currency=row.currency,
        revenue_account_id=row.revenue_account_id,
        proration=row.proration,
        interval_months=row.interval_months,
    )


def customer_out(row: CustomerRow) -> CustomerOut:
    return CustomerOut.model_validate(row, from_attributes=True)


def membership_out(row: MembershipRow, billed_until: date | None = None) -> MembershipOut:
    return MembershipOut(
        id=row.id,
        customer_id=row.customer_id,
        plan_id=row.plan_id,
        location_id=row.location_id,
        start_date=row.start_date,
        end_date=wire.last_day(row.end_exclusive),
        quantity=wire.number(row.quantity),
        price=None if row.price is None else wire.plain_price(row.price),
        discount_type=row.discount_type,
        discount_value=None if row.discount_value is None else wire.number(row.discount_value),
        billed_until=billed_until,
    )


def fee_out(row: FeeRow) -> FeeOut:
    return FeeOut(
        id=row.id,
        customer_id=row.customer_id,
        location_id=row.location_id,
        date=row.date,
        description=row.description,
        quantity=wire.number(row.quantity),
        unit_price=wire.plain_price(row.unit_price),
        revenue_account_id=row.revenue_account_id,
        tax_rate_id=row.tax_rate_id,
    )


def billing_rules_out(rules: BillingRules) -> BillingRulesOut:
    return BillingRulesOut(
        billing_day=rules.billing_day,
        generate_days_before=rules.generate_days_before,
        due_days=rules.due_days,
        grouping=rules.grouping.value,
        issue_mode=rules.issue_mode.value,
        tax_rounding=rules.tax_rounding.value,
        lock_date=rules.lock_date,
        accounting_sync=rules.accounting_sync.value,
        auto_send=rules.auto_send,
        auto_charge=rules.auto_charge,
        charge_retries=rules.charge_retries,
        charge_retry_days=rules.charge_retry_days,
        reminder_days=rules.reminder_days,
    )


def _breakdown_out(rows: list[TaxBreakdownRow], currency: str) -> list[TaxBreakdownOut]:
    return [
        TaxBreakdownOut(
            tax_rate_code=r.tax_rate_code,
            component=r.component,
            rate=wire.number(r.rate),
            taxable_amount=wire.amount(r.taxable_amount, currency),
            tax_amount=wire.amount(r.tax_amount, currency),
        )
        for r in rows
    ]


def payment_failed(row: InvoiceRow) -> bool:
    """The last automatic charge of an invoice still to be paid failed (the reason is kept until it is paid)."""
    return row.payment_failure_reason is not None and row.status in OPEN_STATUSES


def invoice_out(row: InvoiceRow, today: date, rates: dict[uuid.UUID, TaxRate]) -> InvoiceOut:
    """``rates``: the tax rates by id, for the breakdown of multi-component rates."""
    c = row.currency
    lines = [
        InvoiceLineOut(
            id=line.id,
            kind=line.kind,
            description=line.description,
            quantity=wire.number(line.quantity),
            unit_price=wire.unit_price(line.unit_price, c),
            discount_rate=None if line.discount_rate is None else wire.number(line.discount_rate),
            discount_amount=wire.amount(line.discount_amount, c),
            net_amount=wire.amount(line.net_amount, c),
            tax_amount=wire.amount(line.tax_amount, c),
            gross_amount=wire.amount(line.gross_amount, c),
            tax_rate_code=line.tax_rate_code,
            tax_rate=wire.number(line.tax_rate_percent),
            account_code=line.account_code,
            period_start=line.period_start,
            period_end=wire.last_day(line.period_end_exclusive),
            membership_id=line.membership_id,
            fee_id=line.fee_id,
        )
        for line in row.lines
    ]
    breakdown = stored_tax_breakdown(row, rates)
    return InvoiceOut(
        id=row.id,
        number=row.number,
        customer_id=row.customer_id,
        location_id=row.location_id,
        bill_run_id=row.bill_run_id,
        currency=c,
        issue_date=row.issue_date,
        due_date=row.due_date,
        status=row.status,
        overdue=is_overdue(row, today),
        prices_include_tax=row.prices_include_tax,
        tax_rounding=row.tax_rounding,
        subtotal=wire.amount(row.subtotal, c),
        tax_total=wire.amount(row.tax_total, c),
        total=wire.amount(row.total, c),
        amount_paid=wire.amount(row.amount_paid, c),
        amount_credited=wire.amount(row.amount_credited, c),
        amount_due=wire.amount(amount_due(row), c),
        bill_to={
            "name": row.bill_to_name,
            "email": row.bill_to_email,
            "address": row.bill_to_address,
            "tax_number": row.bill_to_tax_number,
        },
        lines=lines,
        tax_breakdown=_breakdown_out(breakdown, c),
        payment_failed=payment_failed(row),
        payment_failure_reason=row.payment_failure_reason,
        disputed=row.disputed_at is not None,
    )


def planned_invoice_out(
    invoice: PlannedInvoice, bill_to: dict[str, str | None], bill_run_id: uuid.UUID | None = None
) -> InvoiceOut:
    """A previewed invoice, in the same shape as a stored one but without ids or a number."""
    c = invoice.currency
    lines = []
    for priced in invoice.lines:
        line, tax = priced.line, priced.tax
        lines.append(
            InvoiceLineOut(
                id=None,
                kind=line.kind.value,
                description=line.description,
                quantity=wire.number(line.quantity),
                unit_price=wire.unit_price(line.unit_price, c),
                discount_rate=None if line.discount_rate is None else wire.number(line.discount_rate),
                discount_amount=wire.amount(line.discount_amount, c),
                net_amount=wire.amount(tax.net, c),
                tax_amount=wire.amount(tax.tax, c),
                gross_amount=wire.amount(tax.gross, c),
                tax_rate_code=line.tax_rate.code,
                tax_rate=wire.number(line.tax_rate.rate),
                account_code=line.account.code,
                period_start=line.period.start if line.period else None,
                period_end=line.period.last_day if line.period else None,
                membership_id=line.membership_id,
                fee_id=line.fee_id,
            )
        )
    breakdown = tax_breakdown(
        [(p.line.amount, p.line.tax_rate) for p in invoice.lines],
        inclusive=invoice.location.prices_include_tax,
        rounding=invoice.tax_rounding,
        currency=c,
    )
    zero = wire.amount(Decimal(0), c)
    return InvoiceOut(
        id=None,
        number=None,
        customer_id=invoice.customer_id,
        location_id=invoice.location.id,
        bill_run_id=bill_run_id,
        currency=c,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        status=invoice.status.value,
        overdue=False,
        prices_include_tax=invoice.location.prices_include_tax,
        tax_rounding=invoice.tax_rounding.value,
        subtotal=wire.amount(invoice.subtotal, c),
        tax_total=wire.amount(invoice.tax_total, c),
        total=wire.amount(invoice.total, c),
        amount_paid=zero,
        amount_credited=zero,
        amount_due=wire.amount(invoice.total, c) if invoice.status.value != "draft" else zero,
        bill_to=bill_to,
        lines=lines,
        tax_breakdown=_breakdown_out(breakdown, c),
    )


def bill_run_out(row: BillRunRow, invoices: list[InvoiceOut]) -> BillRunOut:
    return BillRunOut(
        id=row.id,
        date=row.date,
        location_id=row.location_id,
        preview=False,
        invoice_count=row.invoice_count,
        invoices=invoices,
    )


def payment_out(row: PaymentRow) -> PaymentOut:
    return PaymentOut(
        id=row.id,
        invoice_id=row.invoice_id,
        date=row.date,
        amount=wire.amount(row.amount, row.currency),
        currency=row.currency,
        method=row.method,
        reference=row.reference,
        source=row.source,
        status=row.status,
        amount_refunded=wire.amount(row.amount_refunded, row.currency),
    )


def invoice_payment_out(row: PaymentRow) -> InvoicePaymentOut:
    return InvoicePaymentOut(
        id=row.id,
        date=row.date,
        amount=wire.amount(row.amount, row.currency),
        method=row.method,
        source=row.source,
        reference=row.reference,
        status=row.status,
        amount_refunded=wire.amount(row.amount_refunded, row.currency),
    )


def credit_note_out(row: CreditNoteRow) -> CreditNoteOut:
    c = row.currency
    return CreditNoteOut(
        id=row.id,
        number=row.number,
        invoice_id=row.invoice_id,
        customer_id=row.customer_id,
        location_id=row.location_id,
        currency=c,
        date=row.date,
        reason=row.reason,
        subtotal=wire.amount(row.subtotal, c),
        tax_total=wire.amount(row.tax_total, c),
        total=wire.amount(row.total, c),
        lines=[
            CreditNoteLineOut(
                invoice_line_id=line.invoice_line_id,
                description=line.description,
                net_amount=wire.amount(line.net_amount, c),
                tax_amount=wire.amount(line.tax_amount, c),
                gross_amount=wire.amount(line.gross_amount, c),
                account_code=line.account_code,
                tax_rate_code=line.tax_rate_code,
            )
            for line in row.lines
        ],
    )


def attempt_out(row: ChargeAttemptRow) -> ChargeAttemptOut:
    return ChargeAttemptOut(
        id=row.id,
        number=row.number,
        kind=row.kind,
        status=row.status,
        amount=wire.amount(row.amount, row.currency),
        currency=row.currency,
        provider_id=row.external_id,
        failure_code=row.failure_code,
        failure_message=row.failure_message,
        payment_id=row.payment_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


# --- shapes that need a read -----------------------------------------------------------------------------------


def tax_rates_by_id(db: Session) -> dict[uuid.UUID, TaxRate]:
    return {row.id: tax_rate_terms(row) for row in db.scalars(select(TaxRateRow))}


def invoices_out(db: Session, clock: Clock, rows: Sequence[InvoiceRow]) -> list[InvoiceOut]:
    """Stored invoices as ``GET /invoices/{id}`` shows them: with their payments and sync state (a few queries
    for all of them)."""
    todays = todays_by_location(db, clock)
    rates = tax_rates_by_id(db)
    items = [invoice_out(row, todays[row.location_id], rates) for row in rows]
    return with_payments(db, with_accounting(db, RecordKind.INVOICE, items))


def with_payments(db: Session, items: list[InvoiceOut]) -> list[InvoiceOut]:
    """Fill in each invoice's ``payments``, with one query for the page."""
    ids = [item.id for item in items if item.id is not None]
    by_invoice: dict[uuid.UUID, list[PaymentRow]] = {}
    if ids:
        rows = db.scalars(
            select(PaymentRow).where(PaymentRow.invoice_id.in_(ids)).order_by(PaymentRow.date, PaymentRow.id)
        )
        for row in rows:
            by_invoice.setdefault(row.invoice_id, []).append(row)
    for item in items:
        item.payments = [invoice_payment_out(row) for row in by_invoice.get(item.id, [])] if item.id else []
    return items


OutT = TypeVar("OutT", bound=BaseModel)


def accounting_states(db: Session, kind: RecordKind, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, AccountingOut]:
    """The ``accounting`` block of each record, in one query (plus one for the providers)."""
    providers = {row.id: row.provider for row in db.scalars(select(AccountingConnectionRow))}
    records = (
        {
            row.record_id: row
            for row in db.scalars(
                select(SyncRecordRow).where(SyncRecordRow.kind == kind.value, SyncRecordRow.record_id.in_(list(ids)))
            )
        }
        if ids
        else {}
    )
    states: dict[uuid.UUID, AccountingOut] = {}
    for record_id in ids:
        record = records.get(record_id)
        if record is None:
            states[record_id] = AccountingOut()
            continue
        states[record_id] = AccountingOut(
            provider=providers.get(record.connection_id),
            status=record.status,
            external_id=record.external_id,
            number=record.external_number,
            synced_at=record.synced_at,
            error=record.error,
            remote_status=record.remote_status,
        )
    return states


def with_accounting(db: Session, kind: RecordKind, items: list[OutT]) -> list[OutT]:
    """Fill in the ``accounting`` block of API shapes that have an ``id``."""
    states = accounting_states(db, kind, [item.id for item in items])  # type: ignore[attr-defined]
    for item in items:
        item.accounting = states[item.id]  # type: ignore[attr-defined]
    return items


class EmailOut(BaseModel):
    """An email of an invoice, and what became of it."""

    id: uuid.UUID
    invoice_id: uuid.UUID
    kind: str  # invoice, receipt, payment_failed, action_required, reminder
    payment_id: uuid.UUID | None  # the payment a receipt is for
    to: str
    subject: str
    status: str  # pending, sending, sent, failed, uncertain (may or may not have arrived: never resent by itself)
    attempts: int
    last_error: str | None  # why it is not sent (yet), in the mail server's words when it answered
    note: str | None  # how it went out when that differs from the rule, e.g. with flexbill's own PDF
    message_id: str  # the Message-ID header: look for it in the mail server's log or an inbox
    requested_by: str  # auto (the billing rules) or staff
    created_at: datetime
    sent_at: datetime | None


def email_out(row: EmailRow) -> EmailOut:
    return EmailOut(
        id=row.id,
        invoice_id=row.invoice_id,
        kind=row.kind,
        payment_id=row.payment_id,
        to=row.to_address,
        subject=row.subject,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        note=(row.context or {}).get("note"),
        message_id=row.message_id,
        requested_by=row.requested_by,
        created_at=row.created_at,
        sent_at=row.sent_at,
    )
