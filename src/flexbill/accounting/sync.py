"""The sync engine's tasks: send records to the accounting system, and take its changes back.

Every task is about one record at one revision (see ``store``); the worker hands a handler up to a batch of
tasks of one kind and one connection, and the handler sends them in as few calls as the connector allows.

How duplicates are made impossible, whatever fails:
- a task whose revision is older than its record's, or already confirmed, does nothing;
- before a create is sent, the records are marked ``uncertain`` in a committed transaction; a record found
  uncertain (the worker died, the answer was lost) is first looked up remotely by our id and adopted if found;
- every create carries an idempotency key derived from our ids and revisions, so a retried request that the
  accounting system did apply is answered from its memory instead of applied twice;
- a payment taken back from the accounting system is recorded once: its remote id is unique per connection.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from flexbill.accounting import outbox
from flexbill.accounting.model import (
    Address,
    AllocationData,
    ContactData,
    DocumentData,
    DocumentLookup,
    LineData,
    Numbering,
    PaymentData,
    Pushed,
    PushResult,
    RecordKind,
    Refused,
    RemoteDocument,
    SyncStatus,
    TrackingChoice,
)
from flexbill.accounting.outbox import task_key
from flexbill.accounting.ports import (
    AuthExpired,
    ConnectorError,
    ConnectorSession,
    RateLimited,
    Rejected,
    RemoteNotFound,
)
from flexbill.accounting.registry import get_connector
from flexbill.accounting.service import ReconnectNeeded, get_connection, http_client, session_target
from flexbill.accounting.store import (
    AccountingConnectionRow,
    AccountingDocumentRow,
    ConnectionLocationRow,
    SyncLogRow,
    SyncRecordRow,
)
from flexbill.billing.service import get_billing_rules
from flexbill.bootstrap import Context
from flexbill.catalog.store import LocationRow
from flexbill.customers.store import CustomerRow
from flexbill.errors import FlexbillError
from flexbill.events import service as events
from flexbill.events.model import EventType
from flexbill.invoicing.model import InvoiceStatus
from flexbill.invoicing.store import CreditNoteRow, InvoiceRow, PaymentRow
from flexbill.money import ZERO, describe
from flexbill.notify import service as notify
from flexbill.payments.model import PaymentSource
from flexbill.payments.store import RefundRow
from flexbill.periods import Period, human_period
from flexbill.tasks.service import Task, enqueue
from flexbill.tasks.store import RUNNING, TaskRow
from flexbill.worker import MAX_ATTEMPTS, DelayGroup, Done, Failed, Outcome, PauseGroup, RetryLater

logger = logging.getLogger("flexbill.accounting")

WAIT_FOR_INVOICE = timedelta(seconds=30)  # a payment or credit note waits for its invoice to reach the books
PULL_OVERLAP = timedelta(minutes=5)  # ask for changes since a little before the last pull: clocks and commits lag
T = TypeVar("T")


# --- what every handler shares ---------------------------------------------------------------------------------


@dataclass
class Batch:
    """The tasks of one handler call by record id, those still needing work, and the outcomes so far."""

    all_tasks: dict[uuid.UUID, Task]  # record id -> task
    tasks: dict[uuid.UUID, Task]  # record id -> task still open
    outcomes: dict[uuid.UUID, Outcome] = field(default_factory=dict)  # task id -> outcome
    claimed_keys: frozenset[str] = frozenset()  # every task of this call, superseded ones included

    @classmethod
    def of(cls, tasks: Sequence[Task]) -> Batch:
        """The batch by record. Two tasks of one record (a change made while an earlier task waited for a retry)
        are done by the newer one; the older is done at once."""
        by_record: dict[uuid.UUID, Task] = {}
        superseded: dict[uuid.UUID, Outcome] = {}
        for task in sorted(tasks, key=lambda t: int(t.payload["revision"])):
            record_id = uuid.UUID(task.payload["record_id"])
            if record_id in by_record:
                superseded[by_record[record_id].id] = Done()
            by_record[record_id] = task
        return cls(by_record, dict(by_record), superseded, frozenset(task.key for task in tasks))

    def finish(self, record_id: uuid.UUID, outcome: Outcome) -> None:
        task = self.tasks.pop(record_id, None)
        if task is not None:
            self.outcomes[task.id] = outcome

    def outcomes_by_record(self) -> dict[uuid.UUID, Outcome]:
        return {rid: self.outcomes[task.id] for rid, task in self.all_tasks.items() if task.id in self.outcomes}

    def revision(self, record_id: uuid.UUID) -> str:
        return self.all_tasks[record_id].payload["revision"]


def connection_of(task: Task) -> uuid.UUID:
    if task.group is None or not task.group.startswith("accounting:"):
        raise ValueError(f"task {task.key} is not in a connection's group")
    return uuid.UUID(task.group.removeprefix("accounting:"))


def idempotency_key(action: str, parts: Iterable[object]) -> str:
    """A key derived from our ids and revisions: the same batch sent again gets the same key (≤ 128 chars)."""
    digest = hashlib.sha256("|".join(sorted(str(part) for part in parts)).encode()).hexdigest()
    return f"flexbill:{action}:{digest[:48]}"


class Remote:
    """A connector session for one batch: refreshes the token once when it is refused, and turns the accounting
    system's refusals of the whole connection into group-level signals for the worker."""

    def __init__(self, ctx: Context, connection_id: uuid.UUID) -> None:
        self.ctx = ctx
        self.connection_id = connection_id
        with ctx.readers() as db:
            self.provider = get_connection(db, connection_id).provider
        self.connector = get_connector(self.provider)
        self.session = self._open(force_refresh=False)

    def _open(self, *, force_refresh: bool) -> ConnectorSession:
        try:
            target = session_target(self.ctx, self.connection_id, force_refresh=force_refresh)
        except ReconnectNeeded as error:
            raise PauseGroup(error.message) from error
        return self.connector.open_session(target, http_client())

    def call(self, action: Callable[[ConnectorSession], T]) -> T:
        try:
            return action(self.session)
        except AuthExpired:
            self.session = self._open(force_refresh=True)
        try:
            return action(self.session)
        except AuthExpired as error:
            raise PauseGroup(f"{self.provider} refuses the connection's token: {error.message}") from error


def _log(
    db: Session,
    kind: RecordKind,
    record_id: uuid.UUID,
    connection_id: uuid.UUID,
    now: datetime,
    action: str,
    result: str,
    detail: str = "",
) -> None:
    db.add(
        SyncLogRow(
            kind=kind.value,
            record_id=record_id,
            connection_id=connection_id,
            at=now,
            action=action,
            result=result,
            detail=detail[:4000],
        )
    )


def _records(db: Session, kind: RecordKind, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, SyncRecordRow]:
    ids = list(ids)
    if not ids:
        return {}
    rows = db.scalars(select(SyncRecordRow).where(SyncRecordRow.kind == kind.value, SyncRecordRow.record_id.in_(ids)))
    return {row.record_id: row for row in rows}


def _live_tasks(db: Session, kind: RecordKind, batch: Batch, now: datetime) -> dict[uuid.UUID, SyncRecordRow]:
    """Drop the tasks that have nothing left to do: a newer revision has its own task, or this one is confirmed.
    A record another worker is sending right now (an older revision's task under a live lease) waits for it:
    looking it up meanwhile could miss a create still in flight, and send it twice."""
    records = _records(db, kind, batch.all_tasks)
    for record_id, task in batch.all_tasks.items():
        record = records.get(record_id)
        revision = int(task.payload["revision"])
        if record is None or revision < record.revision or record.synced_revision >= revision:
            batch.finish(record_id, Done())
    older = {
        task_key(kind, record_id, earlier): record_id
        for record_id, task in batch.tasks.items()
        for earlier in range(1, int(task.payload["revision"]))
        if task_key(kind, record_id, earlier) not in batch.claimed_keys  # superseded in this very call
    }
    if older:
        busy = db.scalars(
            select(TaskRow.key).where(
                TaskRow.key.in_(list(older)), TaskRow.status == RUNNING, TaskRow.lease_expires_at > now
            )
        )
        for key in busy:
            batch.finish(older[key], RetryLater(timedelta(seconds=30), "another worker is sending it right now"))
    return {record_id: records[record_id] for record_id in batch.tasks}


