"""What flexbill and an accounting system exchange, in flexbill's own terms: frozen values, no ORM rows, no HTTP.

A connector maps these to its vendor's wire format (``connectors/<vendor>/mapping.py``) and back. Amounts are
``Decimal`` in the document's currency; every line carries its tax amount, so the accounting system keeps ours
rather than computing a different total.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class SyncStatus(StrEnum):
    NOT_SYNCED = "not_synced"  # never sent (sync off or manual, or nothing asked for it yet)
    PENDING = "pending"  # a task will send it
    SYNCED = "synced"  # the accounting system holds it as we have it
    FAILED = "failed"  # the accounting system refused it; the error says why in its words
    OUT_OF_DATE = "out_of_date"  # synced once, changed here since (voided, paid, credited)


class RecordKind(StrEnum):
    CUSTOMER = "customer"
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"
    PAYMENT = "payment"


class Numbering(StrEnum):
    ACCOUNTING = "accounting"  # the accounting system numbers invoices and credit notes; we store its number
    FLEXBILL = "flexbill"  # we send our own numbers; a clash is an error


@dataclass(frozen=True, slots=True)
class TrackingChoice:
    category: str  # the accounting system's tracking category name, e.g. "Location"
    option: str  # e.g. "London"


@dataclass(frozen=True, slots=True)
class AccountMapping:
    """How our codes translate into the organisation's. Keys are our codes; values are the accounting system's."""

    accounts: Mapping[str, str] = field(default_factory=dict)  # revenue account code -> remote account code
    tax_rates: Mapping[str, str] = field(default_factory=dict)  # tax rate code -> remote tax type / tax code
    payment_account: str | None = None  # remote account code payments are recorded into
    tracking: Mapping[str, TrackingChoice] = field(default_factory=dict)  # location code -> tracking option


@dataclass(frozen=True, slots=True)
class Address:
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None  # ISO 3166 alpha-2


@dataclass(frozen=True, slots=True)
class ContactData:
    our_id: uuid.UUID  # the customer's id: the connector stores it remotely (Xero ContactNumber) to find it again
    name: str
    email: str
    tax_number: str | None = None
    address: Address = Address()
    external_id: str | None = None  # the remote id when we already know it (then it is an update)
    # The currency the contact is billed in, given when it is created for an invoice or credit note: books whose
    # customers have one currency (QuickBooks) need it, others may ignore it.
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class LineData:
    description: str
    quantity: Decimal
    unit_price: Decimal  # net or gross as the document's prices_include_tax says; up to 4 decimal places
    discount_amount: Decimal  # already taken off line_amount
    line_amount: Decimal  # quantity x unit price - discount, rounded to the currency; net or gross likewise
    tax_amount: Decimal
    account_code: str  # remote, already mapped
    tax_type: str  # remote, already mapped
    tracking: tuple[TrackingChoice, ...] = ()


@dataclass(frozen=True, slots=True)
class DocumentData:
    """An invoice or a credit note as it is sent."""

    our_id: uuid.UUID
    number: str | None  # None: the accounting system numbers it
    contact_external_id: str
    date: dt.date
    due_date: dt.date | None  # None for credit notes
    currency: str
    prices_include_tax: bool
    lines: tuple[LineData, ...]
    subtotal: Decimal
    tax_total: Decimal
    total: Decimal
    draft: bool = False  # send as a draft rather than approved (the issue mode is "draft")
    reference: str = ""  # shown to the customer; the connector may keep our id in it to find the document again
    external_id: str | None = None


@dataclass(frozen=True, slots=True)
class DocumentLookup:
    """What is known of an invoice or credit note we may have sent, to find it remotely by the id we keep on it.

    Our id is the key; the rest are hints for a system that cannot search by what a document carries (QuickBooks
    cannot query custom fields, so it narrows by customer and date first). A connector must still check our id
    on whatever it finds, never adopt a document on the hints alone."""

    our_id: uuid.UUID
    contact_external_id: str | None  # the customer's remote id, when known
    date: dt.date  # the document's date
    number: str | None = None  # our number when we number documents, else the remote number if we were told it


@dataclass(frozen=True, slots=True)
class PaymentData:
    """Money received against an invoice, or, with ``credit_note_external_id``, money paid back to the customer
    against a credit note (a refund)."""

    our_id: uuid.UUID
    invoice_external_id: str
    date: dt.date
    amount: Decimal
    account_code: str  # remote, from the mapping's payment account
    reference: str = ""
    credit_note_external_id: str | None = None


@dataclass(frozen=True, slots=True)
class AllocationData:
    """A credit note set against an invoice."""

    credit_note_external_id: str
    invoice_external_id: str
    amount: Decimal
    date: dt.date


@dataclass(frozen=True, slots=True)
class Pushed:
    """One record the accounting system accepted."""

    our_id: uuid.UUID
    external_id: str
    number: str | None = None
    total: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    """One record of a batch the accounting system refused, with its messages in its own words."""

    our_id: uuid.UUID
    errors: tuple[str, ...]
    conflict: bool = False  # refused because of something already there (a duplicate number): look it up first


PushResult = Pushed | Refused


@dataclass(frozen=True, slots=True)
class RemotePayment:
    external_id: str
    date: dt.date
    amount: Decimal
    reference: str = ""
    deleted: bool = False
    our_id: uuid.UUID | None = None  # recovered from what the connector stored remotely; None if not ours


@dataclass(frozen=True, slots=True)
class RemoteDocument:
    """An invoice (or credit note) as the accounting system holds it now."""

    external_id: str
    our_id: uuid.UUID | None  # recovered from what the connector stored remotely; None if not ours
    number: str | None
    status: str  # the vendor's own word, e.g. AUTHORISED, PAID, VOIDED
    total: Decimal
    amount_paid: Decimal
    amount_due: Decimal
    voided: bool
    payments: tuple[RemotePayment, ...] = ()
    updated_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class RemoteAccount:
    """Somewhere the books can put money: what a revenue account of ours maps to (``sales``: an account in Xero,
    a product or service in QuickBooks, whose own account the sale goes to) or what payments are recorded into
    (``payments``: a bank or clearing account). Codes are unique among those of one purpose."""

    code: str
    name: str
    type: str
    status: str = "ACTIVE"
    sales: bool = True
    payments: bool = True


@dataclass(frozen=True, slots=True)
class RemoteTaxRate:
    code: str  # what a line refers to (Xero TaxType, QuickBooks TaxCode id)
    name: str
    rate: Decimal  # effective percent
    status: str = "ACTIVE"


@dataclass(frozen=True, slots=True)
class RemoteTrackingCategory:
    name: str
    options: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_at: dt.datetime  # UTC


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed remotely since a moment, and the remote clock's reading to ask from next time."""

    documents: tuple[RemoteDocument, ...]
    as_of: dt.datetime


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One change the accounting system told us about. Events carry no data: the engine reads the record."""

    event_id: str  # stable across re-deliveries, to drop duplicates
    tenant_id: str
    category: str  # "invoice", "credit_note", "contact", "payment"
    resource_id: str  # the remote id
    event_type: str  # the vendor's word, e.g. CREATE, UPDATE
