"""Use cases of accounting connections: connect (OAuth), choose the organisation, keep tokens fresh, map codes.

Calls to the accounting system happen outside database transactions, except one: refreshing a token runs under
the connection row's lock, so two workers never both spend the same single-use refresh token, and the new tokens
are stored (committed) before anything uses them.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Mapping
from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

import httpx
from pydantic import AnyHttpUrl, Field
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from flexbill.access import audit
from flexbill.accounting import outbox
from flexbill.accounting.model import (
    Numbering,
    RecordKind,
    RemoteAccount,
    RemoteTaxRate,
    RemoteTrackingCategory,
    SyncStatus,
)
from flexbill.accounting.ports import (
    AuthExpired,
    ConnectorError,
    OAuthClient,
    RateLimited,
    Rejected,
    SessionTarget,
)
from flexbill.accounting.registry import get_connector
from flexbill.accounting.secrets import UnreadableTokens, fernet_for, open_tokens, seal_tokens
from flexbill.accounting.store import AccountingConnectionRow, ConnectionLocationRow, SyncRecordRow
from flexbill.bootstrap import Context
from flexbill.catalog.service import get_location
from flexbill.catalog.store import LocationRow, RevenueAccountRow, TaxRateRow
from flexbill.clock import SystemClock
from flexbill.errors import Conflict, FlexbillError, InvalidInput, NotFound
from flexbill.settings import Settings
from flexbill.tasks.service import pause_group, resume_group
from flexbill.validation import Code, Command, Currency

if TYPE_CHECKING:
    from collections.abc import Callable

    from flexbill.invoicing.export import CodesT, QuickBooksCodesFor, XeroCodesFor

REFRESH_MARGIN = timedelta(seconds=60)  # refresh a minute before expiry, as Xero's own SDK does


@lru_cache(maxsize=1)
def http_client() -> httpx.Client:
    """One pooled client per process. Timeouts bound every call: an accounting system that hangs becomes a
    Transient error and a retry, never a stuck worker."""
    return httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0), follow_redirects=False)


class ReconnectNeeded(FlexbillError):
    """The accounting system refused the connection's tokens: the operator must authorize it again."""

    status_code = 409


class AccountingUnavailable(FlexbillError):
    """The accounting system could not be reached or answered with an error we cannot act on now."""

    status_code = 502


# --- connecting ------------------------------------------------------------------------------------------------


class NewConnection(Command):
    location_id: uuid.UUID
    provider: Annotated[str, Field(min_length=1, max_length=40)]
    base_url: AnyHttpUrl | None = None  # a sandbox's root, e.g. http://127.0.0.1:8001/xero


class ConnectionChanges(Command):
    numbering: Numbering | None = None
    tenant_id: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    location_ids: Annotated[list[uuid.UUID], Field(min_length=1)] | None = None


def oauth_client(settings: Settings, provider: str, base_url: str | None) -> OAuthClient:
    client_id = getattr(settings, f"{provider}_client_id", None)
    client_secret = getattr(settings, f"{provider}_client_secret", None)
    if base_url is not None:  # a sandbox accepts any client: do not make operators invent one to rehearse
        return OAuthClient(client_id or "flexbill", client_secret or "flexbill", base_url)
    if not client_id or not client_secret:
        variable = f"FLEXBILL_{provider.upper()}_CLIENT_ID and FLEXBILL_{provider.upper()}_CLIENT_SECRET"
        raise InvalidInput(
            f"connecting to {provider} needs the app's credentials: set {variable} (or give base_url of a sandbox)",
            field="provider",
        )
    return OAuthClient(client_id, client_secret, None)