def _mark_uncertain(ctx: Context, kind: RecordKind, record_ids: Iterable[uuid.UUID]) -> None:
    """Committed before a create is sent: should the answer never come, the next attempt looks first."""
    ids = list(record_ids)
    if not ids:
        return
    with ctx.sessions() as db, db.begin():
        for record in _records(db, kind, ids).values():
            record.uncertain = True


def _fail_batch(batch: Batch, error: ConnectorError, retry_after: timedelta) -> None:
    """A call for the whole batch failed: refused outright (no retry) or not clearly (retry later)."""
    outcome: Outcome = (
        Failed(error.message)
        if isinstance(error, Rejected)
        else RetryLater(retry_after, f"{type(error).__name__}: {error.message}")
    )
    for record_id in list(batch.tasks):
        batch.finish(record_id, outcome)


@contextmanager
def _guarded(batch: Batch, tasks: Sequence[Task]) -> Iterator[None]:
    """A failure of a call made for the whole batch: a rate limit delays the connection's group (no attempt
    counted); a refusal fails the records still open, an unclear failure retries them with backoff."""
    try:
        yield
    except RateLimited as error:
        raise DelayGroup(error.retry_after, error.message) from error
    except ConnectorError as error:
        _fail_batch(batch, error, _backoff(tasks))


def _record_failures(ctx: Context, kind: RecordKind, connection_id: uuid.UUID, batch: Batch) -> None:
    """Show the refused records as ``failed`` with the accounting system's words, and log every outcome."""
    with ctx.sessions() as db, db.begin():
        records = _records(db, kind, list(batch.outcomes_by_record()))
        for record_id, outcome in batch.outcomes_by_record().items():
            record = records.get(record_id)
            if record is None:
                continue
            if isinstance(outcome, Failed):
                # ``uncertain`` stays as it is: a record that may exist remotely is looked up before any re-send,
                # whatever failed afterwards.
                record.status = SyncStatus.FAILED
                record.error = outcome.error
                _log(db, kind, record_id, connection_id, ctx.clock.now(), "send", "failed", outcome.error)
                events.publish_sync_failed(db, ctx.clock, kind.value, record_id)
            elif isinstance(outcome, RetryLater) and batch.all_tasks[record_id].attempts >= MAX_ATTEMPTS:
                # The worker gives the task up now: say so on the record. It stays uncertain if it was, so a retry
                # the operator asks for looks it up before sending it again.
                record.status = SyncStatus.FAILED
                record.error = f"gave up after {MAX_ATTEMPTS} attempts: {outcome.error}"
                _log(db, kind, record_id, connection_id, ctx.clock.now(), "send", "failed", record.error)
                events.publish_sync_failed(db, ctx.clock, kind.value, record_id)
            elif isinstance(outcome, RetryLater):
                record.error = outcome.error
                _log(db, kind, record_id, connection_id, ctx.clock.now(), "send", "retry", outcome.error)


# --- contacts --------------------------------------------------------------------------------------------------


def contact_of(customer: CustomerRow, external_id: str | None, currency: str | None = None) -> ContactData:
    return ContactData(
        our_id=customer.id,
        name=customer.name,
        email=customer.email,
        tax_number=customer.tax_number,
        address=Address(
            customer.address_line1,
            customer.address_line2,
            customer.city,
            customer.region,
            customer.postal_code,
            customer.country,
        ),
        external_id=external_id,
        currency=currency,
    )


def ensure_contacts(
    ctx: Context, remote: Remote, connection_id: uuid.UUID, currencies: Mapping[uuid.UUID, str]
) -> dict[uuid.UUID, str | Refused]:
    """The remote contact of each customer in this organisation: known, found there by our id, or created.

    A customer not yet known here is always looked up first (one call for the batch): the organisation may hold
    it already (a restored database, a reconnected organisation, an answer lost). Those not found are created in
    one call; one whose name another contact already has (Xero wants names unique) is created again with our
    short reference added to its name, so it is never mistaken for, nor merged into, someone else. ``currencies``
    holds each customer's currency of the documents being sent (a new contact is made in it)."""
    customer_ids = list(currencies)
    result: dict[uuid.UUID, str | Refused] = {}
    with ctx.readers() as db:
        records = _customer_records(db, connection_id, customer_ids)
        customers = {row.id: row for row in db.scalars(select(CustomerRow).where(CustomerRow.id.in_(customer_ids)))}
    result.update({cid: record.external_id for cid, record in records.items() if record.external_id})
    wanted = {cid: customers[cid] for cid in customer_ids if cid not in result}
    if not wanted:
        return result
    looked_for = [contact_of(row, None, currencies[cid]) for cid, row in wanted.items()]
    # A contact an earlier attempt renamed (its name was taken) carries the unique name: look for both.
    looked_for += [replace(c, name=unique_name(c.name, c.our_id)) for c in looked_for]
    found = remote.call(lambda s: s.find_contacts(looked_for))
    to_create = [contact_of(row, None, currencies[cid]) for cid, row in wanted.items() if cid not in found]
    revisions = {cid: record.revision for cid, record in records.items()}
    pushed = push_contacts(remote, to_create, "contacts", revisions) if to_create else {}
    now = ctx.clock.now()
    with ctx.sessions() as db, db.begin():
        records = _customer_records(db, connection_id, wanted)
        for cid in wanted:
            if cid not in records:
                records[cid] = SyncRecordRow(
                    kind=RecordKind.CUSTOMER.value, record_id=cid, connection_id=connection_id, revision=1,
                    synced_revision=0, status=SyncStatus.PENDING, uncertain=False,
                )  # fmt: skip
                db.add(records[cid])
        for cid, external_id in found.items():
            _confirm(records[cid], external_id, None, now)
            result[cid] = external_id
            _log(db, RecordKind.CUSTOMER, cid, connection_id, now, "find", "ok", f"found {external_id}")
        for cid, item in pushed.items():
            record = records[cid]
            if isinstance(item, Pushed):
                _confirm(record, item.external_id, None, now)
                result[cid] = item.external_id
                _log(db, RecordKind.CUSTOMER, cid, connection_id, now, "create", "ok", item.external_id)
            else:
                record.status, record.error, record.uncertain = SyncStatus.FAILED, "; ".join(item.errors), False
                result[cid] = item
                _log(db, RecordKind.CUSTOMER, cid, connection_id, now, "create", "failed", record.error)
    return result


def push_contacts(
    remote: Remote, contacts: Sequence[ContactData], action: str, revisions: Mapping[uuid.UUID, int]
) -> dict[uuid.UUID, PushResult]:
    """Create or update contacts in one call; those refused because another contact has their name (Xero wants
    names unique) are sent once more with our short reference added to the name. The key carries each
    customer's revision: an accounting system that answers a key it has seen with its first answer (QuickBooks)
    would otherwise answer a later change, or a create sent again after the customer was corrected, with the
    first one's."""

    def key_of(sent_action: str, sent: Sequence[ContactData]) -> str:
        return idempotency_key(sent_action, (f"{c.our_id}:{revisions.get(c.our_id, 0)}" for c in sent))

    key = key_of(action, contacts)
    pushed = {item.our_id: item for item in remote.call(lambda s: s.push_contacts(contacts, key))}
    clashes = [
        replace(contact, name=unique_name(contact.name, contact.our_id))
        for contact in contacts
        if isinstance(item := pushed.get(contact.our_id), Refused) and item.conflict
    ]
    if clashes:
        key = key_of(f"{action}-renamed", clashes)
        pushed.update({item.our_id: item for item in remote.call(lambda s: s.push_contacts(clashes, key))})
    return pushed


