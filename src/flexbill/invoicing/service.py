"""Use cases of an invoice's life: issue a draft, void, record a payment, credit."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Annotated, Literal, NamedTuple

from pydantic import Field, ValidationInfo, field_validator
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from flexbill.access import audit
from flexbill.accounting import outbox
from flexbill.accounting.model import RecordKind
from flexbill.billing.service import bill_to_details, ensure_not_locked, get_billing_rules
from flexbill.billing.store import BilledFeeRow, BilledMembershipPeriodRow
from flexbill.catalog.service import get_location, tax_rate_terms
from flexbill.catalog.store import LocationRow, TaxRateRow
from flexbill.clock import Clock, local_today
from flexbill.errors import Conflict, InvalidInput, NotFound
from flexbill.events import service as events
from flexbill.events.model import EventType
from flexbill.invoicing.model import (
    OPEN_STATUSES,
    InvoiceStatus,
    TaxBreakdownRow,
    TaxComponent,
    TaxRate,
    TaxRounding,
    render_number,
    status_after_settlement,
    tax_breakdown,
    tax_lines,
)
from flexbill.invoicing.store import (
    CreditNoteLineRow,
    CreditNoteRow,
    InvoiceLineRow,
    InvoiceRow,
    NumberSequenceRow,
    PaymentRow,
)
from flexbill.money import ZERO, allocate, describe
from flexbill.notify import service as notify
from flexbill.payments.model import OPEN_ATTEMPT_STATUSES, PaymentSource
from flexbill.validation import Command, PositiveAmount, check_places_for_currency

Reason = Annotated[str, Field(min_length=1, max_length=500)]


class NewPayment(Command):
    date: dt.date
    amount: PositiveAmount
    method: Literal["bank_transfer", "cash", "card", "direct_debit", "other"] = "bank_transfer"
    reference: Annotated[str, Field(max_length=200)] | None = None


class CreditLine(Command):
    line_id: uuid.UUID
    amount: PositiveAmount  # gross, in the invoice's currency


class NewCreditNote(Command):
    lines: Annotated[list[CreditLine], Field(min_length=1)] | None = None
    amount: PositiveAmount | None = Field(default=None, validate_default=True)  # gross, shared over the lines
    reason: Reason
    date: dt.date | None = None  # default: today, or the invoice's date if that is later

    @field_validator("amount")
    @classmethod
    def _amount_or_lines(cls, amount: Decimal | None, info: ValidationInfo) -> Decimal | None:
        if "lines" in info.data and (amount is None) == (info.data["lines"] is None):
            raise ValueError("give either amount (shared over the invoice's lines) or lines, not both, not neither")
        return amount


class VoidRequest(Command):
    release_items: bool = True  # False: the voided items stay billed (written off), the next run ignores them


def take_number(session: Session, location_id: uuid.UUID, kind: str) -> int:
    """The next number of the sequence, under a row lock held until the transaction ends (gap-free)."""
    row = session.execute(
        select(NumberSequenceRow)
        .where(NumberSequenceRow.location_id == location_id, NumberSequenceRow.kind == kind)
        .with_for_update()
    ).scalar_one()
    number = row.next_number
    session.execute(
        update(NumberSequenceRow)
        .where(NumberSequenceRow.location_id == location_id, NumberSequenceRow.kind == kind)
        .values(next_number=NumberSequenceRow.next_number + 1)
    )
    return number


def get_invoice(session: Session, invoice_id: uuid.UUID, *, for_update: bool = False) -> InvoiceRow:
    row = session.get(InvoiceRow, invoice_id, with_for_update=for_update)
    if row is None:
        raise NotFound("invoice", invoice_id)
    return row


def amount_due(invoice: InvoiceRow) -> Decimal:
    if invoice.status in (InvoiceStatus.DRAFT, InvoiceStatus.VOIDED):
        return ZERO
    return invoice.total - invoice.amount_paid - invoice.amount_credited


def is_overdue(invoice: InvoiceRow, today: dt.date) -> bool:
    """Past its due date with a balance; ``today`` is the date at the invoice's location."""
    return invoice.status in OPEN_STATUSES and invoice.due_date < today