def create_connection(
    session: Session, settings: Settings, command: NewConnection, redirect_uri: str
) -> tuple[AccountingConnectionRow, str]:
    """Start connecting a location: returns the new connection and the URL where the operator consents."""
    connector = get_connector(command.provider)
    location = get_location(session, command.location_id, field="location_id")
    base_url = str(command.base_url).rstrip("/") if command.base_url else None
    current = session.get(ConnectionLocationRow, location.id)
    if current is not None:
        existing = session.get(AccountingConnectionRow, current.connection_id)
        if existing is not None and existing.status in outbox.USABLE:
            raise Conflict(
                f"location {location.code} already syncs to {existing.provider} ({existing.tenant_name}) through "
                f"connection {existing.id}; reconnect that one (POST .../connections/{existing.id}/reconnect)"
            )
        session.delete(current)
        session.flush()
    client = oauth_client(settings, connector.key, base_url)
    row = AccountingConnectionRow(
        provider=connector.key,
        status="authorizing",
        base_url=base_url,
        redirect_uri=redirect_uri,
        oauth_state=secrets.token_urlsafe(32),
        numbering=Numbering.ACCOUNTING.value,
        tenants=[],
        mappings={},
    )
    session.add(row)
    session.flush()
    session.add(ConnectionLocationRow(location_id=location.id, connection_id=row.id))
    session.flush()
    assert row.oauth_state is not None
    url = connector.oauth(client, http_client()).authorize_url(row.oauth_state, redirect_uri)
    return row, url


def restart_authorization(
    session: Session, settings: Settings, connection_id: uuid.UUID, redirect_uri: str
) -> tuple[AccountingConnectionRow, str]:
    """Authorize an existing connection again (its tokens expired or were revoked); its work resumes after."""
    row = get_connection(session, connection_id, for_update=True)
    connector = get_connector(row.provider)
    row.oauth_state = secrets.token_urlsafe(32)
    row.redirect_uri = redirect_uri
    session.flush()
    url = connector.oauth(oauth_client(settings, row.provider, row.base_url), http_client()).authorize_url(
        row.oauth_state, redirect_uri
    )
    return row, url


def complete_authorization(
    ctx: Context, state: str, code: str, callback: Mapping[str, str] | None = None
) -> AccountingConnectionRow:
    """The callback: trade the code for tokens, find the organisations the consent covers, store it all sealed.

    When the organisation is already connected (another location's connection), the locations join that
    connection instead, so an organisation has one connection, one token and one rate limit.
    """
    with ctx.sessions() as db, db.begin():
        row = db.scalars(select(AccountingConnectionRow).where(AccountingConnectionRow.oauth_state == state)).first()
        if row is None:
            raise InvalidInput("this authorization link is not known or was already used; start again", field="state")
        provider, base_url, redirect_uri, connection_id = row.provider, row.base_url, row.redirect_uri, row.id
    connector = get_connector(provider)
    flow = connector.oauth(oauth_client(ctx.settings, provider, base_url), http_client())
    try:
        tokens = flow.exchange_code(code, redirect_uri)
        tenants = flow.tenants(tokens.access_token, callback or {})
    except ConnectorError as error:
        raise AccountingUnavailable(f"{provider} refused the authorization: {error.message}") from error
    fernet = fernet_for(ctx.settings)
    with ctx.sessions() as db, db.begin():
        row = get_connection(db, connection_id, for_update=True)
        if row.oauth_state != state:
            raise InvalidInput("this authorization link was already used; start again", field="state")
        if row.tenant_id is not None and all(tenant.id != row.tenant_id for tenant in tenants):
            # Reconnecting must not move a connection's records to other books: their ids would be taken for
            # records there (QuickBooks ids repeat from one company to the next).
            offered = ", ".join(tenant.name for tenant in tenants) or "none"
            raise Conflict(
                f"the consent was for another company ({offered}) than this connection's ({row.tenant_name}): "
                f"reconnect choosing {row.tenant_name}, or connect the other company as a new connection"
            )
        row.oauth_state = None
        row.tokens = seal_tokens(fernet, tokens)
        row.access_expires_at = tokens.expires_at
        row.tenants = [{"id": tenant.id, "name": tenant.name} for tenant in tenants]
        row.last_error = None
        if not tenants:
            row.status = "authorizing"
            row.last_error = f"the consent gave access to no {provider} organisation; authorize again"
            return row
        chosen = next((tenant for tenant in tenants if tenant.id == row.tenant_id), None)
        if chosen is None and len(tenants) == 1:
            chosen = tenants[0]
        if chosen is None:
            row.status = "choose_tenant"
            return row
        return _attach_tenant(db, ctx, row, chosen.id, chosen.name)


