"""Use cases of billing: the billing rules and the bill run (preview and commit)."""

from __future__ import annotations

import gc
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import Field
from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from flexbill.access import audit
from flexbill.accounting import outbox
from flexbill.accounting.model import RecordKind
from flexbill.billing.model import (
    AccountingSync,
    AccountRef,
    BillingRules,
    DiscountType,
    FeeToBill,
    Grouping,
    IssueMode,
    LocationTerms,
    MembershipToBill,
    NotABillingDay,
    PlannedInvoice,
    Proration,
    billing_period,
    plan_bill_run,
)
from flexbill.billing.store import BilledFeeRow, BilledMembershipPeriodRow, BillingSettingsRow, BillRunRow
from flexbill.catalog.service import tax_rate_terms
from flexbill.catalog.store import LocationRow, PlanRow, RevenueAccountRow, TaxRateRow
from flexbill.clock import Clock
from flexbill.customers.model import format_address
from flexbill.customers.store import CustomerRow, FeeRow, MembershipRow
from flexbill.db import bulk_insert, new_id
from flexbill.errors import InvalidInput, NotFound
from flexbill.events import service as events
from flexbill.invoicing.model import InvoiceStatus, TaxRate, TaxRounding, render_number
from flexbill.invoicing.store import InvoiceLineRow, InvoiceRow, NumberSequenceRow
from flexbill.money import ZERO
from flexbill.periods import Period
from flexbill.validation import Command

# --- billing rules ---------------------------------------------------------------------------------------------


class BillingRulesChanges(Command):
    billing_day: Annotated[int, Field(ge=1, le=28)] | None = None
    generate_days_before: Annotated[int, Field(ge=0, le=27)] | None = None
    due_days: Annotated[int, Field(ge=0, le=365)] | None = None
    grouping: Literal["single", "separate"] | None = None
    issue_mode: Literal["issue", "draft"] | None = None
    tax_rounding: Literal["per_line", "per_document"] | None = None
    lock_date: date | None = None
    accounting_sync: Literal["off", "manual", "auto"] | None = None
    auto_send: bool | None = None
    auto_charge: bool | None = None
    charge_retries: Annotated[int, Field(ge=0, le=10)] | None = None
    charge_retry_days: Annotated[int, Field(ge=1, le=30)] | None = None
    reminder_days: Annotated[int, Field(ge=0, le=365)] | None = None


def _settings_row(session: Session) -> BillingSettingsRow:
    row = session.get(BillingSettingsRow, 1)
    if row is None:  # the migration inserts it; a database made by metadata.create_all gets it here
        row = BillingSettingsRow(id=1)
        session.add(row)
        session.flush()
    return row


def get_billing_rules(session: Session) -> BillingRules:
    row = _settings_row(session)
    return BillingRules(
        billing_day=row.billing_day,
        generate_days_before=row.generate_days_before,
        due_days=row.due_days,
        grouping=Grouping(row.grouping),
        issue_mode=IssueMode(row.issue_mode),
        tax_rounding=TaxRounding(row.tax_rounding),
        lock_date=row.lock_date,
        accounting_sync=AccountingSync(row.accounting_sync),
        auto_send=row.auto_send,
        auto_charge=row.auto_charge,
        charge_retries=row.charge_retries,
        charge_retry_days=row.charge_retry_days,
        reminder_days=row.reminder_days,
    )


def update_billing_rules(session: Session, changes: BillingRulesChanges) -> BillingRules:
    row = _settings_row(session)
    values = changes.model_dump(include=changes.model_fields_set)
    for name, value in values.items():
        if value is None and name not in ("lock_date", "reminder_days"):
            raise InvalidInput(f"{name} cannot be empty", field=name)
        setattr(row, name, value)
    session.flush()
    return get_billing_rules(session)


def ensure_not_locked(rules: BillingRules, day: date, field: str) -> None:
    """Nothing dated before the lock date may be created or changed."""
    if rules.lock_date is not None and day < rules.lock_date:
        raise InvalidInput(
            f"{field} {day.isoformat()} is before the lock date {rules.lock_date.isoformat()}; "
            "the books are closed up to that date",
            field=field,
        )


# --- the bill run ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BillRunResult:
    id: uuid.UUID | None  # None for a preview
    date: date
    location_id: uuid.UUID | None
    preview: bool
    invoices: list[PlannedInvoice]
    invoice_ids: list[uuid.UUID]


Progress = Callable[[str, int, int], None]