def todays_by_location(session: Session, clock: Clock) -> dict[uuid.UUID, dt.date]:
    """Today's date at each location, in its own time zone."""
    return todays_at(clock, session.execute(select(LocationRow.id, LocationRow.timezone)).tuples())


def todays_at(clock: Clock, locations: Iterable[tuple[uuid.UUID, str]]) -> dict[uuid.UUID, dt.date]:
    """Today's date at each of ``locations`` (id, time zone), for a page that has read them already."""
    return {location_id: local_today(clock, timezone) for location_id, timezone in locations}


def issue_invoice(session: Session, clock: Clock, invoice_id: uuid.UUID) -> InvoiceRow:
    invoice = get_invoice(session, invoice_id, for_update=True)
    if invoice.status != InvoiceStatus.DRAFT:
        raise Conflict(f"invoice {invoice.number} is {invoice.status}; only a draft can be issued")
    ensure_not_locked(get_billing_rules(session), invoice.issue_date, "issue_date")
    location = get_location(session, invoice.location_id)
    outbox.ensure_mapped(session, _line_codes(invoice))
    if location.id not in outbox.accounting_numbered(session, [location.id]):
        number = take_number(session, location.id, "invoice")
        invoice.number = render_number(
            location.invoice_number_template, number, location_code=location.code, issue_date=invoice.issue_date
        )
    # The bill-to details are fixed when the invoice is issued, as the bill run fixes them for what it issues.
    bill_to = bill_to_details(session, [invoice.customer_id])[invoice.customer_id]
    invoice.bill_to_name, invoice.bill_to_email = bill_to.name, bill_to.email
    invoice.bill_to_address, invoice.bill_to_tax_number = bill_to.address, bill_to.tax_number
    invoice.status = status_after_settlement(invoice.total, ZERO)
    invoice.issued_at = clock.now()
    session.flush()
    outbox.records_changed(session, RecordKind.INVOICE, [(invoice.id, invoice.location_id)], clock.now())
    notify.invoices_issued(session, clock.now(), [(invoice.id, invoice.location_id)])
    events.publish(session, clock, EventType.INVOICE_ISSUED, invoice)
    return invoice


def _line_codes(invoice: InvoiceRow) -> list[outbox.LineCodes]:
    return [
        outbox.LineCodes(invoice.location_id, invoice.currency, line.account_code, line.tax_rate_code)
        for line in invoice.lines
    ]


def void_invoice(session: Session, clock: Clock, invoice_id: uuid.UUID, request: VoidRequest) -> InvoiceRow:
    """Void an invoice that nothing has been paid or credited on. By default its memberships' periods and fees
    are released, so the next bill run bills them again (void and re-issue)."""
    invoice = get_invoice(session, invoice_id, for_update=True)
    label = invoice.number or "draft"
    if invoice.status == InvoiceStatus.VOIDED:
        raise Conflict(f"invoice {label} is already voided")
    if invoice.amount_paid > ZERO or invoice.amount_credited > ZERO:
        raise Conflict(
            f"invoice {label} has payments or credit notes against it; credit the rest instead of voiding it"
        )
    ensure_not_locked(get_billing_rules(session), invoice.issue_date, "issue_date")
    if request.release_items:
        line_ids = select(InvoiceLineRow.id).where(InvoiceLineRow.invoice_id == invoice.id)
        session.execute(
            delete(BilledMembershipPeriodRow).where(BilledMembershipPeriodRow.invoice_line_id.in_(line_ids))
        )
        session.execute(delete(BilledFeeRow).where(BilledFeeRow.invoice_line_id.in_(line_ids)))
    # The items are released with set-based deletes, out of the audit trail's sight: record the choice.
    audit.record(
        session, "invoices.void", entity_type="invoices", entity_id=invoice.id,
        after={"items_released": request.release_items},
    )  # fmt: skip
    invoice.status = InvoiceStatus.VOIDED
    invoice.voided_at = clock.now()
    session.flush()
    outbox.records_changed(session, RecordKind.INVOICE, [(invoice.id, invoice.location_id)], clock.now())
    events.publish(session, clock, EventType.INVOICE_VOIDED, invoice)
    return invoice