def _attach_tenant(
    db: Session, ctx: Context, row: AccountingConnectionRow, tenant_id: str, tenant_name: str
) -> AccountingConnectionRow:
    twin = db.scalars(
        select(AccountingConnectionRow).where(
            AccountingConnectionRow.provider == row.provider,
            AccountingConnectionRow.tenant_id == tenant_id,
            AccountingConnectionRow.id != row.id,
            AccountingConnectionRow.base_url.is_(None)
            if row.base_url is None
            else AccountingConnectionRow.base_url == row.base_url,
        )
    ).first()
    if twin is not None:
        # The organisation is connected already: its connection takes these locations and the fresh tokens.
        for link in db.scalars(select(ConnectionLocationRow).where(ConnectionLocationRow.connection_id == row.id)):
            link.connection_id = twin.id
        twin.tokens, twin.access_expires_at, twin.status, twin.last_error = (
            row.tokens,
            row.access_expires_at,
            "connected",
            None,
        )
        db.flush()
        db.delete(row)
        db.flush()
        resume_group(db, outbox.group_of(twin.id), ctx.clock.now())
        return twin
    row.tenant_id, row.tenant_name, row.status = tenant_id, tenant_name, "connected"
    db.flush()
    resume_group(db, outbox.group_of(row.id), ctx.clock.now())
    return row


def update_connection(ctx: Context, db: Session, connection_id: uuid.UUID, changes: ConnectionChanges) -> None:
    row = get_connection(db, connection_id, for_update=True)
    if changes.numbering is not None:
        row.numbering = changes.numbering.value
    if changes.tenant_id is not None:
        offered = {tenant["id"]: tenant["name"] for tenant in row.tenants}
        if changes.tenant_id not in offered:
            raise InvalidInput(
                f"organisation {changes.tenant_id} is not among those the consent covered: "
                + ", ".join(f"{tid} ({name})" for tid, name in offered.items()),
                field="tenant_id",
            )
        _attach_tenant(db, ctx, row, changes.tenant_id, offered[changes.tenant_id])
    if changes.location_ids is not None:
        for location_id in changes.location_ids:
            get_location(db, location_id, field="location_ids")
        served_before = connection_location_ids(db, row.id)
        db.execute(delete(ConnectionLocationRow).where(ConnectionLocationRow.location_id.in_(changes.location_ids)))
        db.execute(delete(ConnectionLocationRow).where(ConnectionLocationRow.connection_id == row.id))
        db.flush()
        for location_id in changes.location_ids:
            db.add(ConnectionLocationRow(location_id=location_id, connection_id=row.id))
        # The links were replaced with set-based deletes, which the audit trail does not see: say what changed.
        audit.record(
            db,
            "accounting_connections.locations",
            entity_type="accounting_connections",
            entity_id=row.id,
            before={"location_ids": sorted(str(i) for i in served_before)},
            after={"location_ids": sorted(str(i) for i in changes.location_ids)},
        )
        db.flush()


def get_connection(session: Session, connection_id: uuid.UUID, *, for_update: bool = False) -> AccountingConnectionRow:
    row = session.get(AccountingConnectionRow, connection_id, with_for_update=for_update)
    if row is None:
        raise NotFound("accounting connection", connection_id)
    return row


def connection_location_ids(session: Session, connection_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(ConnectionLocationRow.location_id).where(ConnectionLocationRow.connection_id == connection_id)
        )
    )


# --- tokens and sessions ---------------------------------------------------------------------------------------