def preview_bill_run(session: Session, run_date: date, location_id: uuid.UUID | None = None) -> BillRunResult:
    """The invoices the bill run would make, computed exactly as a real run; nothing is written."""
    rules = get_billing_rules(session)
    _check_run_date(rules, run_date, location_id, session)
    invoices = _plan(session, rules, run_date, [location_id] if location_id else None)
    return BillRunResult(None, run_date, location_id, True, invoices, [])


def run_bill_run(
    factory: sessionmaker[Session],
    clock: Clock,
    run_date: date,
    location_id: uuid.UUID | None = None,
    progress: Progress | None = None,
) -> BillRunResult:
    """Bill every membership period and fee due on ``run_date``, exactly once.

    Safe to repeat and to run concurrently: the claims' unique keys make a second run find nothing to bill.
    The locations' number sequences are locked first (in a fixed order), so a concurrent run for the same
    locations waits for this one and then plans against what it wrote; should anything slip past, the unique
    keys reject it and the run is planned again.
    """
    attempts = 3
    for attempt in range(1, attempts + 1):
        try:
            with _collector_paused(), factory() as session, session.begin():
                return _commit_bill_run(session, clock, run_date, location_id, progress)
        except IntegrityError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the run. A run makes millions of small objects and no
    reference cycles, and the collector would walk them over and over: a third of the planning time at 100,000
    memberships. Memory is still freed by reference counting."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _commit_bill_run(
    session: Session, clock: Clock, run_date: date, location_id: uuid.UUID | None, progress: Progress | None
) -> BillRunResult:
    rules = get_billing_rules(session)
    _check_run_date(rules, run_date, location_id, session)
    location_ids = [location_id] if location_id else list(session.scalars(select(LocationRow.id)))
    next_numbers = _lock_sequences(session, location_ids)  # locked in id order (ORDER BY), so never a deadlock
    if progress:
        progress("planning", 0, 0)
    # Only the locations locked above: one created meanwhile waits for the next run.
    invoices = _plan(session, rules, run_date, list(next_numbers))
    # Pre-flight of the accounting sync: a run whose codes are not all mapped is refused whole.
    outbox.ensure_mapped(
        session,
        {
            outbox.LineCodes(invoice.location.id, invoice.currency, line.account.code, line.tax_rate.code)
            for invoice in invoices
            for line, _ in invoice.lines
        },
    )
    numbered_elsewhere = outbox.accounting_numbered(session, next_numbers)
    run = BillRunRow(id=new_id(), date=run_date, location_id=location_id, invoice_count=len(invoices))
    session.add(run)
    session.flush()
    invoice_ids = _insert_invoices(session, clock, run.id, invoices, next_numbers, numbered_elsewhere, progress)
    outbox.new_records(
        session,
        RecordKind.INVOICE,
        [(invoice_id, invoice.location.id) for invoice_id, invoice in zip(invoice_ids, invoices, strict=True)],
        clock.now(),
    )
    from flexbill.notify import service as notify  # imported here: it reads the billing rules from this module

    notify.invoices_issued(
        session,
        clock.now(),
        [
            (invoice_id, invoice.location.id)
            for invoice_id, invoice in zip(invoice_ids, invoices, strict=True)
            if invoice.status is not InvoiceStatus.DRAFT
        ],
    )
    issued = any(invoice.status is not InvoiceStatus.DRAFT for invoice in invoices)
    events.publish_invoices_created(session, clock, invoice_ids, issued=issued)
    # The invoices went in with bulk statements, out of the audit trail's sight: one entry says what the run made.
    audit.record(
        session, "bill_runs.run", entity_type="bill_runs", entity_id=run.id,
        after={"date": run_date, "location_id": location_id, "invoices": len(invoice_ids)},
    )  # fmt: skip
    return BillRunResult(run.id, run_date, location_id, False, invoices, invoice_ids)


def _check_run_date(rules: BillingRules, run_date: date, location_id: uuid.UUID | None, session: Session) -> None:
    try:
        billing_period(run_date, rules)
    except NotABillingDay as error:
        raise InvalidInput(str(error), field="date") from None
    ensure_not_locked(rules, run_date, "date")
    if location_id is not None and session.get(LocationRow, location_id) is None:
        raise NotFound("location", location_id, field="location_id")


