"""How a change here becomes sync work: the billing rule, the pre-flight check, the sync records and the tasks.

Called by the use cases that issue, void, credit and pay, in their own transaction, so the task exists exactly
when the change does (the outbox). It depends only on tables, never on the invoicing use cases, so those can call
it without an import cycle.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from flexbill.accounting.model import Numbering, RecordKind, SyncStatus
from flexbill.accounting.store import AccountingConnectionRow, ConnectionLocationRow, SyncRecordRow
from flexbill.billing.store import BillingSettingsRow
from flexbill.catalog.store import LocationRow
from flexbill.db import new_id
from flexbill.errors import InvalidInput
from flexbill.tasks.service import enqueue
from flexbill.tasks.store import TaskRow

USABLE = ("connected", "reconnect_needed")  # reconnect_needed: work waits (paused), it is not dropped
# The records sent by a task of their own. Customers go as contacts with their first invoice, and their later
# changes by CONTACT_TASK, one per organisation.
TASK_KINDS: dict[RecordKind, str] = {
    kind: f"accounting.{kind.value}" for kind in RecordKind if kind is not RecordKind.CUSTOMER
}


def group_of(connection_id: uuid.UUID) -> str:
    """Tasks of one connection share its rate limit and pause together when it needs reconnecting."""
    return f"accounting:{connection_id}"


def task_key(kind: RecordKind, record_id: uuid.UUID, revision: int) -> str:
    return f"accounting:{kind.value}:{record_id}:v{revision}"


def sync_mode(session: Session) -> str:
    """The ``accounting_sync`` billing rule: ``auto``, ``manual`` or ``off``."""
    return session.scalars(select(BillingSettingsRow.accounting_sync)).one()


def connections_by_location(
    session: Session, location_ids: Collection[uuid.UUID] | None = None
) -> dict[uuid.UUID, AccountingConnectionRow]:
    """The usable connection of each location that has one."""
    query = (
        select(ConnectionLocationRow.location_id, AccountingConnectionRow)
        .join(AccountingConnectionRow, AccountingConnectionRow.id == ConnectionLocationRow.connection_id)
        .where(AccountingConnectionRow.status.in_(USABLE))
    )
    if location_ids is not None:
        query = query.where(ConnectionLocationRow.location_id.in_(list(location_ids)))
    return dict(session.execute(query).all())


def accounting_numbered(session: Session, location_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Locations whose invoices and credit notes the accounting system numbers: sync is on and the location's
    connection owns numbering. Their documents are issued without a number of ours and take the accounting
    system's when they are synced."""
    if sync_mode(session) == "off":
        return set()
    return {
        location_id
        for location_id, connection in connections_by_location(session, location_ids).items()
        if connection.numbering == Numbering.ACCOUNTING
    }


@dataclass(frozen=True, slots=True)
class LineCodes:
    """What a document line needs mapped: its location's connection must know each of these."""

    location_id: uuid.UUID
    currency: str
    account_code: str
    tax_rate_code: str


def ensure_mapped(session: Session, lines: Iterable[LineCodes]) -> None:
    """Pre-flight: with sync on, every account, tax rate and currency a document uses must be mapped in its
    location's connection, so nothing is sent half-mapped. Lists exactly what is missing, per connection."""
    if sync_mode(session) == "off":
        return
    needed: dict[uuid.UUID, tuple[set[str], set[str], set[str]]] = defaultdict(lambda: (set(), set(), set()))
    for line in lines:
        accounts, tax_rates, currencies = needed[line.location_id]
        accounts.add(line.account_code)
        tax_rates.add(line.tax_rate_code)
        currencies.add(line.currency)
    if not needed:
        return
    connections = connections_by_location(session, needed.keys())
    codes = dict(session.execute(select(LocationRow.id, LocationRow.code).where(LocationRow.id.in_(needed))).all())
    problems: list[str] = []
    for location_id, (accounts, tax_rates, currencies) in sorted(needed.items(), key=lambda item: codes[item[0]]):
        connection = connections.get(location_id)
        if connection is None:
            continue
        missing = missing_mappings(connection.mappings, accounts, tax_rates, currencies)
        if missing:
            problems.append(f"location {codes[location_id]} ({connection.provider}): {'; '.join(missing)}")
    if problems:
        raise InvalidInput(
            "accounting sync is on, and these have no mapping in the accounting connection: "
            + " | ".join(problems)
            + ". Map them with PUT /api/v1/accounting/connections/{id}/mappings, or turn accounting_sync off.",
            field="mappings",
        )


def missing_mappings(
    mappings: dict[str, object], accounts: Collection[str], tax_rates: Collection[str], currencies: Collection[str]
) -> list[str]:
    """What of these codes the stored mappings lack, in words.

    >>> mappings = {"accounts": {"4000": "200"}, "tax_rates": {}, "currencies": ["GBP"], "payment_account": "090"}
    >>> missing_mappings(mappings, ["4000", "4100"], ["VAT20"], ["GBP", "EUR"])
    ['revenue accounts 4100', 'tax rates VAT20', 'currencies EUR']
    """
    found = {name: mappings.get(name) or {} for name in ("accounts", "tax_rates")}
    known_currencies = set(mappings.get("currencies") or [])  # type: ignore[call-overload]
    missing: list[str] = []
    for label, name, codes in (("revenue accounts", "accounts", accounts), ("tax rates", "tax_rates", tax_rates)):
        absent = sorted(code for code in codes if code not in found[name])  # type: ignore[operator]
        if absent:
            missing.append(f"{label} {', '.join(absent)}")
    absent_currencies = sorted(set(currencies) - known_currencies)
    if absent_currencies:
        missing.append(f"currencies {', '.join(absent_currencies)}")
    if not mappings.get("payment_account"):
        missing.append("the payment account")
    return missing