def unique_name(name: str, customer_id: uuid.UUID) -> str:
    """A contact name made unique by the customer's short reference (the random end of its id).

    >>> unique_name("Acme Ltd", uuid.UUID("01a218d9-4595-704a-b677-d94df1b9746b"))
    'Acme Ltd (1b9746b)'
    """
    return f"{name[:240]} ({customer_id.hex[-7:]})"


def _customer_records(
    db: Session, connection_id: uuid.UUID, customer_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, SyncRecordRow]:
    rows = db.scalars(
        select(SyncRecordRow).where(
            SyncRecordRow.kind == RecordKind.CUSTOMER.value,
            SyncRecordRow.connection_id == connection_id,
            SyncRecordRow.record_id.in_(list(customer_ids)),
        )
    )
    return {row.record_id: row for row in rows}


def _only_up_to(record: SyncRecordRow, revision: int) -> None:
    """A change made here while an older revision was being sent has its own task: confirm only what was sent,
    and leave the record pending for the rest."""
    if revision < record.revision:
        record.synced_revision = min(record.synced_revision, revision)
        record.status = SyncStatus.PENDING


def _confirm(record: SyncRecordRow, external_id: str, number: str | None, now: datetime) -> None:
    record.external_id = external_id
    if number is not None:
        record.external_number = number
    record.status = SyncStatus.SYNCED
    record.synced_revision = record.revision
    record.synced_at = now
    record.error = None
    record.uncertain = False


# --- invoices --------------------------------------------------------------------------------------------------


def document_lines(
    invoice_lines: Iterable[tuple[str, Decimal, Decimal, Decimal, Decimal, Decimal, Decimal, str, str]],
    mappings: Mapping[str, object],
    tracking: tuple[TrackingChoice, ...],
    prices_include_tax: bool,
) -> tuple[tuple[LineData, ...], list[str]]:
    """Our lines in the organisation's codes, and what is not mapped (which stops the document being sent)."""
    accounts: Mapping[str, str] = mappings.get("accounts") or {}  # type: ignore[assignment]
    tax_rates: Mapping[str, str] = mappings.get("tax_rates") or {}  # type: ignore[assignment]
    lines: list[LineData] = []
    missing: list[str] = []
    for description, quantity, unit_price, discount, net, tax, gross, account_code, tax_code in invoice_lines:
        if account_code not in accounts:
            missing.append(f"revenue account {account_code}")
        if tax_code not in tax_rates:
            missing.append(f"tax rate {tax_code}")
        lines.append(
            LineData(
                description=description,
                quantity=quantity,
                unit_price=unit_price,
                discount_amount=discount,
                line_amount=gross if prices_include_tax else net,
                tax_amount=tax,
                account_code=accounts.get(account_code, ""),
                tax_type=tax_rates.get(tax_code, ""),
                tracking=tracking,
            )
        )
    return tuple(lines), sorted(set(missing))


def _tracking_for(mappings: Mapping[str, object], location_code: str) -> tuple[TrackingChoice, ...]:
    tracking: Mapping[str, Mapping[str, str]] = mappings.get("tracking") or {}  # type: ignore[assignment]
    choice = tracking.get(location_code)
    return (TrackingChoice(choice["category"], choice["option"]),) if choice else ()


def sync_invoices(ctx: Context, tasks: Sequence[Task]) -> dict[uuid.UUID, Outcome]:
    connection_id = connection_of(tasks[0])
    batch = Batch.of(tasks)
    with ctx.readers() as db:
        records = _live_tasks(db, RecordKind.INVOICE, batch, ctx.clock.now())
        if not batch.tasks:
            return batch.outcomes
        connection = get_connection(db, connection_id)
        mappings = dict(connection.mappings)
        numbering = Numbering(connection.numbering)
        rules = get_billing_rules(db)
        invoices = {row.id: row for row in db.scalars(select(InvoiceRow).where(InvoiceRow.id.in_(batch.tasks)))}
        location_codes = dict(db.execute(select(LocationRow.id, LocationRow.code)).all())
        state = {
            invoice_id: (record.external_id, record.uncertain, record.remote_status)
            for invoice_id, record in records.items()
        }
        details = {
            invoice.id: _invoice_snapshot(invoice, mappings, location_codes[invoice.location_id], numbering)
            for invoice in invoices.values()
        }
    remote = Remote(ctx, connection_id)
    with _guarded(batch, tasks):
        _send_invoices(ctx, remote, connection_id, batch, invoices, state, details, rules.auto_send)
    _record_failures(ctx, RecordKind.INVOICE, connection_id, batch)
    return batch.outcomes


@dataclass(frozen=True, slots=True)
class _InvoiceSnapshot:
    customer_id: uuid.UUID
    status: str
    document: DocumentData | None  # None when a mapping is missing
    missing: list[str]


def _invoice_snapshot(
    invoice: InvoiceRow, mappings: Mapping[str, object], location_code: str, numbering: Numbering
) -> _InvoiceSnapshot:
    lines, missing = document_lines(
        (
            (
                line.description, line.quantity, line.unit_price, line.discount_amount, line.net_amount,
                line.tax_amount, line.gross_amount, line.account_code, line.tax_rate_code,
            )
            for line in invoice.lines
        ),
        mappings,
        _tracking_for(mappings, location_code),
        invoice.prices_include_tax,
    )  # fmt: skip
    if invoice.currency not in (mappings.get("currencies") or []):  # type: ignore[operator]
        missing.append(f"currency {invoice.currency}")
    document = None
    if not missing:
        document = DocumentData(
            our_id=invoice.id,
            # The books number it when they own numbering, but a number it was issued with (given by the books
            # before it was deleted there, or by us before the location left numbering to them) is kept.
            number=invoice.number if numbering is Numbering.FLEXBILL or invoice.number is not None else None,
            contact_external_id="",
            date=invoice.issue_date,
            due_date=invoice.due_date,
            currency=invoice.currency,
            prices_include_tax=invoice.prices_include_tax,
            lines=lines,
            subtotal=invoice.subtotal,
            tax_total=invoice.tax_total,
            total=invoice.total,
            draft=invoice.status == InvoiceStatus.DRAFT,
            # What the member sees as the reference: the period billed (the connector adds our id to find it again).
            reference=billed_span(invoice),
        )
    return _InvoiceSnapshot(invoice.customer_id, invoice.status, document, missing)


def billed_span(invoice: InvoiceRow) -> str:
    """The span of the periods an invoice bills, as its lines print them ("1 Dec 2026 - 31 Jan 2027"); empty
    when it bills only one-off fees."""
    periods = [
        (line.period_start, line.period_end_exclusive)
        for line in invoice.lines
        if line.period_start is not None and line.period_end_exclusive is not None
    ]
    if not periods:
        return ""
    return human_period(Period(min(start for start, _ in periods), max(end for _, end in periods)))


def _invoice_lookups(
    ctx: Context,
    connection_id: uuid.UUID,
    invoices: Sequence[InvoiceRow],
    details: Mapping[uuid.UUID, _InvoiceSnapshot],
) -> list[DocumentLookup]:
    """What we know of invoices that may have reached the books, to find them there by our id: their customers'
    records are read in one query."""
    with ctx.readers() as db:
        contacts = _customer_records(db, connection_id, {invoice.customer_id for invoice in invoices})
    lookups = []
    for invoice in invoices:
        contact = contacts.get(invoice.customer_id)
        document = details[invoice.id].document
        number = document.number if document is not None else None
        lookups.append(DocumentLookup(invoice.id, contact.external_id if contact else None, invoice.issue_date, number))
    return lookups