def session_target(ctx: Context, connection_id: uuid.UUID, *, force_refresh: bool = False) -> SessionTarget:
    """A usable access token for the connection, refreshed (under the row lock, persisted first) when it is
    about to expire or was just refused. Raises ReconnectNeeded when the accounting system refuses to refresh;
    the connection is then marked ``reconnect_needed`` and its tasks paused (that change is committed)."""
    fernet = fernet_for(ctx.settings)
    if not force_refresh:
        # Most calls find a token good for a while yet: read it without taking the write lock (on SQLite the
        # lock is the whole database's, and a refresh is a network call).
        with ctx.readers() as db:
            row = get_connection(db, connection_id)
            if row.status == "connected" and row.tokens is not None and row.tenant_id is not None:
                try:
                    current = open_tokens(fernet, row.tokens)
                except UnreadableTokens:
                    current = None  # the locked path below marks the connection
                if current is not None and current.expires_at - SystemClock().now() >= REFRESH_MARGIN:
                    return SessionTarget(row.tenant_id, current.access_token, row.base_url)
    refused: str | None = None
    with ctx.sessions() as db, db.begin():
        row = get_connection(db, connection_id, for_update=True)
        if row.status == "reconnect_needed":
            raise ReconnectNeeded(f"the {row.provider} connection {row.tenant_name} needs to be authorized again")
        if row.tokens is None or row.tenant_id is None:
            raise ReconnectNeeded(f"the {row.provider} connection {row.id} is not authorized yet")
        try:
            tokens = open_tokens(fernet, row.tokens)
            # Tokens expire in the real world, whatever day the business clock shows (it may be shifted for a
            # rehearsal), so their expiry is read against the system clock.
            if force_refresh or tokens.expires_at - SystemClock().now() < REFRESH_MARGIN:
                client = oauth_client(ctx.settings, row.provider, row.base_url)
                tokens = get_connector(row.provider).oauth(client, http_client()).refresh(tokens.refresh_token)
                row.tokens = seal_tokens(fernet, tokens)
                row.access_expires_at = tokens.expires_at
        except UnreadableTokens as error:
            refused = str(error)
        except (Rejected, AuthExpired) as error:
            refused = f"{row.provider} refused to refresh the connection to {row.tenant_name}: {error.message}"
        if refused is not None:
            _needs_reconnect(db, row, refused)
        else:
            return SessionTarget(row.tenant_id, tokens.access_token, row.base_url)
    raise ReconnectNeeded(refused)


def _needs_reconnect(db: Session, row: AccountingConnectionRow, reason: str) -> None:
    row.status = "reconnect_needed"
    row.last_error = reason
    pause_group(db, outbox.group_of(row.id), f"reconnect needed: {reason}")
    db.flush()


# A person is waiting for these lists: a rate-limit wait this short is waited out rather than reported.
WAIT_FOR_LISTS_SECONDS = 5.0


def fetch_remote_lists(
    ctx: Context, connection_id: uuid.UUID, what: Literal["accounts", "tax-rates", "tracking-categories"]
) -> list[RemoteAccount] | list[RemoteTaxRate] | list[RemoteTrackingCategory]:
    """The organisation's own lists, read now: once more with a fresh token when the first is refused, and after
    short rate-limit waits (a person is waiting for them; waits longer in all than ``WAIT_FOR_LISTS_SECONDS``
    are reported instead)."""
    refreshed = False
    waited = 0.0
    while True:
        target = session_target(ctx, connection_id, force_refresh=refreshed)
        with ctx.readers() as db:
            provider = get_connection(db, connection_id).provider
        remote = get_connector(provider).open_session(target, http_client())
        try:
            if what == "accounts":
                return remote.list_accounts()
            if what == "tax-rates":
                return remote.list_tax_rates()
            return remote.list_tracking_categories()
        except AuthExpired:
            if refreshed:
                raise
            refreshed = True
        except RateLimited as error:
            pause = max(error.retry_after, 0.05)  # a wait rounded down to nothing still lets a slot come free
            if waited + pause > WAIT_FOR_LISTS_SECONDS:
                raise AccountingUnavailable(f"{provider} answered: {error.message}") from error
            waited += pause
            time.sleep(pause)
        except ConnectorError as error:
            raise AccountingUnavailable(f"{provider} answered: {error.message}") from error


# --- mappings --------------------------------------------------------------------------------------------------


class TrackingOptionIn(Command):
    category: Annotated[str, Field(min_length=1, max_length=100)]
    option: Annotated[str, Field(min_length=1, max_length=100)]