def records_changed(
    session: Session,
    kind: RecordKind,
    records: Sequence[tuple[uuid.UUID, uuid.UUID]],
    now: datetime,
    *,
    requested: bool = False,
) -> list[str]:
    """Records (id, location id) changed here in a way the accounting system must hear about.

    ``auto`` sync: each gets a new revision, ``pending``, and a task. ``manual``: nothing is sent; a record already
    synced turns ``out_of_date``. With ``requested`` (staff chose these records, or asked for a retry) they are
    sent whatever the rule, unless sync is off. Returns the keys of the tasks enqueued.
    """
    mode = sync_mode(session)
    if mode == "off" or not records:
        return []
    connections = connections_by_location(session, {location_id for _, location_id in records})
    existing = {
        row.record_id: row
        for row in session.scalars(
            select(SyncRecordRow).where(
                SyncRecordRow.kind == kind.value, SyncRecordRow.record_id.in_([record_id for record_id, _ in records])
            )
        )
    }
    send = mode == "auto" or requested
    keys: list[str] = []
    for record_id, location_id in records:
        connection = connections.get(location_id)
        if connection is None:
            continue
        row = existing.get(record_id)
        if row is None:
            row = SyncRecordRow(
                kind=kind.value, record_id=record_id, connection_id=connection.id, revision=0, synced_revision=0
            )
            row.status = SyncStatus.NOT_SYNCED
            session.add(row)
        if not send:
            if row.status == SyncStatus.SYNCED:
                row.status = SyncStatus.OUT_OF_DATE
            continue
        row.revision += 1
        row.status = SyncStatus.PENDING
        row.error = None
        key = task_key(kind, record_id, row.revision)
        payload = {"kind": kind.value, "record_id": str(record_id), "revision": str(row.revision)}
        enqueue(session, TASK_KINDS[kind], key, group=group_of(connection.id), payload=payload, run_at=now)
        keys.append(key)
    session.flush()
    return keys


def new_records(
    session: Session, kind: RecordKind, records: Sequence[tuple[uuid.UUID, uuid.UUID]], now: datetime
) -> int:
    """``records_changed`` for records that have never been synced (a bill run's new invoices), written in bulk:
    a run of a hundred thousand invoices writes two multi-row inserts, not two hundred thousand statements.
    Returns the number of tasks enqueued."""
    mode = sync_mode(session)
    if mode == "off" or not records:
        return 0
    connections = connections_by_location(session, {location_id for _, location_id in records})
    if not connections:
        return 0
    send = mode == "auto"
    revision = 1 if send else 0
    status = SyncStatus.PENDING if send else SyncStatus.NOT_SYNCED
    sync_rows: list[dict[str, object]] = []
    task_rows: list[dict[str, object]] = []
    for record_id, location_id in records:
        connection = connections.get(location_id)
        if connection is None:
            continue
        sync_rows.append(
            {"kind": kind.value, "record_id": record_id, "connection_id": connection.id, "status": status.value,
             "revision": revision, "synced_revision": 0, "uncertain": False, "updated_at": now}
        )  # fmt: skip
        if send:
            task_rows.append(
                {"id": new_id(), "kind": TASK_KINDS[kind], "key": task_key(kind, record_id, revision),
                 "group": group_of(connection.id), "status": "pending", "attempts": 0, "run_at": now,
                 "payload": {"kind": kind.value, "record_id": str(record_id), "revision": str(revision)},
                 "created_at": now, "updated_at": now}
            )  # fmt: skip
    if sync_rows:
        session.execute(insert(SyncRecordRow), sync_rows)
    if task_rows:
        session.execute(insert(TaskRow), task_rows)
    return len(task_rows)


CONTACT_TASK = "accounting.contact"


def contact_changed(session: Session, customer_id: uuid.UUID, now: datetime) -> list[str]:
    """A customer's details changed: each organisation holding it as a contact gets the change (``auto``), or
    shows it ``out_of_date`` (``manual``). Customers never sent anywhere need nothing: they are sent with their
    first invoice."""
    mode = sync_mode(session)
    if mode == "off":
        return []
    records = session.scalars(
        select(SyncRecordRow).where(
            SyncRecordRow.kind == RecordKind.CUSTOMER.value,
            SyncRecordRow.record_id == customer_id,
            SyncRecordRow.external_id.is_not(None),
        )
    ).all()
    keys: list[str] = []
    for record in records:
        if mode != "auto":
            if record.status == SyncStatus.SYNCED:
                record.status = SyncStatus.OUT_OF_DATE
            continue
        record.revision += 1
        record.status = SyncStatus.PENDING
        key = f"accounting:contact:{customer_id}:{record.connection_id}:v{record.revision}"
        payload = {"record_id": str(customer_id), "revision": str(record.revision)}
        enqueue(session, CONTACT_TASK, key, group=group_of(record.connection_id), payload=payload, run_at=now)
        keys.append(key)
    session.flush()
    return keys