def record_payment(
    session: Session,
    clock: Clock,
    invoice_id: uuid.UUID,
    command: NewPayment,
    *,
    source: PaymentSource = PaymentSource.MANUAL,
    gateway_id: uuid.UUID | None = None,
    external_id: str | None = None,
) -> PaymentRow:
    """Record a payment against an issued invoice. One recorded by staff or taken by a gateway goes to the
    accounting system (by the sync rule); one taken from it (``source="accounting"``) is never sent back.

    Money a gateway has taken is recorded whatever the invoice's state, even above what is due (the member paid
    online just as staff recorded a transfer): losing a payment is worse than an overpaid invoice, which shows a
    negative amount due for staff to refund."""
    invoice = get_invoice(session, invoice_id, for_update=True)
    status_before = invoice.status
    label = invoice.number or "draft"
    taken_by_gateway = source == PaymentSource.GATEWAY
    if invoice.status == InvoiceStatus.DRAFT or (not taken_by_gateway and invoice.status not in OPEN_STATUSES):
        raise Conflict(f"invoice {label} is {invoice.status}; payments go on issued, unpaid invoices")
    if not check_places_for_currency(command.amount, invoice.currency):
        raise InvalidInput(f"{command.amount} has more decimal places than {invoice.currency} has", field="amount")
    if not taken_by_gateway:
        ensure_not_locked(get_billing_rules(session), command.date, "date")
        _ensure_not_before_issue(invoice, command.date)
        due = amount_due(invoice)
        if command.amount > due:
            raise InvalidInput(
                f"the payment of {describe(command.amount, invoice.currency)} is more than the "
                f"{describe(due, invoice.currency)} due on invoice {label}",
                field="amount",
            )
    if source == PaymentSource.MANUAL:
        _ensure_no_charge_in_flight(session, invoice)
    payment = PaymentRow(
        invoice_id=invoice.id,
        date=max(command.date, invoice.issue_date),
        amount=command.amount,
        currency=invoice.currency,
        method=command.method,
        reference=command.reference,
        source=source.value,
        gateway_id=gateway_id,
        external_id=external_id,
    )
    session.add(payment)
    invoice.amount_paid += command.amount
    if invoice.status != InvoiceStatus.VOIDED:
        invoice.status = status_after_settlement(invoice.total, invoice.amount_paid + invoice.amount_credited)
    if invoice.status == InvoiceStatus.PAID:
        invoice.payment_failure_reason = None
    session.flush()
    # Money taken on a voided invoice has no invoice to go against in the books: it waits here to be refunded.
    if source != PaymentSource.ACCOUNTING and invoice.status != InvoiceStatus.VOIDED:
        outbox.records_changed(session, RecordKind.PAYMENT, [(payment.id, invoice.location_id)], clock.now())
    events.publish(session, clock, EventType.PAYMENT_SUCCEEDED, payment)
    events.invoice_settled(session, clock, invoice, status_before)
    return payment


def _ensure_no_charge_in_flight(session: Session, invoice: InvoiceRow) -> None:
    """Staff recording a bank transfer while the card is being charged automatically for the same invoice would
    make two payments of one balance: they wait for the charge's outcome (seconds, or minutes when the gateway's
    answer was lost) instead. A payment page the member has open does not hold staff up: should the member pay
    there too, that money is recorded and refunded (an overpaid invoice says so)."""
    from flexbill.payments.model import AttemptKind
    from flexbill.payments.store import ChargeAttemptRow

    in_flight = session.scalars(
        select(ChargeAttemptRow).where(
            ChargeAttemptRow.invoice_id == invoice.id,
            ChargeAttemptRow.kind == AttemptKind.AUTO.value,
            ChargeAttemptRow.status.in_([s.value for s in OPEN_ATTEMPT_STATUSES]),
        )
    ).first()
    if in_flight is not None:
        raise Conflict(
            f"a charge of {describe(in_flight.amount, in_flight.currency)} to the member's saved payment method is "
            f"in progress for invoice {invoice.number or 'draft'}; record the payment once it has failed, or not at "
            "all if it succeeds (GET /api/v1/invoices/{id}/charges shows it)"
        )