class Mappings(Command):
    accounts: dict[Code, Annotated[str, Field(min_length=1, max_length=50)]] = Field(default_factory=dict)
    tax_rates: dict[Code, Annotated[str, Field(min_length=1, max_length=50)]] = Field(default_factory=dict)
    payment_account: Annotated[str, Field(min_length=1, max_length=50)] | None = None
    tracking: dict[Code, TrackingOptionIn] = Field(default_factory=dict)  # location code -> option
    currencies: list[Currency] | None = None  # default: the currencies of the connection's locations


def set_mappings(ctx: Context, connection_id: uuid.UUID, mappings: Mappings) -> dict[str, object]:
    """Check every code on both sides (ours exist; the organisation's exist and are active) and store the
    mappings. Every problem is listed at once. Records that failed to sync are sent again (auto sync)."""
    accounts = fetch_remote_lists(ctx, connection_id, "accounts")
    tax_rates = fetch_remote_lists(ctx, connection_id, "tax-rates")
    tracking = fetch_remote_lists(ctx, connection_id, "tracking-categories") if mappings.tracking else []
    active = [a for a in accounts if isinstance(a, RemoteAccount) and a.status == "ACTIVE"]
    sales_targets = {a.code: a.name for a in active if a.sales}
    payment_targets = {a.code for a in active if a.payments}
    remote_taxes = {t.code: t for t in tax_rates if isinstance(t, RemoteTaxRate) and t.status == "ACTIVE"}
    remote_tracking = {c.name: set(c.options) for c in tracking if isinstance(c, RemoteTrackingCategory)}
    with ctx.sessions() as db, db.begin():
        row = get_connection(db, connection_id, for_update=True)
        ours_accounts = set(db.scalars(select(RevenueAccountRow.code)))
        ours_taxes = set(db.scalars(select(TaxRateRow.code)))
        location_ids = connection_location_ids(db, connection_id)
        locations = {loc.code: loc for loc in db.scalars(select(LocationRow))}
        problems: list[str] = []
        for ours, theirs in mappings.accounts.items():
            if ours not in ours_accounts:
                problems.append(f"accounts.{ours}: flexbill has no revenue account {ours}")
            if theirs not in sales_targets:
                problems.append(f"accounts.{ours}: {row.provider} has no active account with code {theirs}")
        for ours, theirs in mappings.tax_rates.items():
            if ours not in ours_taxes:
                problems.append(f"tax_rates.{ours}: flexbill has no tax rate {ours}")
            if theirs not in remote_taxes:
                problems.append(f"tax_rates.{ours}: {row.provider} has no active tax rate {theirs}")
        if mappings.payment_account is not None and mappings.payment_account not in payment_targets:
            problems.append(
                f"payment_account: {row.provider} has no active account with code {mappings.payment_account}"
            )
        for code, choice in mappings.tracking.items():
            if code not in locations:
                problems.append(f"tracking.{code}: flexbill has no location {code}")
            if choice.option not in remote_tracking.get(choice.category, set()):
                problems.append(
                    f"tracking.{code}: {row.provider} has no tracking option {choice.option!r} "
                    f"in category {choice.category!r}"
                )
        if problems:
            raise InvalidInput("the mappings are not valid: " + "; ".join(problems), field="mappings")
        currencies = mappings.currencies or sorted(
            {loc.currency for loc in locations.values() if loc.id in location_ids}
        )
        row.mappings = {
            "accounts": dict(mappings.accounts),
            "tax_rates": dict(mappings.tax_rates),
            "tax_rate_names": {theirs: remote_taxes[theirs].name for theirs in mappings.tax_rates.values()},
            # What the books call them: a CSV import names products and services rather than giving their ids.
            "account_names": {theirs: sales_targets[theirs] for theirs in mappings.accounts.values()},
            "payment_account": mappings.payment_account,
            "tracking": {code: choice.model_dump() for code, choice in mappings.tracking.items()},
            "currencies": list(currencies),
        }
        _retry_failed(db, ctx, row.id)
        return dict(row.mappings)


