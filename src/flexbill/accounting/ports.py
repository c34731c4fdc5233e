"""The connector port: what the sync engine needs from an accounting system, and the errors it may raise.

A connector is a descriptor (key, name, capabilities) that starts OAuth flows and opens sessions. A session talks
to one organisation with one access token and takes and returns the values of ``accounting.model``. Connectors
never sleep and never retry: they raise one of the errors below and the worker decides when to try again.

Batch methods return one result per record sent, in any order, each keyed by ``our_id``. Every method that
creates something takes an ``idempotency_key`` (at most 128 characters, derived from our ids); sending the same
key again must not create a second record. ``find_*`` methods look records up by our id as stored remotely, for
the look-up-before-create after an unclear failure.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

import httpx

from flexbill.accounting.model import (
    AllocationData,
    Changes,
    ContactData,
    DocumentData,
    DocumentLookup,
    PaymentData,
    PushResult,
    RemoteAccount,
    RemoteDocument,
    RemoteTaxRate,
    RemoteTrackingCategory,
    Tenant,
    Tokens,
    WebhookEvent,
)


class ConnectorError(Exception):
    """Base of what a connector raises. ``message`` is in the accounting system's own words where it gave any."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RateLimited(ConnectorError):
    """Too many calls: try again after ``retry_after`` seconds (the whole organisation, not just this record)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthExpired(ConnectorError):
    """The access token was refused (expired or revoked). The engine refreshes once; if that fails too, the
    connection needs the operator to reconnect."""


class Rejected(ConnectorError):
    """The request was refused as invalid; sending it again unchanged would fail again."""

    def __init__(self, message: str, errors: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.errors = tuple(errors) or (message,)


class Conflict(Rejected):
    """Refused because of something already there (a duplicate number, a stale version)."""


class RemoteNotFound(ConnectorError):
    """The record asked for does not exist remotely (deleted there, or never created)."""


class BadSignature(ConnectorError):
    """An inbound webhook whose signature does not match: it is answered 401 and ignored."""


class Transient(ConnectorError):
    """A failure that may pass: a 5xx, a timeout, a dropped connection, an answer we could not read.
    The request may or may not have been applied; the engine looks up before creating again."""


@dataclass(frozen=True, slots=True)
class OAuthClient:
    client_id: str
    client_secret: str
    base_url: str | None = None  # None: the vendor's real endpoints; else a sandbox's


@dataclass(frozen=True, slots=True)
class SessionTarget:
    """Where a session talks to: the organisation and the token to use."""

    tenant_id: str
    access_token: str
    base_url: str | None = None


class ConnectorSession(Protocol):
    """One organisation, one access token."""

    def list_accounts(self) -> list[RemoteAccount]: ...

    def list_tax_rates(self) -> list[RemoteTaxRate]: ...

    def list_tracking_categories(self) -> list[RemoteTrackingCategory]: ...

    def find_contacts(self, contacts: Sequence[ContactData]) -> dict[uuid.UUID, str]:
        """Remote ids of the contacts that carry these ids of ours (``our_id``); the names are a hint for a
        system that can only search by name (then a contact found must still carry our id)."""
        ...

    def push_contacts(self, contacts: Sequence[ContactData], idempotency_key: str) -> list[PushResult]:
        """Create the contacts without ``external_id``, update the others."""
        ...

    def find_invoices(self, lookups: Sequence[DocumentLookup]) -> dict[uuid.UUID, RemoteDocument]:
        """The invoices that carry these ids of ours, by our id."""
        ...

    def push_invoices(self, invoices: Sequence[DocumentData], idempotency_key: str) -> list[PushResult]: ...

    def get_invoices(self, external_ids: Sequence[str]) -> list[RemoteDocument]: ...

    def invoice_pdf(self, external_id: str) -> bytes: ...

    def void_invoice(self, external_id: str, idempotency_key: str) -> RemoteDocument: ...

    def find_credit_notes(self, lookups: Sequence[DocumentLookup]) -> dict[uuid.UUID, RemoteDocument]: ...

    def push_credit_notes(self, credit_notes: Sequence[DocumentData], idempotency_key: str) -> list[PushResult]: ...

    def allocate_credit_note(self, allocation: AllocationData, idempotency_key: str) -> None: ...

    def find_payments(self, invoice_external_id: str) -> list[tuple[uuid.UUID | None, str]]:
        """(our id as stored in the payment's reference, remote id) of the payments on one invoice."""
        ...

    def push_payments(self, payments: Sequence[PaymentData], idempotency_key: str) -> list[PushResult]: ...

    def invoices_changed_since(self, since: datetime | None) -> Changes:
        """Sales invoices created or changed since ``since`` (all of them when None), with their payments."""
        ...


class OAuthFlow(Protocol):
    def authorize_url(self, state: str, redirect_uri: str) -> str: ...

    def exchange_code(self, code: str, redirect_uri: str) -> Tokens: ...

    def refresh(self, refresh_token: str) -> Tokens: ...

    def tenants(self, access_token: str, callback: Mapping[str, str]) -> list[Tenant]:
        """The organisations the consent covers. ``callback`` holds the query parameters the accounting system
        sent back to the redirect URI (QuickBooks names the company there, as ``realmId``)."""
        ...


@runtime_checkable
class Connector(Protocol):
    """What a connector package registers under the entry-point group ``flexbill.connectors``."""

    key: str  # e.g. "xero": the ``provider`` of a connection
    display_name: str
    # e.g. {"invoices", "credit_notes", "payments", "pdf", "webhooks", "tracking"}; with "drafts" the engine sends
    # draft invoices as drafts (the issue mode "draft"), without it it sends them once they are issued.
    capabilities: frozenset[str]

    def oauth(self, client: OAuthClient, http: httpx.Client) -> OAuthFlow: ...

    def open_session(self, target: SessionTarget, http: httpx.Client) -> ConnectorSession: ...

    def webhook_events(self, body: bytes, headers: dict[str, str], signing_key: str) -> list[WebhookEvent]:
        """The events of an inbound webhook, after checking its signature on the raw body (``BadSignature``
        otherwise). ``headers`` have lower-case names. An empty list is a valid delivery (Xero's intent to receive)."""
        ...