def create_credit_note(
    session: Session, clock: Clock, invoice_id: uuid.UUID, command: NewCreditNote, *, invoice_event: bool = True
) -> CreditNoteRow:
    """A credit note allocated to the invoice: for an amount shared over its lines, or for given lines. With
    ``invoice_event`` False the caller publishes what became of the invoice itself (a refund does)."""
    invoice = get_invoice(session, invoice_id, for_update=True)
    status_before = invoice.status
    label = invoice.number or "draft"
    if invoice.status not in OPEN_STATUSES:
        raise Conflict(f"invoice {label} is {invoice.status}; only an issued invoice with a balance can be credited")
    location = get_location(session, invoice.location_id)
    credit_date = command.date or max(local_today(clock, location.timezone), invoice.issue_date)
    ensure_not_locked(get_billing_rules(session), credit_date, "date")
    _ensure_not_before_issue(invoice, credit_date)
    currency = invoice.currency
    remaining = _creditable_by_line(session, invoice)
    left_to_credit = {line_id: balance.gross for line_id, balance in remaining.items()}
    lines_by_id = {line.id: line for line in invoice.lines}

    if command.amount is not None:
        if not check_places_for_currency(command.amount, currency):
            raise InvalidInput(f"{command.amount} has more decimal places than {currency} has", field="amount")
        ids = [line.id for line in invoice.lines if left_to_credit[line.id] > ZERO]
        shares = dict(zip(ids, allocate(command.amount, [left_to_credit[i] for i in ids], currency), strict=True))
        requested_total = command.amount
        field = "amount"
    else:
        assert command.lines is not None
        shares = defaultdict(lambda: ZERO)
        for index, credit in enumerate(command.lines):
            if credit.line_id not in lines_by_id:
                raise InvalidInput(f"line {credit.line_id} is not on invoice {label}", field=f"lines.{index}.line_id")
            if not check_places_for_currency(credit.amount, currency):
                raise InvalidInput(f"{credit.amount} has too many decimal places", field=f"lines.{index}.amount")
            shares[credit.line_id] += credit.amount
            if shares[credit.line_id] > left_to_credit[credit.line_id]:
                raise InvalidInput(
                    f"line {credit.line_id} has {describe(left_to_credit[credit.line_id], currency)} left to credit",
                    field=f"lines.{index}.amount",
                )
        requested_total = sum(shares.values(), ZERO)
        field = "lines"
    due = amount_due(invoice)
    if requested_total > due:
        raise InvalidInput(
            f"the credit of {describe(requested_total, currency)} is more than the {describe(due, currency)} due "
            f"on invoice {label}",
            field=field,
        )

    number = take_number(session, location.id, "credit_note")
    note = CreditNoteRow(
        number=render_number(
            location.credit_note_number_template, number, location_code=location.code, issue_date=credit_date
        ),
        invoice_id=invoice.id,
        location_id=invoice.location_id,
        customer_id=invoice.customer_id,
        currency=currency,
        date=credit_date,
        reason=command.reason,
        subtotal=ZERO,
        tax_total=ZERO,
        total=ZERO,
    )
    taxes = _credit_taxes(session, invoice, shares, remaining)
    position = 0
    for line in invoice.lines:
        gross = shares.get(line.id, ZERO)
        if gross == ZERO:
            continue
        tax = taxes[line.id]
        note.lines.append(
            CreditNoteLineRow(
                position=position,
                invoice_line_id=line.id,
                description=line.description,
                net_amount=gross - tax,
                tax_amount=tax,
                gross_amount=gross,
                account_code=line.account_code,
                tax_rate_code=line.tax_rate_code,
            )
        )
        position += 1
    note.subtotal = sum((cl.net_amount for cl in note.lines), ZERO)
    note.tax_total = sum((cl.tax_amount for cl in note.lines), ZERO)
    note.total = sum((cl.gross_amount for cl in note.lines), ZERO)
    outbox.ensure_mapped(
        session,
        [outbox.LineCodes(invoice.location_id, currency, cl.account_code, cl.tax_rate_code) for cl in note.lines],
    )
    session.add(note)
    invoice.amount_credited += note.total
    invoice.status = status_after_settlement(invoice.total, invoice.amount_paid + invoice.amount_credited)
    session.flush()
    outbox.records_changed(session, RecordKind.CREDIT_NOTE, [(note.id, invoice.location_id)], clock.now())
    events.publish(session, clock, EventType.CREDIT_NOTE_CREATED, note)
    if invoice_event:
        events.invoice_settled(session, clock, invoice, status_before)
    return note