def _send_invoices(
    ctx: Context,
    remote: Remote,
    connection_id: uuid.UUID,
    batch: Batch,
    invoices: Mapping[uuid.UUID, InvoiceRow],
    state: Mapping[uuid.UUID, tuple[str | None, bool, str | None]],
    details: Mapping[uuid.UUID, _InvoiceSnapshot],
    auto_send: bool,
) -> None:
    # Voids first: an invoice voided here whose remote twin exists is voided there; one never sent needs nothing.
    for invoice_id in list(batch.tasks):
        external_id, uncertain, _ = state[invoice_id]
        if details[invoice_id].status != InvoiceStatus.VOIDED:
            continue
        if external_id is None and uncertain:
            lookups = _invoice_lookups(ctx, connection_id, [invoices[invoice_id]], details)
            found = remote.call(lambda s, k=lookups: s.find_invoices(k))  # type: ignore[misc]
            external_id = found[invoice_id].external_id if invoice_id in found else None
        if external_id is None:
            _store(ctx, connection_id, invoice_id, "void", _never_sent, batch.revision(invoice_id))
            batch.finish(invoice_id, Done())
            continue
        key = idempotency_key("void", [invoice_id, batch.revision(invoice_id)])
        try:
            voided = remote.call(lambda s, e=external_id, k=key: s.void_invoice(e, k))  # type: ignore[misc]
        except RemoteNotFound as error:
            # Deleted there, nothing is left to void and the books agree; but only if a read confirms it (a
            # "not found" may come from an address or a hiccup rather than the books).
            if remote.call(lambda s, e=external_id: s.get_invoices([e])):  # type: ignore[misc]
                batch.finish(invoice_id, RetryLater(timedelta(minutes=1), f"{remote.provider}: {error.message}"))
                continue
            _store(ctx, connection_id, invoice_id, "void", _gone_and_void(remote.provider), batch.revision(invoice_id))
            batch.finish(invoice_id, Done())
            continue
        except Rejected as error:
            batch.finish(invoice_id, Failed(f"could not void it in {remote.provider}: {error.message}"))
            continue
        _store(ctx, connection_id, invoice_id, "void", _remote_state(voided, ""), batch.revision(invoice_id))
        batch.finish(invoice_id, Done())

    # Drafts go as drafts only to books that have them; the others (QuickBooks) get the invoice once it is issued.
    if "drafts" not in remote.connector.capabilities:
        for invoice_id in [i for i in batch.tasks if details[i].status == InvoiceStatus.DRAFT]:
            _store(ctx, connection_id, invoice_id, "hold", _held_as_draft(remote.provider), batch.revision(invoice_id))
            batch.finish(invoice_id, Done())

    # Mapping gaps (the mapping changed since the invoice was issued): refused here, before anything is sent.
    for invoice_id in list(batch.tasks):
        if details[invoice_id].document is None:
            batch.finish(invoice_id, Failed("not mapped in the connection: " + ", ".join(details[invoice_id].missing)))

    # Look before creating again after an unclear failure.
    uncertain_ids = [i for i in batch.tasks if state[i][0] is None and state[i][1]]
    adopted: dict[uuid.UUID, RemoteDocument] = {}
    if uncertain_ids:
        lookups = _invoice_lookups(ctx, connection_id, [invoices[i] for i in uncertain_ids], details)
        adopted = remote.call(lambda s: s.find_invoices(lookups))
    for invoice_id, found in adopted.items():
        _store(
            ctx,
            connection_id,
            invoice_id,
            "find",
            _remote_state(found, "already there, adopted: "),
            batch.revision(invoice_id),
        )
        batch.finish(invoice_id, Done())
        _after_synced(ctx, connection_id, invoice_id, found.external_id, details[invoice_id].status, auto_send)
    apply_remote_documents(ctx, connection_id, list(adopted.values()))  # paid there while we did not know it

    # Already in the books and final there: nothing to change (issued documents do not change), only read back
    # where they stand. Only a draft sent as a draft is updated, when it is issued here.
    settled = [i for i in batch.tasks if state[i][0] is not None and state[i][2] != "DRAFT"]
    if settled:
        external = {state[i][0]: i for i in settled}
        held_documents = remote.call(lambda s: s.get_invoices([e for e in external if e]))
        for held in held_documents:
            invoice_id = external[held.external_id]
            voided_there = held.voided and details[invoice_id].status != InvoiceStatus.VOIDED
            change = _voided_there(held, remote.provider) if voided_there else _remote_state(held, "already there: ")
            _store(ctx, connection_id, invoice_id, "find", change, batch.revision(invoice_id))
            batch.finish(invoice_id, Done())
        apply_remote_documents(ctx, connection_id, held_documents)
        for invoice_id in [i for i in settled if i in batch.tasks]:  # those it did not return: deleted there
            _store(ctx, connection_id, invoice_id, "find", _deleted_there(remote.provider), batch.revision(invoice_id))
            batch.finish(invoice_id, Failed(deleted_there_message(remote.provider)))

    # Contacts, then the invoices in one call.
    to_send = list(batch.tasks)
    if not to_send:
        return
    contacts = ensure_contacts(
        ctx, remote, connection_id, {details[i].customer_id: invoices[i].currency for i in to_send}
    )
    documents: list[DocumentData] = []
    for invoice_id in to_send:
        contact = contacts.get(details[invoice_id].customer_id)
        if not isinstance(contact, str):
            reason = "; ".join(contact.errors) if isinstance(contact, Refused) else "the contact could not be sent"
            batch.finish(invoice_id, Failed(f"contact refused: {reason}"))
            continue
        document = details[invoice_id].document
        assert document is not None
        documents.append(replace(document, contact_external_id=contact, external_id=state[invoice_id][0]))
    if not documents:
        return
    _mark_uncertain(ctx, RecordKind.INVOICE, [d.our_id for d in documents if d.external_id is None])
    key = idempotency_key("invoices", (f"{d.our_id}:{batch.revision(d.our_id)}" for d in documents))
    results = remote.call(lambda s: s.push_invoices(documents, key))
    for item in results:
        if item.our_id not in batch.tasks:
            continue
        if isinstance(item, Refused):
            sent = next(d for d in documents if d.our_id == item.our_id)
            lookup = DocumentLookup(sent.our_id, sent.contact_external_id, sent.date, sent.number)
            clash = remote.call(lambda s, k=lookup: s.find_invoices([k])) if item.conflict else {}  # type: ignore[misc]
            if item.our_id in clash:  # ours after all: an earlier attempt's answer was lost
                _store(
                    ctx,
                    connection_id,
                    item.our_id,
                    "find",
                    _remote_state(clash[item.our_id], "adopted: "),
                    batch.revision(item.our_id),
                )
                batch.finish(item.our_id, Done())
            else:
                batch.finish(item.our_id, Failed("; ".join(item.errors)))
            continue
        ours = invoices[item.our_id]
        problem = None
        if item.total is not None and item.total != ours.total:
            problem = (
                f"{remote.provider} computed a total of {item.total} where flexbill has {ours.total}: "
                "check the tax rate mapping"
            )
        sent_as = "DRAFT" if details[item.our_id].status == InvoiceStatus.DRAFT else "AUTHORISED"
        _store(ctx, connection_id, item.our_id, "create", _pushed(item, problem, sent_as), batch.revision(item.our_id))
        batch.finish(item.our_id, Failed(problem) if problem else Done())
        if problem is None:
            _after_synced(ctx, connection_id, item.our_id, item.external_id, details[item.our_id].status, auto_send)
    for invoice_id in list(batch.tasks):  # the connector answered nothing for these: not clear, so retry
        batch.finish(invoice_id, RetryLater(timedelta(minutes=1), f"{remote.provider} gave no result for it"))


