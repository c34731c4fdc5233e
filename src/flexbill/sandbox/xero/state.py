"""The organisation held in memory, and Xero's rules for changing it.

One re-entrant lock guards the whole organisation: routes run in a thread pool and outside changes arrive
through the control endpoints at the same time, and a request must see (and leave) the books consistent.
Every change notes an event (contact, invoice or credit note created or updated) for the webhooks.

Batches follow Xero: each element is validated and saved on its own, so in a batch with a bad element the
good ones are still saved (there is no transaction across elements); the caller reports the failures.
"""

from __future__ import annotations

import random
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from flexbill.sandbox.xero import demo
from flexbill.sandbox.xero.model import (
    DOCUMENT_STATUSES,
    LINE_AMOUNT_TYPES,
    ZERO,
    Account,
    Allocation,
    Contact,
    Document,
    DocumentKind,
    Line,
    LineAmountTypes,
    Payment,
    TaxComponent,
    TaxRate,
    TrackingCategory,
    line_tax,
)
from flexbill.sandbox.xero.reader import Fields, is_guid, normal_id
from flexbill.sandbox.xero.wire import CENT, FOUR_PLACES, SIX_PLACES, Json, money, round_to

EventType = Literal["CREATE", "UPDATE"]
EventCategory = Literal["CONTACT", "INVOICE", "CREDITNOTE"]
Record = Contact | Document | Payment | Allocation | TaxRate

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ADDRESS_FIELDS = {
    "AddressLine1": 500, "AddressLine2": 500, "AddressLine3": 500, "AddressLine4": 500, "City": 255,
    "Region": 255, "PostalCode": 50, "Country": 50, "AttentionTo": 255,
}  # fmt: skip
_PHONE_FIELDS = {"PhoneNumber": 50, "PhoneAreaCode": 10, "PhoneCountryCode": 20}
_CONTACT_TEXT = {
    "ContactNumber": ("contact_number", 50), "AccountNumber": ("account_number", 50),
    "FirstName": ("first_name", 255), "LastName": ("last_name", 255), "CompanyNumber": ("company_number", 50),
    "TaxNumber": ("tax_number", 50), "BankAccountDetails": ("bank_account_details", 255),
    "SalesDefaultAccountCode": ("sales_default_account_code", 10),
    "AccountsReceivableTaxType": ("accounts_receivable_tax_type", 50),
}  # fmt: skip
_UNSAFE_CHANGES = ("LineItems", "Contact", "CurrencyCode", "CurrencyRate", "LineAmountTypes", "Date")
EDITED_WITH_MONEY = "This document cannot be edited as it has a payment or credit note allocated to it."


class Invalid(Exception):
    """The request breaks one of Xero's rules; ``messages`` are Xero's ValidationErrors."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


class Missing(Exception):
    """No such record (a 404)."""


class EventSink(Protocol):
    def __call__(
        self, category: EventCategory, event_type: EventType, resource_id: str, data: dict[str, str] | None
    ) -> None: ...


@dataclass
class Outcome:
    """What became of one element of a batch: the saved record, or the errors and the element as sent."""

    record: Record | None
    errors: list[str] = field(default_factory=list)
    data: Mapping[str, Json] = field(default_factory=dict)


class IdFactory:
    """New record ids: random, or from a seed so a rehearsal can be replayed with the same ids."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed) if seed is not None else None

    def __call__(self) -> str:
        if self._rng is None:
            return str(uuid.uuid4())
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))


def _label(kind: DocumentKind) -> str:
    return "Invoice" if kind == "invoice" else "Credit Note"


def _no_events(category: EventCategory, event_type: EventType, resource_id: str, data: dict[str, str] | None) -> None:
    return None