def _retry_failed(db: Session, ctx: Context, connection_id: uuid.UUID) -> None:
    if outbox.sync_mode(db) != "auto":
        return
    failed = db.execute(
        select(SyncRecordRow.kind, SyncRecordRow.record_id).where(
            SyncRecordRow.connection_id == connection_id, SyncRecordRow.status == SyncStatus.FAILED
        )
    ).all()
    location_ids = connection_location_ids(db, connection_id)
    if not location_ids:
        return
    by_kind: dict[RecordKind, list[tuple[uuid.UUID, uuid.UUID]]] = {}
    for kind, record_id in failed:
        if kind == RecordKind.CUSTOMER:
            continue  # a contact goes with its invoices, which are retried themselves
        # Any of the connection's locations routes the record to this same connection.
        by_kind.setdefault(RecordKind(kind), []).append((record_id, location_ids[0]))
    for kind, records in by_kind.items():
        outbox.records_changed(db, kind, records, ctx.clock.now(), requested=True)


# --- manual sync -----------------------------------------------------------------------------------------------

Targets = dict[RecordKind, list[tuple[uuid.UUID, uuid.UUID]]]  # kind -> (record id, location id)


def pending_records(db: Session, *, retry_failed: bool = False) -> Targets:
    """Every record not yet (or no longer) as the books have it: not synced, out of date, pending; failed too
    with ``retry_failed``."""
    from flexbill.invoicing.store import CreditNoteRow, InvoiceRow, PaymentRow

    statuses = [SyncStatus.NOT_SYNCED, SyncStatus.OUT_OF_DATE, SyncStatus.PENDING]
    if retry_failed:
        statuses.append(SyncStatus.FAILED)
    targets: Targets = {}
    located = (
        (RecordKind.INVOICE, InvoiceRow.id, InvoiceRow.location_id, None),
        (RecordKind.CREDIT_NOTE, CreditNoteRow.id, CreditNoteRow.location_id, None),
        (RecordKind.PAYMENT, PaymentRow.id, InvoiceRow.location_id, PaymentRow.invoice_id == InvoiceRow.id),
    )
    for kind, id_column, location_column, join in located:
        query = select(id_column, location_column).join(
            SyncRecordRow, (SyncRecordRow.record_id == id_column) & (SyncRecordRow.kind == kind.value)
        )
        if join is not None:
            query = query.join(InvoiceRow, join)
        rows = db.execute(query.where(SyncRecordRow.status.in_(statuses))).all()
        if rows:
            targets[kind] = list(rows)
    return targets


def request_sync(db: Session, ctx: Context, invoice_refs: list[str], targets: Targets | None = None) -> list[str]:
    """Send these invoices (by id or number) and ``targets`` now, whatever the sync rule unless it is off.
    Every reference that is wrong is listed at once. Returns the keys of the tasks to wait for."""
    from flexbill.invoicing.store import InvoiceRow

    if outbox.sync_mode(db) == "off":
        raise InvalidInput(
            "accounting sync is off; set the billing rule accounting_sync to manual or auto first",
            field="accounting_sync",
        )
    chosen: Targets = {kind: list(records) for kind, records in (targets or {}).items()}
    problems: list[str] = []
    found: list[InvoiceRow] = []
    for ref in invoice_refs:
        try:
            by_id = db.get(InvoiceRow, uuid.UUID(ref))
            matches = [by_id] if by_id is not None else []
        except ValueError:
            matches = list(db.scalars(select(InvoiceRow).where(InvoiceRow.number == ref)))
        if not matches:
            problems.append(f"there is no invoice {ref}")
        elif len(matches) > 1:
            problems.append(f"{len(matches)} invoices are numbered {ref} (in different locations): give its id")
        else:
            found.append(matches[0])
    connected = outbox.connections_by_location(db, {row.location_id for row in found})
    for row in found:
        label = row.number or str(row.id)
        if row.status == "draft" and outbox.sync_mode(db) != "auto":
            problems.append(f"invoice {label} is a draft; issue it first")
        elif row.location_id not in connected:
            problems.append(f"invoice {label}'s location has no accounting connection")
        else:
            chosen.setdefault(RecordKind.INVOICE, []).append((row.id, row.location_id))
    if problems:
        raise InvalidInput("; ".join(problems), field="invoice_ids")
    keys: list[str] = []
    for kind in (RecordKind.INVOICE, RecordKind.CREDIT_NOTE, RecordKind.PAYMENT):
        records = list(dict.fromkeys(chosen.get(kind, [])))
        keys += outbox.records_changed(db, kind, records, ctx.clock.now(), requested=True)
    return keys