Change = Callable[[SyncRecordRow, datetime], tuple[str | None, str]]


def _store(
    ctx: Context, connection_id: uuid.UUID, invoice_id: uuid.UUID, action: str, change: Change, revision: str
) -> None:
    """Apply a confirmed result to the invoice's sync record in its own transaction, and log it. A number the
    accounting system gave becomes the invoice's number when the location leaves numbering to it. Only the
    ``revision`` that was sent is confirmed: a change made meanwhile keeps the record pending for its own task."""
    now = ctx.clock.now()
    with ctx.sessions() as db, db.begin():
        record = _records(db, RecordKind.INVOICE, [invoice_id])[invoice_id]
        number, message = change(record, now)
        _only_up_to(record, int(revision))
        if number and get_connection(db, connection_id).numbering == Numbering.ACCOUNTING:
            invoice = db.get(InvoiceRow, invoice_id, with_for_update=True)
            if invoice is not None and invoice.number is None and invoice.status != InvoiceStatus.DRAFT:
                invoice.number = number
                events.publish(db, ctx.clock, EventType.INVOICE_UPDATED, invoice)
        result = "failed" if record.status == SyncStatus.FAILED else "ok"
        _log(db, RecordKind.INVOICE, invoice_id, connection_id, now, action, result, message)


def _never_sent(record: SyncRecordRow, _now: datetime) -> tuple[str | None, str]:
    record.status = SyncStatus.NOT_SYNCED
    record.synced_revision = record.revision
    record.uncertain = False
    return None, "voided before it was sent: nothing to void remotely"


def _remote_state(document: RemoteDocument, note: str) -> Change:
    def change(record: SyncRecordRow, now: datetime) -> tuple[str | None, str]:
        _confirm(record, document.external_id, document.number, now)
        record.remote_status = document.status
        return document.number, f"{note}{document.status} {document.number or document.external_id}"

    return change


def _voided_there(document: RemoteDocument, provider: str) -> Change:
    def change(record: SyncRecordRow, now: datetime) -> tuple[str | None, str]:
        record.status, record.remote_status = SyncStatus.OUT_OF_DATE, document.status
        record.synced_revision = record.revision
        record.error = voided_there_message(provider)
        return None, record.error

    return change


def _held_as_draft(provider: str) -> Change:
    def change(record: SyncRecordRow, now: datetime) -> tuple[str | None, str]:
        _never_sent(record, now)
        return None, f"{provider} has no draft invoices: it is sent when it is issued"

    return change


def _deleted_there(provider: str) -> Change:
    """The books no longer have the invoice: forget its remote id, so that syncing it again (a new revision, so a
    new idempotency key) sends it anew, with the number it was issued with. It is marked uncertain, so that the
    new send first looks it up by our id, in case it was only missing from one answer."""

    def change(record: SyncRecordRow, _now: datetime) -> tuple[str | None, str]:
        record.external_id, record.remote_status, record.uncertain = None, None, True
        return None, deleted_there_message(provider)

    return change


def deleted_there_message(provider: str) -> str:
    return f"{provider} no longer has it (deleted there): sync it again to send it anew, or void it here"


def _gone_and_void(provider: str) -> Change:
    def change(record: SyncRecordRow, now: datetime) -> tuple[str | None, str]:
        record.external_id, record.remote_status = None, None
        _never_sent(record, now)
        return None, f"deleted in {provider}, voided here: nothing is left to void there"

    return change


def voided_there_message(provider: str) -> str:
    return f"voided in {provider} but not here: void it here too, or re-issue it there"


def _pushed(item: Pushed, problem: str | None, remote_status: str) -> Change:
    def change(record: SyncRecordRow, now: datetime) -> tuple[str | None, str]:
        _confirm(record, item.external_id, item.number, now)
        record.remote_status = remote_status  # as sent: a draft stays a draft there until it is issued here
        if problem:
            record.status, record.error = SyncStatus.FAILED, problem
        return item.number, problem or f"{item.number or ''} {item.external_id}".strip()

    return change


def _after_synced(
    ctx: Context, connection_id: uuid.UUID, invoice_id: uuid.UUID, external_id: str, status: str, auto_send: bool
) -> None:
    """Once an invoice is in the books: its payments and credit notes that waited for it go now, and, when it is
    issued and will be emailed, the accounting system's PDF of it is fetched."""
    _release_waiting(ctx, invoice_id)
    if not auto_send or status in (InvoiceStatus.DRAFT, InvoiceStatus.VOIDED):
        return
    with ctx.sessions() as db, db.begin():
        enqueue(
            db,
            PDF_TASK,
            f"accounting:pdf:{invoice_id}:{external_id}",
            group=outbox.group_of(connection_id),
            payload={"invoice_id": str(invoice_id), "external_id": external_id},
            run_at=ctx.clock.now(),
        )


def _release_waiting(ctx: Context, invoice_id: uuid.UUID) -> None:
    """Payments and credit notes of an invoice that are not in the books yet get a fresh task now that their
    invoice is there: they may have waited long enough for their own tasks to give up."""
    with ctx.sessions() as db, db.begin():
        invoice = db.get(InvoiceRow, invoice_id)
        if invoice is None:
            return
        for kind, model in ((RecordKind.PAYMENT, PaymentRow), (RecordKind.CREDIT_NOTE, CreditNoteRow)):
            waiting = db.scalars(
                select(SyncRecordRow.record_id).where(
                    SyncRecordRow.kind == kind.value,
                    SyncRecordRow.record_id.in_(select(model.id).where(model.invoice_id == invoice_id)),
                    SyncRecordRow.status.in_([SyncStatus.PENDING, SyncStatus.FAILED]),
                )
            ).all()
            if waiting:
                records = [(record_id, invoice.location_id) for record_id in waiting]
                outbox.records_changed(db, kind, records, ctx.clock.now(), requested=True)


def _backoff(tasks: Sequence[Task]) -> timedelta:
    attempts = max(task.attempts for task in tasks)
    return timedelta(seconds=min(3600, 10 * 2 ** min(attempts, 9)))


# --- PDFs ------------------------------------------------------------------------------------------------------

PDF_TASK = "accounting.pdf"


def fetch_pdfs(ctx: Context, tasks: Sequence[Task]) -> dict[uuid.UUID, Outcome]:
    connection_id = connection_of(tasks[0])
    remote = Remote(ctx, connection_id)
    outcomes: dict[uuid.UUID, Outcome] = {}
    for task in tasks:
        invoice_id, external_id = uuid.UUID(task.payload["invoice_id"]), task.payload["external_id"]
        try:
            content = remote.call(lambda s, e=external_id: s.invoice_pdf(e))  # type: ignore[misc]
        except RateLimited as error:
            if not outcomes:
                raise DelayGroup(error.retry_after, error.message) from error
            outcomes[task.id] = RetryLater(timedelta(seconds=error.retry_after), error.message)
            continue
        except (Rejected, RemoteNotFound) as error:
            outcomes[task.id] = Failed(f"{remote.provider} would not give its PDF: {error.message}")
            continue
        except ConnectorError as error:
            outcomes[task.id] = RetryLater(_backoff([task]), error.message)
            continue
        if not content.startswith(b"%PDF"):
            outcomes[task.id] = RetryLater(_backoff([task]), f"{remote.provider} answered something that is not a PDF")
            continue
        with ctx.sessions() as db, db.begin():
            row = db.get(AccountingDocumentRow, invoice_id)
            if row is None:
                row = AccountingDocumentRow(invoice_id=invoice_id)
                db.add(row)
            row.external_id, row.content, row.fetched_at = external_id, content, ctx.clock.now()
            _log(
                db, RecordKind.INVOICE, invoice_id, connection_id, ctx.clock.now(), "pdf", "ok", f"{len(content)} bytes"
            )
            notify.accounting_pdf_arrived(db, ctx.clock.now(), invoice_id)
        outcomes[task.id] = Done()
    _email_without_pdf(ctx, tasks, outcomes)
    return outcomes