def _ensure_not_before_issue(invoice: InvoiceRow, day: dt.date) -> None:
    if day < invoice.issue_date:
        raise InvalidInput(
            f"{day.isoformat()} is before invoice {invoice.number}'s issue date {invoice.issue_date.isoformat()}",
            field="date",
        )


class _LineBalance(NamedTuple):
    gross: Decimal  # left to credit
    tax: Decimal  # of which tax


def _creditable_by_line(session: Session, invoice: InvoiceRow) -> dict[uuid.UUID, _LineBalance]:
    """Gross and tax left to credit on each line. Summed here, not in SQL: SQLite keeps amounts as exact text."""
    left = {line.id: _LineBalance(line.gross_amount, line.tax_amount) for line in invoice.lines}
    credited = session.execute(
        select(CreditNoteLineRow.invoice_line_id, CreditNoteLineRow.gross_amount, CreditNoteLineRow.tax_amount)
        .join(InvoiceLineRow, InvoiceLineRow.id == CreditNoteLineRow.invoice_line_id)
        .where(InvoiceLineRow.invoice_id == invoice.id)
    )
    for line_id, gross, tax in credited:
        left[line_id] = _LineBalance(left[line_id].gross - gross, left[line_id].tax - tax)
    return left


def _credit_taxes(
    session: Session,
    invoice: InvoiceRow,
    shares: Mapping[uuid.UUID, Decimal],
    remaining: Mapping[uuid.UUID, _LineBalance],
) -> dict[uuid.UUID, Decimal]:
    """The tax in each credited line's gross. A line credited to the end gives back exactly the tax left on it, so
    crediting a whole invoice cancels it to the cent; part of a line is taxed like a document of tax-inclusive
    lines at the lines' own rates (36.00 at 20% -> 6.00 tax, 30.00 net)."""
    taxes: dict[uuid.UUID, Decimal] = {}
    partial = []
    for line in invoice.lines:
        gross = shares.get(line.id, ZERO)
        if gross == ZERO:
            continue
        if gross == remaining[line.id].gross:
            taxes[line.id] = remaining[line.id].tax
        else:
            partial.append(line)
    if partial:
        rates = {row.id: tax_rate_terms(row) for row in session.scalars(select(TaxRateRow))}
        computed = tax_lines(
            [(shares[line.id], stored_line_tax_rate(line, rates)) for line in partial],
            inclusive=True,
            rounding=TaxRounding.PER_DOCUMENT,
            currency=invoice.currency,
        )
        for line, line_tax in zip(partial, computed, strict=True):
            taxes[line.id] = min(line_tax.tax, remaining[line.id].tax)
    return taxes


def stored_line_tax_rate(line: InvoiceLineRow, rates: Mapping[uuid.UUID, TaxRate]) -> TaxRate:
    """The tax rate of a stored line, as a value: the catalog's, unless it changed since (then one component of
    the percentage stored on the line)."""
    rate = rates.get(line.tax_rate_id)
    if rate is not None and rate.rate == line.tax_rate_percent:
        return rate
    component = TaxComponent(line.tax_rate_code, line.tax_rate_percent)
    return TaxRate(line.tax_rate_id, line.tax_rate_code, line.tax_rate_code, (component,))


def stored_tax_breakdown(invoice: InvoiceRow, rates: Mapping[uuid.UUID, TaxRate]) -> list[TaxBreakdownRow]:
    """The tax per rate and component of a stored invoice, recomputed from its lines' amounts by the rules it was
    made with: what the API returns and the invoice's PDF prints."""
    return tax_breakdown(
        [
            (line.gross_amount if invoice.prices_include_tax else line.net_amount, stored_line_tax_rate(line, rates))
            for line in invoice.lines
        ],
        inclusive=invoice.prices_include_tax,
        rounding=TaxRounding(invoice.tax_rounding),
        currency=invoice.currency,
    )


def get_credit_note(session: Session, credit_note_id: uuid.UUID) -> CreditNoteRow:
    row = session.get(CreditNoteRow, credit_note_id)
    if row is None:
        raise NotFound("credit note", credit_note_id)
    return row