def xero_codes_from_mappings(session: Session) -> XeroCodesFor:
    """The Xero CSV export's codes per location: a location with a Xero connection uses its mappings (account
    codes as they are; tax rates by their Xero display names, which the import template takes); the others use
    flexbill's own codes."""
    from flexbill.invoicing.export import XeroCodes, default_xero_codes

    def codes(mappings: Mapping[str, Any], location: LocationRow | None) -> XeroCodes:
        names: dict[str, str] = mappings.get("tax_rate_names") or {}
        tracking = (mappings.get("tracking") or {}).get(location.code) if location else None
        return XeroCodes(
            accounts=dict(mappings["accounts"]),
            tax_types={ours: names.get(theirs, theirs) for ours, theirs in (mappings.get("tax_rates") or {}).items()},
            tracking=(tracking["category"], tracking["option"]) if tracking else None,
        )

    return _codes_from_mappings(session, "xero", codes, default_xero_codes(session))


def quickbooks_codes_from_mappings(session: Session) -> QuickBooksCodesFor:
    """The QuickBooks Online CSV export's names per location. The import takes names where the mappings keep
    QuickBooks ids (products and services for our revenue accounts, tax codes for our tax rates), so a location
    with a QuickBooks connection uses the codes its mappings cover by the names stored with the mappings (our own
    names for mappings stored before names were kept), and its invoices go to the QuickBooks location its tracking
    names. The other locations use flexbill's own names."""
    from flexbill.invoicing.export import QuickBooksCodes, own_quickbooks_codes

    ours = own_quickbooks_codes(session)

    def codes(mappings: Mapping[str, Any], location: LocationRow | None) -> QuickBooksCodes:
        names: dict[str, str] = mappings.get("tax_rate_names") or {}
        item_names: dict[str, str] = mappings.get("account_names") or {}
        tax_rates: dict[str, str] = mappings.get("tax_rates") or {}
        tracking = (mappings.get("tracking") or {}).get(location.code) if location else None
        return QuickBooksCodes(
            items={
                code: item_names.get(theirs) or ours.items[code]
                for code, theirs in mappings["accounts"].items()
                if code in ours.items
            },
            tax_codes={
                code: names.get(theirs) or ours.tax_codes[code]
                for code, theirs in tax_rates.items()
                if code in ours.tax_codes
            },
            location=tracking["option"] if tracking else None,
        )

    return _codes_from_mappings(session, "quickbooks", codes, lambda _location_id: ours)


def _codes_from_mappings(
    session: Session,
    provider: str,
    codes: Callable[[Mapping[str, Any], LocationRow | None], CodesT],
    fallback: Callable[[uuid.UUID], CodesT],
) -> Callable[[uuid.UUID], CodesT]:
    """A CSV export's codes per location: from the mappings of the location's ``provider`` connection, when they
    are set, else ``fallback``'s."""
    mapped: dict[uuid.UUID, CodesT] = {}
    links = session.execute(
        select(ConnectionLocationRow.location_id, AccountingConnectionRow)
        .join(AccountingConnectionRow, AccountingConnectionRow.id == ConnectionLocationRow.connection_id)
        .where(AccountingConnectionRow.provider == provider)
    ).all()
    for location_id, connection in links:
        mappings = connection.mappings or {}
        if not mappings.get("accounts"):
            continue
        mapped[location_id] = codes(mappings, session.get(LocationRow, location_id))
    return lambda location_id: mapped.get(location_id) or fallback(location_id)