def _email_without_pdf(ctx: Context, tasks: Sequence[Task], outcomes: Mapping[uuid.UUID, Outcome]) -> None:
    """The PDFs given up on (refused, or their last attempt failed): their invoices' emails go with flexbill's
    own PDF rather than never."""
    given_up = [
        (uuid.UUID(task.payload["invoice_id"]), outcome.error)
        for task in tasks
        if isinstance(outcome := outcomes.get(task.id), Failed)
        or (isinstance(outcome, RetryLater) and task.attempts >= MAX_ATTEMPTS)
    ]
    if given_up:
        with ctx.sessions() as db, db.begin():
            for invoice_id, error in given_up:
                notify.accounting_pdf_given_up(db, ctx.clock.now(), invoice_id, error)


# --- payments --------------------------------------------------------------------------------------------------


def sync_payments(ctx: Context, tasks: Sequence[Task]) -> dict[uuid.UUID, Outcome]:
    """Payments taken here, recorded against their invoices in the books (to the mapped payment account)."""
    connection_id = connection_of(tasks[0])
    batch = Batch.of(tasks)
    with ctx.readers() as db:
        records = _live_tasks(db, RecordKind.PAYMENT, batch, ctx.clock.now())
        if not batch.tasks:
            return batch.outcomes
        payment_account = get_connection(db, connection_id).mappings.get("payment_account")
        payments = {row.id: row for row in db.scalars(select(PaymentRow).where(PaymentRow.id.in_(batch.tasks)))}
        invoice_records = _records(db, RecordKind.INVOICE, {p.invoice_id for p in payments.values()})
        waiting: list[tuple[uuid.UUID, Outcome]] = []
        ready: list[PaymentData] = []
        uncertain: dict[str, list[uuid.UUID]] = defaultdict(list)
        for payment_id, payment in payments.items():
            invoice_record = invoice_records.get(payment.invoice_id)
            if invoice_record is None or invoice_record.external_id is None:
                if invoice_record is not None and invoice_record.status == SyncStatus.FAILED:
                    waiting.append((payment_id, Failed(f"its invoice is not in the books: {invoice_record.error}")))
                else:
                    waiting.append((payment_id, RetryLater(WAIT_FOR_INVOICE, "waiting for its invoice to be sent")))
                continue
            if not payment_account:
                waiting.append((payment_id, Failed("no payment account is mapped in the connection")))
                continue
            if records[payment_id].uncertain:
                uncertain[invoice_record.external_id].append(payment_id)
            ready.append(
                PaymentData(
                    our_id=payment.id,
                    invoice_external_id=invoice_record.external_id,
                    date=payment.date,
                    amount=payment.amount,
                    account_code=str(payment_account),
                    reference=payment.reference or "",
                )
            )
    for payment_id, outcome in waiting:
        batch.finish(payment_id, outcome)
    remote = Remote(ctx, connection_id)
    now = ctx.clock.now()
    with _guarded(batch, tasks):
        for invoice_external_id, payment_ids in uncertain.items():
            listed = remote.call(lambda s, i=invoice_external_id: s.find_payments(i))  # type: ignore[misc]
            found = {our_id: external_id for our_id, external_id in listed if our_id in payment_ids}
            with ctx.sessions() as db, db.begin():
                for our_id, external_id in found.items():
                    found_record = _records(db, RecordKind.PAYMENT, [our_id])[our_id]
                    _confirm(found_record, external_id, None, now)
                    _only_up_to(found_record, int(batch.revision(our_id)))
                    _log(db, RecordKind.PAYMENT, our_id, connection_id, now, "find", "ok", external_id)
                    batch.finish(our_id, Done())
        ready = [p for p in ready if p.our_id in batch.tasks]
        if ready:
            _mark_uncertain(ctx, RecordKind.PAYMENT, [p.our_id for p in ready])
            key = idempotency_key("payments", (f"{p.our_id}:{batch.revision(p.our_id)}" for p in ready))
            results = remote.call(lambda s: s.push_payments(ready, key))
            with ctx.sessions() as db, db.begin():
                records = _records(db, RecordKind.PAYMENT, [item.our_id for item in results])
                for item in results:
                    if isinstance(item, Pushed) and item.our_id in records:
                        _confirm(records[item.our_id], item.external_id, None, now)
                        _only_up_to(records[item.our_id], int(batch.revision(item.our_id)))
                        _log(db, RecordKind.PAYMENT, item.our_id, connection_id, now, "create", "ok", item.external_id)
                        batch.finish(item.our_id, Done())
                    elif isinstance(item, Refused):
                        batch.finish(item.our_id, Failed("; ".join(item.errors)))
            for payment_id in list(batch.tasks):
                batch.finish(payment_id, RetryLater(timedelta(minutes=1), f"{remote.provider} gave no result for it"))
    _record_failures(ctx, RecordKind.PAYMENT, connection_id, batch)
    return batch.outcomes


# --- credit notes ----------------------------------------------------------------------------------------------