class Organisation:
    """One Xero organisation (tenant): settings, contacts, invoices, credit notes, payments and allocations."""

    def __init__(
        self,
        *,
        now: Callable[[], datetime],
        tenant_id: str,
        profile: demo.OrganisationProfile | None = None,
        ids: IdFactory | None = None,
        events: EventSink | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self._now = now
        self.tenant_id = tenant_id
        self.profile = profile or demo.OrganisationProfile()
        self.ids = ids or IdFactory()
        self.events: EventSink = events or _no_events
        self.created = now()
        self.reset()

    # -- housekeeping ------------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the demo organisation with no contacts or transactions (the tenant id is kept)."""
        with self.lock:
            now = self._now()
            self.accounts: dict[str, Account] = {a.account_id: a for a in demo.accounts(self.ids, now)}
            self.tax_rates: dict[str, TaxRate] = {t.tax_type: t for t in demo.tax_rates()}
            self.tracking: dict[str, TrackingCategory] = {t.category_id: t for t in demo.tracking(self.ids)}
            self.currencies = dict(demo.CURRENCY_RATES)
            self.contacts: dict[str, Contact] = {}
            self.invoices: dict[str, Document] = {}
            self.credit_notes: dict[str, Document] = {}
            self.payments: dict[str, Payment] = {}
            self.allocations: dict[str, Allocation] = {}
            self._sequence = 0  # invoices and credit notes share it: INV-0001, CN-0002, INV-0003

    def now(self) -> datetime:
        return self._now()

    def today(self) -> date:
        """Today where the organisation is (Xero defaults a document's date to it)."""
        return self._now().astimezone(ZoneInfo(demo.TIMEZONE)).date()

    def counts(self) -> dict[str, Any]:
        with self.lock:
            by_status: dict[str, int] = {}
            for doc in self.invoices.values():
                by_status[doc.status] = by_status.get(doc.status, 0) + 1
            return {
                "contacts": len(self.contacts),
                "invoices": len(self.invoices),
                "credit_notes": len(self.credit_notes),
                "payments": len(self.payments),
                "payments_deleted": sum(1 for p in self.payments.values() if p.status == "DELETED"),
                "allocations": sum(1 for a in self.allocations.values() if not a.is_deleted),
                "invoices_by_status": by_status,
            }

    def _emit(
        self, category: EventCategory, event_type: EventType, resource_id: str, data: dict[str, str] | None = None
    ) -> None:
        self.events(category, event_type, resource_id, data)

    def _emit_document(self, doc: Document, event_type: EventType) -> None:
        if doc.kind == "invoice":
            self._emit("INVOICE", event_type, doc.doc_id)
        else:
            self._emit("CREDITNOTE", event_type, doc.doc_id, {"Type": doc.type, "Status": doc.status})

    # -- lookups -----------------------------------------------------------------------------------------------

    def documents(self, kind: DocumentKind) -> dict[str, Document]:
        return self.invoices if kind == "invoice" else self.credit_notes

    def account_by_code(self, code: str) -> Account | None:
        wanted = code.strip().upper()
        return next((a for a in self.accounts.values() if a.code.upper() == wanted and a.status != "DELETED"), None)

    def account_by_id(self, account_id: str) -> Account | None:
        return self.accounts.get(normal_id(account_id)) if is_guid(account_id) else None

    def tax_rate(self, tax_type: str) -> TaxRate | None:
        wanted = tax_type.strip().upper()
        return next((t for t in self.tax_rates.values() if t.tax_type.upper() == wanted), None)

    def contact(self, identifier: str) -> Contact | None:
        """A contact by ContactID or ContactNumber (``GET /Contacts/{either}``)."""
        if is_guid(identifier):
            found = self.contacts.get(normal_id(identifier))
            if found is not None:
                return found
        return self._contact_by_number(identifier)

    def _contact_by_number(self, number: str) -> Contact | None:
        wanted = number.strip().casefold()
        return next((c for c in self.contacts.values() if (c.contact_number or "").casefold() == wanted), None)

    def _active_contact_named(self, name: str, *, other_than: str | None = None) -> Contact | None:
        wanted = " ".join(name.split()).casefold()
        return next(
            (
                c
                for c in self.contacts.values()
                if c.status == "ACTIVE" and c.contact_id != other_than and " ".join(c.name.split()).casefold() == wanted
            ),
            None,
        )

    def document(self, kind: DocumentKind, identifier: str) -> Document | None:
        """An invoice or credit note by id or by number (``GET /Invoices/{InvoiceID or InvoiceNumber}``)."""
        docs = self.documents(kind)
        if is_guid(identifier):
            found = docs.get(normal_id(identifier))
            if found is not None:
                return found
        return self._document_numbered(kind, identifier)

    def _document_numbered(self, kind: DocumentKind, number: str) -> Document | None:
        wanted = number.strip().casefold()
        live = [d for d in self.documents(kind).values() if d.number.casefold() == wanted]
        return next((d for d in live if d.status != "DELETED"), live[0] if live else None)

    def _number_taken(self, kind: DocumentKind, number: str, *, other_than: str | None = None) -> bool:
        """Numbers are unique among sales documents of a kind; a deleted document's number may be used again."""
        wanted = number.casefold()
        return any(
            d.number.casefold() == wanted and d.status != "DELETED" and d.doc_id != other_than
            for d in self.documents(kind).values()
        )

    def _next_number(self, kind: DocumentKind) -> str:
        prefix = "INV-" if kind == "invoice" else "CN-"
        while True:
            self._sequence += 1
            candidate = f"{prefix}{self._sequence:04d}"
            if not any(d.number.casefold() == candidate.casefold() for d in self.documents(kind).values()):
                return candidate

    # -- contacts ----------------------------------------------------------------------------------------------

    def save_contacts(self, items: Iterable[Json], *, create_only: bool) -> list[Outcome]:
        with self.lock:
            return [self._save_contact(item, create_only=create_only) for item in items]

    def update_contact(self, identifier: str, data: Json) -> Outcome:
        """``POST /Contacts/{ContactID}``: the path names the contact."""
        with self.lock:
            contact = self.contact(identifier)
            if contact is None:
                raise Missing(identifier)
            if not isinstance(data, Mapping):
                return Outcome(None, ["A contact must be a JSON object"], {})
            errors: list[str] = []
            return self._apply_contact(contact, Fields(data, errors), data)

    def _save_contact(self, item: Json, *, create_only: bool) -> Outcome:
        if not isinstance(item, Mapping):
            return Outcome(None, ["A contact must be a JSON object"], {})
        errors: list[str] = []
        fields = Fields(item, errors)
        if not create_only:
            contact_id = fields.guid("ContactID")
            if contact_id is not None:
                existing = self.contacts.get(contact_id)
                if existing is None:
                    return Outcome(None, [f"The contact with ContactID {contact_id} could not be found"], item)
                return self._apply_contact(existing, fields, item)
            number = fields.text("ContactNumber")
            existing = self._contact_by_number(number) if number else None
            if existing is not None:
                return self._apply_contact(existing, fields, item)
        changes = self._read_contact(fields, None)
        if errors:
            return Outcome(None, errors, item)
        return Outcome(self._create_contact(changes))

    def _create_contact(self, changes: dict[str, Any]) -> Contact:
        now = self._now()
        contact = Contact(contact_id=self.ids(), name=changes.pop("name"), created=now, updated=now)
        for name, value in changes.items():
            setattr(contact, name, value)
        self.contacts[contact.contact_id] = contact
        self._emit("CONTACT", "CREATE", contact.contact_id)
        return contact

    def _apply_contact(self, contact: Contact, fields: Fields, item: Mapping[str, Json]) -> Outcome:
        changes = self._read_contact(fields, contact)
        if fields.errors:
            return Outcome(None, fields.errors, item)
        changed = {name: value for name, value in changes.items() if getattr(contact, name) != value}
        if changed:
            for name, value in changed.items():
                setattr(contact, name, value)
            contact.updated = self._now()
            self._emit("CONTACT", "UPDATE", contact.contact_id)
        return Outcome(contact)

    def _read_contact(self, fields: Fields, current: Contact | None) -> dict[str, Any]:
        """The contact's attributes as the request sets them, checked against the organisation's rules."""
        errors = fields.errors
        changes: dict[str, Any] = {}
        raw_name = fields.get("Name")
        name = fields.text("Name", max_length=255)
        if name:
            changes["name"] = name
        elif (raw_name is None and current is None) or (isinstance(raw_name, str) and not raw_name.strip()):
            errors.append("The contact name must be specified")
        status = fields.text("ContactStatus")
        if status is not None:
            if status.upper() not in ("ACTIVE", "ARCHIVED"):
                errors.append("ContactStatus must be ACTIVE or ARCHIVED")
            else:
                changes["status"] = status.upper()
        final_name = changes.get("name", current.name if current else None)
        final_status = changes.get("status", current.status if current else "ACTIVE")
        if final_name and final_status == "ACTIVE":
            clash = self._active_contact_named(final_name, other_than=current.contact_id if current else None)
            if clash is not None:
                errors.append(
                    f"The contact name {final_name} is already assigned to another contact. "
                    "The contact name must be unique across all active contacts."
                )
        for wire_name, (attribute, max_length) in _CONTACT_TEXT.items():
            if fields.has(wire_name):
                changes[attribute] = fields.text(wire_name, max_length=max_length) or None
        number = changes.get("contact_number")
        if number:
            other = self._contact_by_number(number)
            if other is not None and (current is None or other.contact_id != current.contact_id):
                errors.append(f"The contact number {number} is already assigned to another contact.")
        if fields.has("EmailAddress"):
            email = fields.text("EmailAddress", max_length=255) or None
            if email is not None and not _EMAIL.match(email):
                errors.append("Email address must be valid.")
            changes["email"] = email
        if fields.has("DefaultCurrency"):
            currency = (fields.text("DefaultCurrency") or "").upper() or None
            if currency is not None and currency not in self.currencies:
                errors.append(f"Organisation is not subscribed to currency {currency}")
            changes["default_currency"] = currency
        tax_type = changes.get("accounts_receivable_tax_type")
        if tax_type and self.tax_rate(tax_type) is None:
            errors.append(
                f"The TaxType code '{tax_type}' does not exist or cannot be used for this type of transaction."
            )
        if fields.has("Addresses"):
            changes["addresses"] = self._read_parts(
                fields.items("Addresses"),
                "Addresses",
                "AddressType",
                ("POBOX", "STREET"),
                _ADDRESS_FIELDS,
                current.addresses if current else [],
                errors,
            )
        if fields.has("Phones"):
            changes["phones"] = self._read_parts(
                fields.items("Phones"),
                "Phones",
                "PhoneType",
                ("DEFAULT", "DDI", "MOBILE", "FAX", "OFFICE"),
                _PHONE_FIELDS,
                current.phones if current else [],
                errors,
            )
        if fields.has("ContactPersons"):
            changes["persons"] = self._read_persons(fields.items("ContactPersons") or [], errors)
        return changes

    @staticmethod
    def _read_parts(
        items: list[Json] | None,
        what: str,
        type_field: str,
        types: tuple[str, ...],
        limits: Mapping[str, int],
        current: list[dict[str, str]],
        errors: list[str],
    ) -> list[dict[str, str]]:
        """Addresses and phones: one per type; a request replaces the types it names and keeps the others."""
        merged = {part[type_field]: dict(part) for part in current}
        for raw in items or []:
            if not isinstance(raw, Mapping):
                errors.append(f"Each of {what} must be an object")
                continue
            part = Fields(raw, errors)
            kind = (part.text(type_field) or "").upper()
            if kind not in types:
                errors.append(f"{type_field} must be one of {', '.join(types)}")
                continue
            entry = {type_field: kind}
            for name, max_length in limits.items():
                value = part.text(name, max_length=max_length)
                if value:
                    entry[name] = value
            merged[kind] = entry
        return [merged[kind] for kind in types if kind in merged]

    @staticmethod
    def _read_persons(items: list[Json], errors: list[str]) -> list[dict[str, object]]:
        persons: list[dict[str, object]] = []
        for raw in items:
            if not isinstance(raw, Mapping):
                errors.append("Each of ContactPersons must be an object")
                continue
            part = Fields(raw, errors)
            person: dict[str, object] = {}
            for name in ("FirstName", "LastName", "EmailAddress"):
                value = part.text(name, max_length=255)
                if value:
                    person[name] = value
            person["IncludeInEmails"] = bool(part.flag("IncludeInEmails"))
            persons.append(person)
        return persons

    # -- invoices and credit notes -----------------------------------------------------------------------------

    def save_documents(
        self, kind: DocumentKind, items: Iterable[Json], *, create_only: bool, unitdp: int, client_id: str | None
    ) -> list[Outcome]:
        with self.lock:
            return [
                self._save_document(kind, item, create_only=create_only, unitdp=unitdp, client_id=client_id)
                for item in items
            ]

    def update_document(self, kind: DocumentKind, identifier: str, data: Json, *, unitdp: int) -> Outcome:
        """``POST /Invoices/{InvoiceID}`` (and credit notes): the path names the document."""
        with self.lock:
            doc = self.document(kind, identifier)
            if doc is None:
                raise Missing(identifier)
            if not isinstance(data, Mapping):
                return Outcome(None, [f"An {_label(kind).lower()} must be a JSON object"], {})
            return self._update_document(doc, Fields(data, []), data, unitdp=unitdp)

    def _save_document(
        self, kind: DocumentKind, item: Json, *, create_only: bool, unitdp: int, client_id: str | None
    ) -> Outcome:
        if not isinstance(item, Mapping):
            return Outcome(None, [f"An {_label(kind).lower()} must be a JSON object"], {})
        fields = Fields(item, [])
        if not create_only:
            id_field, number_field = _id_fields(kind)
            doc_id = fields.guid(id_field)
            if doc_id is not None:
                existing = self.documents(kind).get(doc_id)
                if existing is None:
                    return Outcome(None, [f"{_label(kind)} with {id_field} {doc_id} could not be found"], item)
                return self._update_document(existing, fields, item, unitdp=unitdp)
            number = fields.text(number_field)
            existing = self._document_numbered(kind, number) if number else None
            if existing is not None and existing.status != "DELETED":
                return self._update_document(existing, fields, item, unitdp=unitdp)
        return self._create_document(kind, fields, item, unitdp=unitdp, client_id=client_id)

    def _create_document(
        self, kind: DocumentKind, fields: Fields, item: Mapping[str, Json], *, unitdp: int, client_id: str | None
    ) -> Outcome:
        errors = fields.errors
        label = _label(kind)
        expected_type = "ACCREC" if kind == "invoice" else "ACCRECCREDIT"
        doc_type = (fields.text("Type") or "").upper()
        if not doc_type:
            errors.append(f"{label} Type must be specified")
        elif doc_type != expected_type:
            if doc_type in ("ACCPAY", "ACCPAYCREDIT"):
                errors.append(f"This sandbox holds sales documents only; use Type {expected_type}")
            else:
                errors.append(f"{label} Type '{doc_type}' is not valid; use {expected_type}")
        contact_or_new = self._document_contact(fields.obj("Contact"), errors)
        status = (fields.text("Status") or "DRAFT").upper()
        if status not in ("DRAFT", "SUBMITTED", "AUTHORISED"):
            errors.append(f"{label} not of valid status for creation")
        header = self._read_header(kind, fields, current=None)
        lines = self._read_lines(fields, header["line_amount_types"], unitdp, current=None)
        if not fields.get("LineItems"):
            errors.append("One or more line items must be specified")
        draft = Document(
            doc_id="",
            kind=kind,
            type=expected_type,
            number=header.get("number") or "",
            contact_id="",
            status=status,
            lines=lines,
            created=self._now(),
            updated=self._now(),
            **{k: v for k, v in header.items() if k != "number"},
        )
        self._check_document(draft, errors)
        if errors:
            return Outcome(None, errors, item)
        contact = (
            contact_or_new if isinstance(contact_or_new, Contact) else self._create_contact(dict(contact_or_new or {}))
        )
        contact.is_customer = True
        now = self._now()
        doc = replace(
            draft,
            doc_id=self.ids(),
            contact_id=contact.contact_id,
            number=draft.number or self._next_number(kind),
            created=now,
            updated=now,
            created_by=client_id,
        )
        _settle_if_nothing_due(doc)
        self.documents(kind)[doc.doc_id] = doc
        self._emit_document(doc, "CREATE")
        return Outcome(doc)

    def _update_document(self, doc: Document, fields: Fields, item: Mapping[str, Json], *, unitdp: int) -> Outcome:
        errors = fields.errors
        label = _label(doc.kind)
        target = (fields.text("Status") or doc.status).upper()
        if target not in DOCUMENT_STATUSES:
            errors.append(f"Status '{target}' is not valid")
            return Outcome(None, errors, item)
        not_modifiable = f"{label} not of valid status for modification"
        touches_money = any(fields.has(name) for name in _UNSAFE_CHANGES)
        if doc.status in ("VOIDED", "DELETED"):
            errors.append(not_modifiable)
        elif doc.status == "PAID":
            harmless = fields.only("Status", "SentToContact", "Type", *_id_fields(doc.kind))
            if target != "PAID" or not harmless:
                errors.append(EDITED_WITH_MONEY if target == "VOIDED" else not_modifiable)
        elif doc.status == "AUTHORISED":
            if target not in ("AUTHORISED", "VOIDED"):
                errors.append(not_modifiable)
            elif doc.has_money_applied and (target == "VOIDED" or touches_money):
                errors.append(EDITED_WITH_MONEY)
        elif target not in ("DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"):
            errors.append(not_modifiable)
        if errors:
            return Outcome(None, errors, item)
        contact_id = doc.contact_id
        new_contact: dict[str, Any] | None = None
        if fields.has("Contact"):
            found = self._document_contact(fields.obj("Contact"), errors)
            if isinstance(found, Contact):
                contact_id = found.contact_id
            elif found is not None:
                new_contact = dict(found)
        header = self._read_header(doc.kind, fields, current=doc)
        lines = doc.lines
        if fields.has("LineItems"):
            lines = self._read_lines(fields, header["line_amount_types"], unitdp, current=doc)
            if not fields.get("LineItems"):
                errors.append("One or more line items must be specified")
        elif header["line_amount_types"] != doc.line_amount_types:
            lines = [self._retax(line, header["line_amount_types"]) for line in lines]
        number = header.pop("number", None) or doc.number
        candidate = replace(doc, status=target, lines=lines, contact_id=contact_id, number=number, **header)
        if target not in ("DELETED", "VOIDED"):
            self._check_document(candidate, errors)
        if errors:
            return Outcome(None, errors, item)
        if new_contact is not None:
            candidate.contact_id = self._create_contact(new_contact).contact_id
        if candidate == doc:
            return Outcome(doc)
        if target == "VOIDED" or target == "DELETED":
            candidate = replace(candidate, fully_paid_on=None)
        _settle_if_nothing_due(candidate)
        candidate.updated = self._now()
        self.documents(doc.kind)[doc.doc_id] = candidate
        self.contacts[candidate.contact_id].is_customer = True
        self._emit_document(candidate, "UPDATE")
        return Outcome(candidate)

    def _document_contact(self, fields: Fields | None, errors: list[str]) -> Contact | dict[str, Any] | None:
        """The contact a document names: by ContactID, by ContactNumber, or by Name (created when new)."""
        if fields is None:
            errors.append("A Contact must be specified for this type of transaction")
            return None
        contact_id = fields.guid("ContactID")
        if contact_id is not None:
            found = self.contacts.get(contact_id)
            if found is None:
                errors.append(f"The contact with ContactID {contact_id} could not be found")
            elif found.status != "ACTIVE":
                errors.append(f"The contact {found.name} is archived; restore it before using it on a transaction")
            return found
        number = fields.text("ContactNumber")
        if number:
            found = self._contact_by_number(number)
            if found is not None:
                return found
            if not fields.text("Name"):
                errors.append(f"The contact with ContactNumber {number} could not be found")
                return None
        name = fields.text("Name")
        if not name:
            errors.append("A Contact must be specified for this type of transaction")
            return None
        found = self._active_contact_named(name)
        if found is not None:
            return found
        return self._read_contact(fields, None)

    def _read_header(self, kind: DocumentKind, fields: Fields, *, current: Document | None) -> dict[str, Any]:
        errors = fields.errors
        header: dict[str, Any] = {}
        header["date"] = fields.day("Date") or (current.date if current else self.today())
        header["due_date"] = fields.day("DueDate") if fields.has("DueDate") else (current.due_date if current else None)
        if fields.has("ExpectedPaymentDate"):
            header["expected_payment_date"] = fields.day("ExpectedPaymentDate")
        amount_types_text = fields.text("LineAmountTypes")
        amount_types: LineAmountTypes = current.line_amount_types if current else "Exclusive"
        if amount_types_text:
            found = LINE_AMOUNT_TYPES.get(amount_types_text.lower())
            if found is None:
                errors.append("LineAmountTypes must be Exclusive, Inclusive or NoTax")
            else:
                amount_types = found
        header["line_amount_types"] = amount_types
        currency = (fields.text("CurrencyCode") or (current.currency_code if current else demo.BASE_CURRENCY)).upper()
        if currency not in self.currencies:
            errors.append(f"Organisation is not subscribed to currency {currency}")
            currency = demo.BASE_CURRENCY
        header["currency_code"] = currency
        rate = fields.number("CurrencyRate")
        if rate is not None and rate <= ZERO:
            errors.append("CurrencyRate must be greater than zero")
            rate = None
        if currency == demo.BASE_CURRENCY:
            rate = Decimal(1)
        elif rate is None:
            rate = current.currency_rate if current and current.currency_code == currency else self.currencies[currency]
        header["currency_rate"] = round_to(rate, SIX_PLACES)
        number_field = _id_fields(kind)[1]
        number = fields.text(number_field, max_length=255)
        if number:
            if self._number_taken(kind, number, other_than=current.doc_id if current else None):
                errors.append(f"{_label(kind)} # must be unique.")
            header["number"] = number
        for wire_name, attribute in (("Reference", "reference"), ("Url", "url")):
            if fields.has(wire_name):
                header[attribute] = fields.text(wire_name, max_length=255) or None
        if fields.has("BrandingThemeID"):
            header["branding_theme_id"] = fields.guid("BrandingThemeID")
        sent = fields.flag("SentToContact")
        if sent is not None:
            header["sent_to_contact"] = sent
        return header

    def _read_lines(
        self, fields: Fields, amount_types: LineAmountTypes, unitdp: int, *, current: Document | None
    ) -> list[Line]:
        errors = fields.errors
        raw_lines = fields.items("LineItems") or []
        existing = {line.line_id: line for line in current.lines} if current else {}
        lines: list[Line] = []
        unit_places = FOUR_PLACES if unitdp == 4 else CENT
        for raw in raw_lines:
            if not isinstance(raw, Mapping):
                errors.append("Each line item must be an object")
                continue
            line_fields = Fields(raw, errors)
            line_id = line_fields.guid("LineItemID")
            base = existing.get(line_id) if line_id else None
            if line_id and current is not None and base is None:
                errors.append(f"Could not find line item(s) with LineItemID {line_id}")
                continue
            line = self._read_line(line_fields, base, amount_types, unit_places)
            if line is not None:
                lines.append(line)
        return lines

    def _read_line(
        self, fields: Fields, base: Line | None, amount_types: LineAmountTypes, unit_places: Decimal
    ) -> Line | None:
        errors = fields.errors
        before = len(errors)
        description = fields.text("Description", max_length=4000) if fields.has("Description") else None
        if description is None and base is not None and not fields.has("Description"):
            description = base.description
        item_code = fields.text("ItemCode")
        if item_code:
            errors.append(f"Item code '{item_code}' is not valid (the sandbox organisation has no items)")
        if not description:
            errors.append("The description field is mandatory for each line item.")
        quantity = fields.number("Quantity")
        unit_amount = fields.number("UnitAmount")
        given_amount = fields.number("LineAmount")
        if unit_amount is not None:
            unit_amount = round_to(unit_amount, unit_places)
        if base is not None:  # an update keeps what it does not mention (and the precision it was saved with)
            quantity = base.quantity if quantity is None and not fields.has("Quantity") else quantity
            unit_amount = base.unit_amount if unit_amount is None and not fields.has("UnitAmount") else unit_amount
        if quantity is None and unit_amount is None and given_amount is not None:
            quantity, unit_amount = Decimal(1), round_to(given_amount, unit_places)
        if quantity is None:
            quantity = Decimal(1) if unit_amount is not None else ZERO
        quantity = round_to(quantity, FOUR_PLACES)
        unit_amount = unit_amount if unit_amount is not None else round_to(ZERO, unit_places)
        discount_rate = fields.number("DiscountRate")
        discount_amount = fields.number("DiscountAmount")
        if base is not None and not fields.has("DiscountRate") and not fields.has("DiscountAmount"):
            discount_rate, discount_amount = base.discount_rate, base.discount_amount
        if discount_rate is not None and not ZERO <= discount_rate <= 100:
            errors.append("DiscountRate must be between 0 and 100")
            discount_rate = None
        if discount_rate is not None and discount_amount is not None:
            errors.append("Give either DiscountRate or DiscountAmount on a line, not both")
        gross = quantity * unit_amount
        if discount_rate is not None:
            line_amount = money(gross * (100 - discount_rate) / 100)
        elif discount_amount is not None:
            line_amount = money(money(gross) - money(discount_amount))
        else:
            line_amount = money(gross)
        if given_amount is not None and money(given_amount) != line_amount:
            errors.append(
                f"The line amount {money(given_amount)} does not match the quantity times the unit amount "
                f"less any discount ({line_amount})"
            )
        account = self._line_account(fields, base)
        tax_type = self._line_tax_type(fields, base, account, amount_types)
        rate = self.tax_rate(tax_type)
        given_tax = fields.number("TaxAmount")
        if amount_types == "NoTax":
            tax_amount = money(ZERO)
        elif given_tax is not None:
            tax_amount = money(given_tax)
        else:
            tax_amount = line_tax(line_amount, rate.effective_rate if rate else ZERO, amount_types)
        tracking = self._line_tracking(fields, base)
        if len(errors) > before:
            return None
        return Line(
            line_id=base.line_id if base else self.ids(),
            description=description or "",
            quantity=quantity,
            unit_amount=unit_amount,
            line_amount=line_amount,
            tax_type=tax_type,
            tax_amount=tax_amount,
            account_code=account.code if account else None,
            account_id=account.account_id if account else None,
            discount_rate=round_to(discount_rate, CENT) if discount_rate is not None else None,
            discount_amount=money(discount_amount) if discount_amount is not None else None,
            tracking=tracking,
        )

    def _line_account(self, fields: Fields, base: Line | None) -> Account | None:
        code = fields.text("AccountCode")
        account_id = fields.text("AccountID")
        if code:
            account = self.account_by_code(code)
            label = code
        elif account_id:
            account = self.account_by_id(account_id)
            label = account_id
        else:
            if base is not None and not fields.has("AccountCode") and base.account_code:
                return self.account_by_code(base.account_code)
            return None
        if account is None or not account.usable_on_sales:
            fields.errors.append(f"Account code '{label}' is not a valid code for this document.")
            return None
        return account

    def _line_tax_type(
        self, fields: Fields, base: Line | None, account: Account | None, amount_types: LineAmountTypes
    ) -> str:
        if amount_types == "NoTax":
            return "NONE"
        tax_type = fields.text("TaxType")
        if tax_type:
            rate = self.tax_rate(tax_type)
            if rate is None or rate.status != "ACTIVE" or not rate.can_apply_to_revenue:
                fields.errors.append(
                    f"The TaxType code '{tax_type}' does not exist or cannot be used for this type of transaction."
                )
                return "NONE"
            return rate.tax_type
        if base is not None and not fields.has("AccountCode") and not fields.has("AccountID"):
            return base.tax_type
        return account.tax_type if account is not None else "NONE"

    def _line_tracking(self, fields: Fields, base: Line | None) -> list[tuple[str, str]]:
        if not fields.has("Tracking"):
            return list(base.tracking) if base is not None else []
        items = fields.items("Tracking") or []
        if len(items) > 2:
            fields.errors.append("A line item can have at most 2 tracking categories")
            return []
        chosen: list[tuple[str, str]] = []
        for raw in items:
            if not isinstance(raw, Mapping):
                fields.errors.append("Each tracking entry must be an object")
                continue
            entry = Fields(raw, fields.errors)
            category_id = entry.guid("TrackingCategoryID")
            category_name = entry.text("Name")
            category = (
                self.tracking.get(category_id)
                if category_id
                else next(
                    (c for c in self.tracking.values() if c.name.casefold() == (category_name or "").casefold()), None
                )
            )
            if category is None or category.status != "ACTIVE":
                fields.errors.append(f"Tracking category '{category_id or category_name}' does not exist")
                continue
            option_id = entry.guid("TrackingOptionID")
            option_name = entry.text("Option")
            option = (
                next((o for o in category.options if o.option_id == option_id and o.status == "ACTIVE"), None)
                if option_id
                else category.option_named(option_name or "")
            )
            if option is None:
                fields.errors.append(
                    f"Tracking option '{option_id or option_name}' is not an option of the category '{category.name}'"
                )
                continue
            chosen.append((category.category_id, option.option_id))
        return chosen

    def _retax(self, line: Line, amount_types: LineAmountTypes) -> Line:
        tax_type = "NONE" if amount_types == "NoTax" else line.tax_type
        rate = self.tax_rate(tax_type)
        tax = line_tax(line.line_amount, rate.effective_rate if rate else ZERO, amount_types)
        return replace(line, tax_type=tax_type, tax_amount=tax)

    def _check_document(self, doc: Document, errors: list[str]) -> None:
        """Rules on the document as a whole once its lines are known."""
        if doc.status in ("SUBMITTED", "AUTHORISED"):
            if doc.kind == "invoice" and doc.due_date is None:
                errors.append("DueDate must be specified for an approved invoice")
            if any(line.account_code is None and line.line_amount != ZERO for line in doc.lines):
                errors.append("Account must be valid.")
        if doc.lines and doc.total < ZERO:
            errors.append(f"The total of the {_label(doc.kind).lower()} must not be negative")

    # -- payments ----------------------------------------------------------------------------------------------

    def create_payments(self, items: Iterable[Json], *, client_id: str | None) -> list[Outcome]:
        with self.lock:
            return [self._create_payment(item, client_id=client_id) for item in items]

    def _create_payment(self, item: Json, *, client_id: str | None) -> Outcome:
        if not isinstance(item, Mapping):
            return Outcome(None, ["A payment must be a JSON object"], {})
        errors: list[str] = []
        fields = Fields(item, errors)
        doc = self._payment_document(fields)
        account = self._payment_account(fields)
        amount = fields.number("Amount")
        when = fields.day("Date") or self.today()
        reference = fields.text("Reference", max_length=255)
        reconciled = bool(fields.flag("IsReconciled"))
        status = (fields.text("Status") or "AUTHORISED").upper()
        if status != "AUTHORISED":
            errors.append("A new payment must have the status AUTHORISED")
        if amount is None or amount <= ZERO:
            errors.append("Payment amount must be greater than zero")
        if doc is not None:
            if doc.status != "AUTHORISED":
                errors.append("Payments can only be made against Authorised documents")
            elif amount is not None and money(amount) > doc.outstanding:
                errors.append("Payment amount exceeds the amount outstanding on this document")
        rate = fields.number("CurrencyRate")
        if errors or doc is None or account is None or amount is None:
            return Outcome(None, errors, item)
        now = self._now()
        payment = Payment(
            payment_id=self.ids(),
            doc_kind=doc.kind,
            doc_id=doc.doc_id,
            account_id=account.account_id,
            date=when,
            amount=money(amount),
            currency_rate=round_to(rate or doc.currency_rate, SIX_PLACES),
            payment_type="ACCRECPAYMENT" if doc.kind == "invoice" else "ARCREDITPAYMENT",
            created=now,
            updated=now,
            reference=reference or None,
            is_reconciled=reconciled,
            created_by=client_id,
        )
        self.payments[payment.payment_id] = payment
        doc.payment_ids.append(payment.payment_id)
        doc.amount_paid = money(doc.amount_paid + payment.amount)
        self._after_money_moved(doc, when)
        return Outcome(payment)

    def _payment_document(self, fields: Fields) -> Document | None:
        errors = fields.errors
        targets: tuple[tuple[DocumentKind, str], ...] = (("invoice", "Invoice"), ("credit_note", "CreditNote"))
        for kind, object_name in targets:
            id_field, number_field = _id_fields(kind)
            target = fields.obj(object_name)
            doc_id = target.guid(id_field) if target else None
            number = (target.text(number_field) if target else None) or fields.text(number_field)
            if doc_id or number:
                doc = self.documents(kind).get(doc_id) if doc_id else self._document_numbered(kind, number or "")
                if doc is None:
                    errors.append(f"{_label(kind)} could not be found")
                return doc
        errors.append("A payment must name an Invoice or a CreditNote")
        return None

    def _payment_account(self, fields: Fields) -> Account | None:
        target = fields.obj("Account")
        account_id = target.guid("AccountID") if target else None
        code = (target.text("Code") if target else None) or fields.text("Code")
        account = self.accounts.get(account_id) if account_id else (self.account_by_code(code) if code else None)
        if account is None:
            fields.errors.append("Account could not be found")
            return None
        if not account.takes_payments:
            fields.errors.append("Account type is invalid for making a payment to/from")
            return None
        return account

    def delete_payment(self, payment_id: str, *, as_user: bool = False) -> Payment:
        """``POST /Payments/{id}`` with Status DELETED; a user in Xero may also remove a reconciled payment."""
        with self.lock:
            payment = self.payments.get(normal_id(payment_id)) if is_guid(payment_id) else None
            if payment is None:
                raise Missing(payment_id)
            if payment.status == "DELETED":
                raise Invalid(["This payment has already been deleted"])
            if payment.is_reconciled and not as_user:
                raise Invalid(["This payment has been reconciled and cannot be deleted"])
            payment.status = "DELETED"
            payment.updated = self._now()
            doc = self.documents(payment.doc_kind)[payment.doc_id]
            doc.amount_paid = money(doc.amount_paid - payment.amount)
            self._after_money_moved(doc, None)
            return payment

    def _after_money_moved(self, doc: Document, when: date | None) -> None:
        """A payment or allocation changed what is outstanding: the document turns PAID at zero, back when not."""
        if doc.outstanding == ZERO and doc.status == "AUTHORISED":
            doc.status = "PAID"
            doc.fully_paid_on = when or self.today()
        elif doc.outstanding > ZERO and doc.status == "PAID":
            doc.status = "AUTHORISED"
            doc.fully_paid_on = None
        doc.updated = self._now()
        self._emit_document(doc, "UPDATE")

    # -- credit note allocations -------------------------------------------------------------------------------

    def allocate(self, credit_note_id: str, items: Iterable[Json]) -> list[Outcome]:
        with self.lock:
            credit_note = self.document("credit_note", credit_note_id)
            if credit_note is None:
                raise Missing(credit_note_id)
            return [self._allocate(credit_note, item) for item in items]

    def _allocate(self, credit_note: Document, item: Json) -> Outcome:
        if not isinstance(item, Mapping):
            return Outcome(None, ["An allocation must be a JSON object"], {})
        errors: list[str] = []
        fields = Fields(item, errors)
        target = fields.obj("Invoice")
        invoice_id = target.guid("InvoiceID") if target else None
        number = target.text("InvoiceNumber") if target else None
        invoice = (
            self.invoices.get(invoice_id)
            if invoice_id
            else (self._document_numbered("invoice", number) if number else None)
        )
        amount = fields.number("Amount")
        when = fields.day("Date") or self.today()
        if invoice is None:
            errors.append("The invoice to allocate the credit note to could not be found")
        if amount is None or amount <= ZERO:
            errors.append("Allocation amount must be greater than zero")
        if credit_note.status != "AUTHORISED":
            errors.append("Only an authorised credit note with credit remaining can be allocated")
        if invoice is not None and amount is not None and amount > ZERO:
            if invoice.status == "PAID":
                errors.append("The invoice you are trying to allocate to has already been paid off")
            elif invoice.status != "AUTHORISED":
                errors.append("A credit note can only be allocated to an authorised invoice")
            elif invoice.contact_id != credit_note.contact_id:
                errors.append("A credit note can only be allocated to an invoice of the same contact")
            elif invoice.currency_code != credit_note.currency_code:
                errors.append("A credit note can only be allocated to an invoice in the same currency")
            elif money(amount) > invoice.outstanding or money(amount) > credit_note.outstanding:
                errors.append("Credit Note cannot be allocated as amount is greater than amount outstanding")
        if errors or invoice is None or amount is None:
            return Outcome(None, errors, item)
        allocation = Allocation(self.ids(), credit_note.doc_id, invoice.doc_id, money(amount), when, self._now())
        self.allocations[allocation.allocation_id] = allocation
        for doc in (invoice, credit_note):
            doc.allocation_ids.append(allocation.allocation_id)
            doc.amount_credited = money(doc.amount_credited + allocation.amount)
            self._after_money_moved(doc, when)
        return Outcome(allocation)

    def delete_allocation(self, credit_note_id: str, allocation_id: str) -> Allocation:
        with self.lock:
            credit_note = self.document("credit_note", credit_note_id)
            allocation = self.allocations.get(normal_id(allocation_id)) if is_guid(allocation_id) else None
            if credit_note is None or allocation is None or allocation.credit_note_id != credit_note.doc_id:
                raise Missing(allocation_id)
            if allocation.is_deleted:
                raise Invalid(["This allocation has already been deleted"])
            allocation.is_deleted = True
            for doc in (self.invoices[allocation.invoice_id], credit_note):
                doc.amount_credited = money(doc.amount_credited - allocation.amount)
                self._after_money_moved(doc, None)
            return allocation

    # -- tax rates ---------------------------------------------------------------------------------------------

    def create_tax_rates(self, items: Iterable[Json]) -> list[Outcome]:
        """``PUT /TaxRates``: a custom rate gets the next free TAX00n code, as in Xero."""
        with self.lock:
            return [self._create_tax_rate(item) for item in items]

    def _create_tax_rate(self, item: Json) -> Outcome:
        if not isinstance(item, Mapping):
            return Outcome(None, ["A tax rate must be a JSON object"], {})
        errors: list[str] = []
        fields = Fields(item, errors)
        name = fields.text("Name", max_length=50)
        if not name:
            errors.append("The tax rate name must be specified")
        elif any(t.name.casefold() == name.casefold() for t in self.tax_rates.values()):
            errors.append("The tax rate name must be unique")
        components: list[TaxComponent] = []
        for raw in fields.items("TaxComponents") or []:
            if not isinstance(raw, Mapping):
                errors.append("Each tax component must be an object")
                continue
            part = Fields(raw, errors)
            rate = part.number("Rate")
            if rate is None or not ZERO <= rate <= 100:
                errors.append("Each tax component needs a Rate between 0 and 100")
                continue
            components.append(
                TaxComponent(
                    part.text("Name") or name or "Tax", round_to(rate, FOUR_PLACES), bool(part.flag("IsCompound"))
                )
            )
        if not components:
            errors.append("A tax rate needs at least one tax component")
        report = (fields.text("ReportTaxType") or "OUTPUT").upper()
        if errors or not name:
            return Outcome(None, errors, item)
        number = 1
        while f"TAX{number:03d}" in self.tax_rates:
            number += 1
        tax_rate = TaxRate(name=name, tax_type=f"TAX{number:03d}", report_tax_type=report, components=components)
        self.tax_rates[tax_rate.tax_type] = tax_rate
        return Outcome(tax_rate)

    def mark_sent(self, identifier: str) -> Document:
        """``POST /Invoices/{id}/Email``: Xero emails an approved invoice to its contact and marks it sent."""
        with self.lock:
            doc = self.document("invoice", identifier)
            if doc is None:
                raise Missing(identifier)
            if doc.status not in ("AUTHORISED", "PAID"):
                raise Invalid([f"Only an approved invoice can be emailed (this one is {doc.status})"])
            if not self.contacts[doc.contact_id].email:
                raise Invalid([f"The contact {self.contacts[doc.contact_id].name} has no email address"])
            if not doc.sent_to_contact:
                doc.sent_to_contact = True
                doc.updated = self._now()
                self._emit_document(doc, "UPDATE")
            return doc

    # -- changes a user makes in Xero --------------------------------------------------------------------------

    def pay_as_user(
        self,
        identifier: str,
        *,
        amount: Decimal | None,
        on: date | None,
        account_code: str,
        reference: str | None,
        reconciled: bool,
    ) -> Payment:
        """A user records (or reconciles) a payment against an invoice; the whole amount due when none is given."""
        with self.lock:
            doc = self.document("invoice", identifier)
            if doc is None:
                raise Missing(identifier)
            item: dict[str, Json] = {
                "Invoice": {"InvoiceID": doc.doc_id},
                "Account": {"Code": account_code},
                "Amount": amount if amount is not None else doc.outstanding,
                "Date": (on or self.today()).isoformat(),
                "IsReconciled": reconciled,
            }
            if reference:
                item["Reference"] = reference
            outcome = self._create_payment(item, client_id=None)
            if not isinstance(outcome.record, Payment):
                raise Invalid(outcome.errors)
            return outcome.record

    def void_as_user(self, identifier: str) -> Document:
        with self.lock:
            outcome = self.update_document("invoice", identifier, {"Status": "VOIDED"}, unitdp=2)
            if not isinstance(outcome.record, Document):
                raise Invalid(outcome.errors)
            return outcome.record

    def edit_contact_as_user(self, identifier: str, changes: Json) -> Contact:
        outcome = self.update_contact(identifier, changes)
        if not isinstance(outcome.record, Contact):
            raise Invalid(outcome.errors)
        return outcome.record


def _id_fields(kind: DocumentKind) -> tuple[str, str]:
    return ("InvoiceID", "InvoiceNumber") if kind == "invoice" else ("CreditNoteID", "CreditNoteNumber")


def _settle_if_nothing_due(doc: Document) -> None:
    """Xero marks an approved document with nothing to pay (a zero total) as paid at once."""
    if doc.status == "AUTHORISED" and doc.outstanding == ZERO:
        doc.status = "PAID"
        doc.fully_paid_on = doc.date