def _lock_sequences(session: Session, location_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    rows = session.execute(
        select(NumberSequenceRow.location_id, NumberSequenceRow.next_number)
        .where(NumberSequenceRow.location_id.in_(location_ids), NumberSequenceRow.kind == "invoice")
        .order_by(NumberSequenceRow.location_id)
        .with_for_update()
    ).all()
    return dict(rows)


def _plan(
    session: Session, rules: BillingRules, run_date: date, location_ids: Collection[uuid.UUID] | None
) -> list[PlannedInvoice]:
    """Plan the run for ``location_ids`` (every location when ``None``)."""
    period = billing_period(run_date, rules)
    locations = {
        row.id: LocationTerms(row.id, row.code, row.currency, row.prices_include_tax)
        for row in session.scalars(select(LocationRow))
    }
    tax_rates = {row.id: tax_rate_terms(row) for row in session.scalars(select(TaxRateRow))}
    accounts = {
        row.id: (AccountRef(row.id, row.code), row.tax_rate_id) for row in session.scalars(select(RevenueAccountRow))
    }
    memberships = _memberships_to_bill(session, period.end, location_ids, tax_rates, accounts)
    fees = _fees_to_bill(session, run_date, location_ids, tax_rates, accounts)
    return plan_bill_run(run_date, rules, locations, memberships, fees)


def _resolve_tax_rate(
    tax_rates: dict[uuid.UUID, TaxRate],
    customer_override: uuid.UUID | None,
    own_rate: uuid.UUID | None,
    account_default: uuid.UUID,
) -> TaxRate:
    """The customer's override wins over everything; then the item's own rate; then its account's default."""
    return tax_rates[customer_override or own_rate or account_default]


PRORATIONS = {p.value: p for p in Proration}
DISCOUNT_TYPES = {d.value: d for d in DiscountType}


def _memberships_to_bill(
    session: Session,
    horizon: date,
    location_ids: Collection[uuid.UUID] | None,
    tax_rates: dict[uuid.UUID, TaxRate],
    accounts: dict[uuid.UUID, tuple[AccountRef, uuid.UUID]],
) -> list[MembershipToBill]:
    claims = select(
        BilledMembershipPeriodRow.membership_id,
        BilledMembershipPeriodRow.period_start,
        BilledMembershipPeriodRow.period_end,
        func.lag(BilledMembershipPeriodRow.period_end)
        .over(partition_by=BilledMembershipPeriodRow.membership_id, order_by=BilledMembershipPeriodRow.period_start)
        .label("previous_end"),
    ).subquery()
    gap = and_(claims.c.previous_end.is_not(None), claims.c.previous_end != claims.c.period_start)
    billed = (
        select(
            claims.c.membership_id.label("membership_id"),
            func.max(claims.c.period_end).label("billed_through"),
            func.min(claims.c.period_start).label("first_start"),
            func.sum(case((gap, 1), else_=0)).label("gaps"),
        )
        .group_by(claims.c.membership_id)
        .subquery()
    )
    m, p = MembershipRow, PlanRow
    query = (
        select(
            m.id,
            m.customer_id,
            m.location_id,
            m.start_date,
            m.end_exclusive,
            m.quantity,
            m.price,
            m.discount_type,
            m.discount_value,
            p.name.label("plan_name"),
            p.price.label("plan_price"),
            p.interval_months,
            p.proration,
            p.revenue_account_id,
            CustomerRow.tax_rate_id.label("customer_tax_rate_id"),
            billed.c.billed_through,
            billed.c.first_start,
            billed.c.gaps,
        )
        .join(p, p.id == m.plan_id)
        .join(CustomerRow, CustomerRow.id == m.customer_id)
        .outerjoin(billed, billed.c.membership_id == m.id)
        .where(m.start_date < horizon)
        .where(
            or_(
                m.end_exclusive.is_(None),
                billed.c.billed_through.is_(None),
                billed.c.billed_through < m.end_exclusive,
                billed.c.gaps > 0,
                billed.c.first_start != m.start_date,
            )
        )
    )
    if location_ids is not None:
        query = query.where(m.location_id.in_(location_ids))
    result: list[MembershipToBill] = []
    gapped: list[int] = []  # memberships whose coverage has a hole: an earlier invoice was voided
    for row in session.execute(query):
        account, account_tax = accounts[row.revenue_account_id]
        if row.billed_through is not None and (row.gaps or row.first_start != row.start_date):
            gapped.append(len(result))
        result.append(
            MembershipToBill(
                id=row.id,
                customer_id=row.customer_id,
                location_id=row.location_id,
                plan_name=row.plan_name,
                price=row.price if row.price is not None else row.plan_price,
                quantity=row.quantity,
                interval_months=row.interval_months,
                proration=PRORATIONS[row.proration],
                start=row.start_date,
                end_exclusive=row.end_exclusive,
                account=account,
                tax_rate=_resolve_tax_rate(tax_rates, row.customer_tax_rate_id, None, account_tax),
                discount_type=DISCOUNT_TYPES[row.discount_type] if row.discount_type else None,
                discount_value=row.discount_value,
                billed_through=row.billed_through,
            )
        )
    if gapped:
        coverage = _coverage_of(session, [result[i].id for i in gapped])
        for i in gapped:
            through, later = _split_coverage(result[i].start, coverage[result[i].id])
            result[i] = replace(result[i], billed_through=through, billed_later=later)
    return result


def _coverage_of(session: Session, membership_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Period]]:
    coverage: dict[uuid.UUID, list[Period]] = {membership_id: [] for membership_id in membership_ids}
    b = BilledMembershipPeriodRow
    for start in range(0, len(membership_ids), 1000):
        chunk = membership_ids[start : start + 1000]
        query = select(b.membership_id, b.period_start, b.period_end).where(b.membership_id.in_(chunk))
        for membership_id, period_start, period_end in session.execute(query.order_by(b.period_start)):
            coverage[membership_id].append(Period(period_start, period_end))
    return coverage