def sync_credit_notes(ctx: Context, tasks: Sequence[Task]) -> dict[uuid.UUID, Outcome]:
    """Credit notes, sent and allocated to their invoice. A note already sent is only allocated (again): the
    allocation is checked against the note's remaining credit so it is never applied twice."""
    connection_id = connection_of(tasks[0])
    batch = Batch.of(tasks)
    with ctx.readers() as db:
        records = _live_tasks(db, RecordKind.CREDIT_NOTE, batch, ctx.clock.now())
        if not batch.tasks:
            return batch.outcomes
        connection = get_connection(db, connection_id)
        mappings, numbering = dict(connection.mappings), Numbering(connection.numbering)
        notes = {row.id: row for row in db.scalars(select(CreditNoteRow).where(CreditNoteRow.id.in_(batch.tasks)))}
        invoices = {
            row.id: row
            for row in db.scalars(select(InvoiceRow).where(InvoiceRow.id.in_({n.invoice_id for n in notes.values()})))
        }
        invoice_records = _records(db, RecordKind.INVOICE, invoices)
        codes = dict(db.execute(select(LocationRow.id, LocationRow.code)).all())
        refunds = set(
            db.scalars(select(RefundRow.credit_note_id).where(RefundRow.credit_note_id.in_(list(notes))))
        )  # credit notes that record money paid back, not a reduction of what is owed
        plans: dict[uuid.UUID, tuple[DocumentData | None, str | None, str | None, bool, uuid.UUID]] = {}
        for note_id, note in notes.items():
            invoice = invoices[note.invoice_id]
            invoice_record = invoice_records.get(invoice.id)
            if invoice_record is None or invoice_record.external_id is None:
                outcome: Outcome = (
                    Failed(f"its invoice is not in the books: {invoice_record.error}")
                    if invoice_record is not None and invoice_record.status == SyncStatus.FAILED
                    else RetryLater(WAIT_FOR_INVOICE, "waiting for its invoice to be sent")
                )
                batch.finish(note_id, outcome)
                continue
            lines, missing = document_lines(
                (
                    (
                        line.description, Decimal(1),
                        line.gross_amount if invoice.prices_include_tax else line.net_amount, ZERO, line.net_amount,
                        line.tax_amount, line.gross_amount, line.account_code, line.tax_rate_code,
                    )
                    for line in note.lines
                ),
                mappings,
                _tracking_for(mappings, codes[note.location_id]),
                invoice.prices_include_tax,
            )  # fmt: skip
            document = None
            if missing:
                batch.finish(note_id, Failed("not mapped in the connection: " + ", ".join(missing)))
                continue
            document = DocumentData(
                our_id=note.id,
                number=note.number if numbering is Numbering.FLEXBILL else None,
                contact_external_id="",
                date=note.date,
                due_date=None,
                currency=note.currency,
                prices_include_tax=invoice.prices_include_tax,
                lines=lines,
                subtotal=note.subtotal,
                tax_total=note.tax_total,
                total=note.total,
                reference=note.reason,
            )
            record = records[note_id]
            plans[note_id] = (
                document,
                record.external_id,
                invoice_record.external_id,
                record.uncertain,
                note.customer_id,
            )
    if not batch.tasks:
        _record_failures(ctx, RecordKind.CREDIT_NOTE, connection_id, batch)
        return batch.outcomes
    remote = Remote(ctx, connection_id)
    now = ctx.clock.now()
    with _guarded(batch, tasks):
        currencies = {plan[4]: plan[0].currency for plan in plans.values() if plan[0] is not None}
        contacts = ensure_contacts(ctx, remote, connection_id, currencies)
        for note_id, (document, external_id, invoice_external_id, uncertain, customer_id) in plans.items():
            assert document is not None
            assert invoice_external_id is not None
            contact = contacts.get(customer_id)
            if not isinstance(contact, str):
                batch.finish(note_id, Failed("its contact could not be sent"))
                continue
            remaining: Decimal | None = None
            lookup = DocumentLookup(note_id, contact, document.date, document.number)
            if external_id is None and uncertain:
                found = remote.call(lambda s, k=lookup: s.find_credit_notes([k]))  # type: ignore[misc]
                if note_id in found:
                    external_id, remaining = found[note_id].external_id, found[note_id].amount_due
            if external_id is None:
                _mark_uncertain(ctx, RecordKind.CREDIT_NOTE, [note_id])
                key = idempotency_key("credit-note", [note_id, batch.revision(note_id)])
                sent = replace(document, contact_external_id=contact)
                [result] = remote.call(lambda s, d=sent, k=key: s.push_credit_notes([d], k))  # type: ignore[misc]
                if isinstance(result, Refused):
                    batch.finish(note_id, Failed("; ".join(result.errors)))
                    continue
                external_id, remaining = result.external_id, document.total
                with ctx.sessions() as db, db.begin():
                    record = _records(db, RecordKind.CREDIT_NOTE, [note_id])[note_id]
                    record.external_id, record.external_number = external_id, result.number
                    _log(db, RecordKind.CREDIT_NOTE, note_id, connection_id, now, "create", "ok", external_id)
            if remaining is None:
                found = remote.call(lambda s, k=lookup: s.find_credit_notes([k]))  # type: ignore[misc]
                remaining = found[note_id].amount_due if note_id in found else document.total
            if remaining > ZERO and note_id in refunds:
                # Money given back: the credit note is settled by a refund paid out of the payment account, and
                # the invoice, paid in full in the books, stays as it is.
                refund = PaymentData(
                    our_id=note_id,
                    invoice_external_id="",
                    date=document.date,
                    amount=remaining,
                    account_code=str(mappings.get("payment_account") or ""),
                    reference=document.reference or "Refund",
                    credit_note_external_id=external_id,
                )
                key = idempotency_key("refund", [note_id, batch.revision(note_id)])
                [paid_out] = remote.call(lambda s, p=refund, k=key: s.push_payments([p], k))  # type: ignore[misc]
                if isinstance(paid_out, Refused):
                    batch.finish(note_id, Failed("the refund could not be recorded: " + "; ".join(paid_out.errors)))
                    continue
            elif remaining > ZERO:
                allocation = AllocationData(external_id, invoice_external_id, remaining, document.date)
                key = idempotency_key("allocate", [note_id, batch.revision(note_id)])
                remote.call(lambda s, a=allocation, k=key: s.allocate_credit_note(a, k))  # type: ignore[misc]
            with ctx.sessions() as db, db.begin():
                record = _records(db, RecordKind.CREDIT_NOTE, [note_id])[note_id]
                _confirm(record, external_id, None, now)
                _only_up_to(record, int(batch.revision(note_id)))
                _log(db, RecordKind.CREDIT_NOTE, note_id, connection_id, now, "allocate", "ok", str(remaining))
            batch.finish(note_id, Done())
    _record_failures(ctx, RecordKind.CREDIT_NOTE, connection_id, batch)
    return batch.outcomes


# --- the way back: payments and voids made in the accounting system ---------------------------------------------

PULL_TASK = "accounting.pull"
REFRESH_TASK = "accounting.refresh"
POLL_TASK = "accounting.poll"


def pull_changes(ctx: Context, tasks: Sequence[Task]) -> dict[uuid.UUID, Outcome]:
    """Everything that changed in the books since the last pull (less an overlap): the backstop for lost
    webhooks and for changes made while flexbill was stopped."""
    connection_id = connection_of(tasks[0])
    with ctx.readers() as db:
        as_of = get_connection(db, connection_id).pulled_as_of
    remote = Remote(ctx, connection_id)
    since = as_of - PULL_OVERLAP if as_of is not None else None
    try:
        changes = remote.call(lambda s: s.invoices_changed_since(since))
    except RateLimited as error:
        raise DelayGroup(error.retry_after, error.message) from error
    except ConnectorError as error:
        return {task.id: RetryLater(_backoff(tasks), error.message) for task in tasks}
    apply_remote_documents(ctx, connection_id, changes.documents)
    with ctx.sessions() as db, db.begin():
        connection = get_connection(db, connection_id, for_update=True)
        if connection.pulled_as_of is None or changes.as_of > connection.pulled_as_of:
            connection.pulled_as_of = changes.as_of
    return {task.id: Done() for task in tasks}


def refresh_documents(ctx: Context, tasks: Sequence[Task]) -> dict[uuid.UUID, Outcome]:
    """Invoices a webhook said changed, read in one call."""
    connection_id = connection_of(tasks[0])
    external_ids = sorted({task.payload["external_id"] for task in tasks})
    remote = Remote(ctx, connection_id)
    try:
        documents = remote.call(lambda s: s.get_invoices(external_ids))
    except RateLimited as error:
        raise DelayGroup(error.retry_after, error.message) from error
    except ConnectorError as error:
        return {task.id: RetryLater(_backoff(tasks), error.message) for task in tasks}
    apply_remote_documents(ctx, connection_id, documents)
    return {task.id: Done() for task in tasks}


def refresh_from_books(ctx: Context, invoice_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, RemoteDocument]:
    """Read invoices again from the accounting systems they are in (one call per connection), and take in what
    changed there (a payment, a void) before something that depends on it, such as charging the member's card.
    Returns what the books hold of each invoice that is in them. Raises :class:`ConnectorError` (or the worker's
    DelayGroup/PauseGroup) when they cannot be read: the caller must then not act as if nothing had changed."""
    with ctx.readers() as db:
        records = db.execute(
            select(SyncRecordRow.connection_id, SyncRecordRow.record_id, SyncRecordRow.external_id).where(
                SyncRecordRow.kind == RecordKind.INVOICE.value,
                SyncRecordRow.record_id.in_(list(invoice_ids)),
                SyncRecordRow.external_id.is_not(None),
            )
        ).all()
    by_connection: dict[uuid.UUID, dict[str, uuid.UUID]] = defaultdict(dict)
    for connection_id, record_id, external_id in records:
        if external_id is not None:
            by_connection[connection_id][external_id] = record_id
    found: dict[uuid.UUID, RemoteDocument] = {}
    for connection_id, ours in by_connection.items():
        remote = Remote(ctx, connection_id)
        try:
            documents = remote.call(lambda s, ids=sorted(ours): s.get_invoices(ids))  # type: ignore[misc]
        except RateLimited as error:
            raise DelayGroup(error.retry_after, error.message) from error
        apply_remote_documents(ctx, connection_id, documents)
        found.update({ours[d.external_id]: d for d in documents if d.external_id in ours})
    return found