def _split_coverage(start: date, periods: list[Period]) -> tuple[date | None, tuple[Period, ...]]:
    """(end of the coverage running on from ``start``, the billed islands after the first gap)."""
    through: date | None = None
    index = 0
    while index < len(periods) and periods[index].start == (through or start):
        through = periods[index].end
        index += 1
    return through, tuple(periods[index:])


def _fees_to_bill(
    session: Session,
    run_date: date,
    location_ids: Collection[uuid.UUID] | None,
    tax_rates: dict[uuid.UUID, TaxRate],
    accounts: dict[uuid.UUID, tuple[AccountRef, uuid.UUID]],
) -> list[FeeToBill]:
    f = FeeRow
    query = (
        select(
            f.id,
            f.customer_id,
            f.location_id,
            f.date,
            f.description,
            f.quantity,
            f.unit_price,
            f.revenue_account_id,
            f.tax_rate_id,
            CustomerRow.tax_rate_id.label("customer_tax_rate_id"),
        )
        .join(CustomerRow, CustomerRow.id == f.customer_id)
        .outerjoin(BilledFeeRow, BilledFeeRow.fee_id == f.id)
        .where(and_(BilledFeeRow.fee_id.is_(None), f.date < run_date))
    )
    if location_ids is not None:
        query = query.where(f.location_id.in_(location_ids))
    result = []
    for row in session.execute(query):
        account, account_tax = accounts[row.revenue_account_id]
        result.append(
            FeeToBill(
                id=row.id,
                customer_id=row.customer_id,
                location_id=row.location_id,
                date=row.date,
                description=row.description,
                quantity=row.quantity,
                unit_price=row.unit_price,
                account=account,
                tax_rate=_resolve_tax_rate(tax_rates, row.customer_tax_rate_id, row.tax_rate_id, account_tax),
            )
        )
    return result


# The order in which ``_insert_invoices`` builds each row (tuples: a run builds hundreds of thousands of rows).
_INVOICE_COLUMNS = (
    "id", "number", "location_id", "customer_id", "bill_run_id", "currency", "issue_date", "due_date", "status",
    "prices_include_tax", "tax_rounding", "subtotal", "tax_total", "total", "amount_paid", "amount_credited",
    "bill_to_name", "bill_to_email", "bill_to_address", "bill_to_tax_number", "issued_at", "voided_at",
    "created_at", "updated_at",
)  # fmt: skip
_LINE_COLUMNS = (
    "id", "invoice_id", "position", "kind", "description", "quantity", "unit_price", "discount_rate",
    "discount_amount", "net_amount", "tax_amount", "gross_amount", "account_id", "account_code", "tax_rate_id",
    "tax_rate_code", "tax_rate_percent", "period_start", "period_end_exclusive", "membership_id", "fee_id",
)  # fmt: skip
_PERIOD_CLAIM_COLUMNS = ("membership_id", "period_start", "period_end", "invoice_line_id")
_FEE_CLAIM_COLUMNS = ("fee_id", "invoice_line_id")