def apply_remote_documents(ctx: Context, connection_id: uuid.UUID, documents: Sequence[RemoteDocument]) -> None:
    """Take in what the books say of our invoices: payments made there are recorded here (once each, source
    ``accounting``); an invoice voided there is flagged, never silently voided or deleted here."""
    from flexbill.invoicing.service import NewPayment, amount_due, record_payment

    now = ctx.clock.now()
    for document in documents:
        with ctx.sessions() as db, db.begin():
            record = db.scalars(
                select(SyncRecordRow).where(
                    SyncRecordRow.connection_id == connection_id,
                    SyncRecordRow.kind == RecordKind.INVOICE.value,
                    SyncRecordRow.external_id == document.external_id,
                )
            ).first()
            if record is None:
                continue  # not one of ours (made in the books directly), or not confirmed yet
            invoice = db.get(InvoiceRow, record.record_id, with_for_update=True)
            if invoice is None:
                continue
            changed = record.remote_status != document.status
            record.remote_status = document.status
            if document.voided and invoice.status != InvoiceStatus.VOIDED:
                record.status = SyncStatus.OUT_OF_DATE
                record.error = voided_there_message(get_connection(db, connection_id).provider)
                if changed:
                    _log(db, RecordKind.INVOICE, invoice.id, connection_id, now, "pull", "failed", record.error)
            known = set(
                db.scalars(
                    select(SyncRecordRow.external_id).where(
                        SyncRecordRow.connection_id == connection_id,
                        SyncRecordRow.kind == RecordKind.PAYMENT.value,
                        SyncRecordRow.external_id.in_([p.external_id for p in document.payments]),
                    )
                )
            )
            for payment in document.payments:
                if payment.deleted or payment.external_id in known:
                    continue
                if payment.our_id is not None:
                    ours = _records(db, RecordKind.PAYMENT, [payment.our_id]).get(payment.our_id)
                    if ours is not None:  # ours, sent but its answer lost: adopt it
                        _confirm(ours, payment.external_id, None, now)
                        continue
                due = amount_due(invoice)
                if payment.amount > due or invoice.status not in (
                    InvoiceStatus.AWAITING_PAYMENT,
                    InvoiceStatus.PARTIALLY_PAID,
                ):
                    detail = (
                        f"a payment of {describe(payment.amount, invoice.currency)} made in the books on "
                        f"{payment.date} cannot be recorded here: the invoice is {invoice.status} with "
                        f"{describe(due, invoice.currency)} due"
                    )
                    record.error = detail
                    _log(db, RecordKind.INVOICE, invoice.id, connection_id, now, "pull", "failed", detail)
                    continue
                try:
                    with db.begin_nested():
                        local = record_payment(
                            db,
                            ctx.clock,
                            invoice.id,
                            NewPayment(
                                date=max(payment.date, invoice.issue_date),
                                amount=payment.amount,
                                method="other",
                                reference=(payment.reference or f"paid in the books ({payment.external_id})")[:200],
                            ),
                            source=PaymentSource.ACCOUNTING,
                        )
                except FlexbillError as error:
                    record.error = f"a payment made in the books could not be recorded here: {error.message}"
                    _log(db, RecordKind.INVOICE, invoice.id, connection_id, now, "pull", "failed", record.error)
                    continue
                db.add(
                    SyncRecordRow(
                        kind=RecordKind.PAYMENT.value,
                        record_id=local.id,
                        connection_id=connection_id,
                        status=SyncStatus.SYNCED,
                        revision=0,
                        synced_revision=0,
                        external_id=payment.external_id,
                        synced_at=now,
                    )
                )
                _log(db, RecordKind.INVOICE, invoice.id, connection_id, now, "pull", "ok",
                     f"payment of {payment.amount} on {payment.date} recorded from the books")  # fmt: skip


def schedule_pulls(ctx: Context, tasks: Sequence[Task]) -> dict[uuid.UUID, Outcome]:
    """The recurring poll: one pull task per connected organisation per slot."""
    now = ctx.clock.now()
    with ctx.sessions() as db, db.begin():
        connections = db.scalars(
            select(AccountingConnectionRow.id)
            .where(AccountingConnectionRow.status == "connected")
            .where(AccountingConnectionRow.id.in_(select(ConnectionLocationRow.connection_id)))
        ).all()
        slot = int(now.timestamp()) // max(ctx.settings.poll_seconds, 1)
        for connection_id in connections:
            enqueue(
                db, PULL_TASK, f"accounting:pull:{connection_id}:{slot}", group=outbox.group_of(connection_id),
                payload={}, run_at=now,
            )  # fmt: skip
    return {task.id: Done() for task in tasks}


# --- contacts brought up to date ---------------------------------------------------------------------------------


def update_contacts(ctx: Context, tasks: Sequence[Task]) -> dict[uuid.UUID, Outcome]:
    """Customers whose details changed: their contacts in the organisation are updated, in one call."""
    connection_id = connection_of(tasks[0])
    by_customer = {uuid.UUID(task.payload["record_id"]): task for task in tasks}
    outcomes: dict[uuid.UUID, Outcome] = {}
    with ctx.readers() as db:
        records = _customer_records(db, connection_id, by_customer)
        customers = {row.id: row for row in db.scalars(select(CustomerRow).where(CustomerRow.id.in_(by_customer)))}
    contacts: list[ContactData] = []
    for customer_id, task in by_customer.items():
        record = records.get(customer_id)
        if record is None or record.external_id is None or int(task.payload["revision"]) < record.revision:
            outcomes[task.id] = Done()  # not there, or a newer change has its own task
            continue
        contacts.append(contact_of(customers[customer_id], record.external_id))
    if not contacts:
        return outcomes
    remote = Remote(ctx, connection_id)
    try:
        revisions = {customer_id: int(task.payload["revision"]) for customer_id, task in by_customer.items()}
        results = list(push_contacts(remote, contacts, "contact-updates", revisions).values())
    except RateLimited as error:
        raise DelayGroup(error.retry_after, error.message) from error
    except Rejected as error:
        return outcomes | {by_customer[c.our_id].id: Failed(error.message) for c in contacts}
    except ConnectorError as error:
        return outcomes | {by_customer[c.our_id].id: RetryLater(_backoff(tasks), error.message) for c in contacts}
    now = ctx.clock.now()
    with ctx.sessions() as db, db.begin():
        records = _customer_records(db, connection_id, by_customer)
        for item in results:
            record = records[item.our_id]
            if isinstance(item, Pushed):
                _confirm(record, item.external_id, None, now)
                outcomes[by_customer[item.our_id].id] = Done()
                _log(db, RecordKind.CUSTOMER, item.our_id, connection_id, now, "update", "ok", item.external_id)
            else:
                record.status, record.error = SyncStatus.FAILED, "; ".join(item.errors)
                outcomes[by_customer[item.our_id].id] = Failed(record.error)
                _log(db, RecordKind.CUSTOMER, item.our_id, connection_id, now, "update", "failed", record.error)
    return outcomes