def _insert_invoices(
    session: Session,
    clock: Clock,
    bill_run_id: uuid.UUID,
    invoices: Sequence[PlannedInvoice],
    next_numbers: dict[uuid.UUID, int],
    numbered_elsewhere: set[uuid.UUID],
    progress: Progress | None,
) -> list[uuid.UUID]:
    """Write the planned invoices in bulk. Invoices of ``numbered_elsewhere`` locations are issued without a
    number of ours: the accounting system gives theirs when they are synced."""
    if not invoices:
        return []
    customers = bill_to_details(session)
    templates = {row.id: row.invoice_number_template for row in session.scalars(select(LocationRow))}
    issued = invoices[0].status is not InvoiceStatus.DRAFT
    now = clock.now()
    invoice_rows: list[tuple[Any, ...]] = []
    line_rows: list[tuple[Any, ...]] = []
    period_claims: list[tuple[Any, ...]] = []
    fee_claims: list[tuple[Any, ...]] = []
    ids: list[uuid.UUID] = []
    used: dict[uuid.UUID, int] = {}
    for invoice in invoices:
        invoice_id = new_id()
        ids.append(invoice_id)
        location = invoice.location
        number = None
        if issued and location.id not in numbered_elsewhere:
            sequence = next_numbers[location.id] + used.get(location.id, 0)
            used[location.id] = used.get(location.id, 0) + 1
            number = render_number(
                templates[location.id], sequence, location_code=location.code, issue_date=invoice.issue_date
            )
        name, email, address, tax_number = customers[invoice.customer_id]
        invoice_rows.append(
            (
                invoice_id, number, location.id, invoice.customer_id, bill_run_id, invoice.currency,
                invoice.issue_date, invoice.due_date, invoice.status.value, location.prices_include_tax,
                invoice.tax_rounding.value, invoice.subtotal, invoice.tax_total, invoice.total, ZERO, ZERO, name,
                email, address, tax_number, now if issued else None, None, now, now,
            )
        )  # fmt: skip
        for position, (line, tax) in enumerate(invoice.lines):
            line_id = new_id()
            period = line.period
            line_rows.append(
                (
                    line_id, invoice_id, position, line.kind.value, line.description, line.quantity,
                    line.unit_price, line.discount_rate, line.discount_amount, tax.net, tax.tax, tax.gross,
                    line.account.id, line.account.code, line.tax_rate.id, line.tax_rate.code, line.tax_rate.rate,
                    period.start if period else None, period.end if period else None, line.membership_id,
                    line.fee_id,
                )
            )  # fmt: skip
            if line.coverage is not None:
                period_claims.append((line.membership_id, line.coverage.start, line.coverage.end, line_id))
            if line.fee_id is not None:
                fee_claims.append((line.fee_id, line_id))

    # Lines reference invoices and claims reference lines, so they go in that order; a duplicate claim fails
    # the whole transaction, and nothing of this run is kept.
    total = len(invoice_rows) + len(line_rows) + len(period_claims) + len(fee_claims)
    done = 0
    for table, columns, rows in (
        (InvoiceRow, _INVOICE_COLUMNS, invoice_rows),
        (InvoiceLineRow, _LINE_COLUMNS, line_rows),
        (BilledMembershipPeriodRow, _PERIOD_CLAIM_COLUMNS, period_claims),
        (BilledFeeRow, _FEE_CLAIM_COLUMNS, fee_claims),
    ):
        bulk_insert(session, table, columns, rows)
        done += len(rows)
        if progress:
            progress("writing", done, total)
    for location_id, count in used.items():
        session.execute(
            update(NumberSequenceRow)
            .where(NumberSequenceRow.location_id == location_id, NumberSequenceRow.kind == "invoice")
            .values(next_number=NumberSequenceRow.next_number + count)
        )
    return ids


class BillTo(NamedTuple):
    """Who an invoice is made out to, as it will be printed on it."""

    name: str
    email: str
    address: str
    tax_number: str | None


def bill_to_details(session: Session, customer_ids: Collection[uuid.UUID] | None = None) -> dict[uuid.UUID, BillTo]:
    """The bill-to details of the given customers (all of them with ``None``: a bill run reads them in one go)."""
    c = CustomerRow
    query = select(
        c.id, c.name, c.email, c.address_line1, c.address_line2, c.city, c.region, c.postal_code, c.country,
        c.tax_number,
    )  # fmt: skip
    if customer_ids is not None:
        query = query.where(c.id.in_(customer_ids))
    return {row[0]: BillTo(row[1], row[2], format_address(*row[3:9]), row[9]) for row in session.execute(query)}


def get_bill_run(session: Session, bill_run_id: uuid.UUID) -> BillRunRow:
    row = session.get(BillRunRow, bill_run_id)
    if row is None:
        raise NotFound("bill run", bill_run_id)
    return row
