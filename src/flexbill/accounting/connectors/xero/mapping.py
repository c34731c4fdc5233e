"""flexbill's accounting values to Xero's JSON and back: pure functions, no I/O.

Xero keeps no field of ours, so our ids travel in fields it gives back:

* a contact's ``ContactNumber`` (an API-only field, at most 50 characters) is our customer id;
* an invoice's, credit note's or payment's ``Reference`` ends with our id: ``"<our reference> · <our id>"``, or
  just ``"<our id>"`` when the document has no reference. The reference stays readable at the front of what the
  customer sees, and one rule, :func:`tagged_reference` / :func:`our_id_in`, is the only place that writes and
  reads it. Look-ups ask Xero for ``Reference.Contains("<our id>")``, and what comes back is checked with
  :func:`our_id_in`.

Amounts are ``Decimal`` both ways: request bodies are written by :func:`dumps`, which prints a Decimal as a JSON
number exactly as it is, and responses are read by :func:`loads` with ``parse_float=Decimal``, so no float ever
holds an amount. Anything in a response that is not the shape Xero documents raises :class:`Malformed`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import quote

from flexbill.accounting.model import (
    AllocationData,
    ContactData,
    DocumentData,
    LineData,
    PaymentData,
    Pushed,
    PushResult,
    Refused,
    RemoteAccount,
    RemoteDocument,
    RemotePayment,
    RemoteTaxRate,
    RemoteTrackingCategory,
    WebhookEvent,
)
from flexbill.accounting.ports import BadSignature, Conflict, Rejected
from flexbill.money import round_money

UNIT_DECIMAL_PLACES = 4  # unit prices go with ?unitdp=4; Xero's default is 2
REFERENCE_SEPARATOR = " · "
REFERENCE_MAX = 255
ZERO_GUID = "00000000-0000-0000-0000-000000000000"
VOIDED_STATUSES = frozenset({"VOIDED", "DELETED"})  # no longer in the books, whichever way it left them

Json = dict[str, Any]
_T = TypeVar("_T")
_UNIT = Decimal(1).scaleb(-UNIT_DECIMAL_PLACES)


class Malformed(ValueError):
    """A response that is not what Xero sends: not JSON, a key missing, a value of the wrong type."""


# --- JSON on the wire --------------------------------------------------------------------------------------------


def dumps(value: object) -> bytes:
    """JSON for a request body, with every ``Decimal`` written as the number it is (never through a float).

    >>> dumps({"UnitAmount": Decimal("0.0825"), "Quantity": Decimal("150"), "Tracking": []})
    b'{"UnitAmount":0.0825,"Quantity":150,"Tracking":[]}'
    """
    return _encode(value).encode("utf-8")


def _encode(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} cannot be sent as a JSON number")
        return format(value, "f")
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(item) for item in value) + "]"
    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"JSON keys are strings, not {type(key).__name__}")
            parts.append(json.dumps(key, ensure_ascii=False) + ":" + _encode(item))
        return "{" + ",".join(parts) + "}"
    raise TypeError(f"{type(value).__name__} has no JSON form here (floats are refused: use Decimal)")


def loads(content: bytes | str) -> Any:
    """A response body, numbers with a fraction as ``Decimal``; :class:`Malformed` when it is not JSON."""
    try:
        return json.loads(content, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as error:
        raise Malformed(f"the body is not JSON ({error})") from None


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number")


# --- our ids in Xero's fields ------------------------------------------------------------------------------------

_TAG = re.compile(r"(?:^|\s·\s)([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\s*$")


def tagged_reference(reference: str, our_id: uuid.UUID) -> str:
    """What goes in Xero's ``Reference``: ours, then our id (the only way to find the record again).

    >>> tagged_reference("INV-0042", uuid.UUID("6f1c2a9e-0b7d-4c55-9d43-1f2e3a4b5c6d"))
    'INV-0042 · 6f1c2a9e-0b7d-4c55-9d43-1f2e3a4b5c6d'
    >>> tagged_reference("", uuid.UUID("6f1c2a9e-0b7d-4c55-9d43-1f2e3a4b5c6d"))
    '6f1c2a9e-0b7d-4c55-9d43-1f2e3a4b5c6d'
    """
    tag = str(our_id)
    text = " ".join(reference.split())
    if our_id_in(text) == our_id:
        text = _TAG.sub("", text).strip()
    if not text:
        return tag
    room = REFERENCE_MAX - len(REFERENCE_SEPARATOR) - len(tag)
    if len(text) > room:
        text = text[: room - 1].rstrip() + "…"
    return f"{text}{REFERENCE_SEPARATOR}{tag}"


def our_id_in(reference: object) -> uuid.UUID | None:
    """Our id at the end of a ``Reference`` written by :func:`tagged_reference`; None for anyone else's.

    >>> our_id_in("INV-0042 · 6f1c2a9e-0b7d-4c55-9d43-1f2e3a4b5c6d")
    UUID('6f1c2a9e-0b7d-4c55-9d43-1f2e3a4b5c6d')
    >>> our_id_in("Website design") is None
    True
    """
    if not isinstance(reference, str):
        return None
    found = _TAG.search(reference)
    return uuid.UUID(found.group(1)) if found else None


def shown_reference(reference: object) -> str:
    """A ``Reference`` without our id: what a person wrote.

    >>> shown_reference("pi_3Nq · 6f1c2a9e-0b7d-4c55-9d43-1f2e3a4b5c6d")
    'pi_3Nq'
    """
    if not isinstance(reference, str):
        return ""
    return _TAG.sub("", reference).strip()


def contact_number(our_id: uuid.UUID) -> str:
    return str(our_id)


def our_id_of_contact_number(value: object) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        return None


def contacts_where(our_ids: Sequence[uuid.UUID], budget: int) -> list[str]:
    """``where`` filters finding contacts by our ids, each at most ``budget`` characters once URL-encoded."""
    return _or_chunks([f'ContactNumber=="{contact_number(i)}"' for i in our_ids], budget)


def references_where(our_ids: Sequence[uuid.UUID], budget: int) -> list[str]:
    """``where`` filters finding documents whose Reference carries one of our ids (see the module's docstring)."""
    return _or_chunks([f'Reference.Contains("{i}")' for i in our_ids], budget)


def _or_chunks(clauses: Sequence[str], budget: int) -> list[str]:
    chunks: list[str] = []
    current: list[str] = []
    for clause in clauses:
        candidate = " OR ".join([*current, clause])
        if current and len(quote(candidate, safe="")) > budget:
            chunks.append(" OR ".join(current))
            current = [clause]
        else:
            current.append(clause)
    if current:
        chunks.append(" OR ".join(current))
    return chunks


# --- requests ----------------------------------------------------------------------------------------------------


def contact_body(contact: ContactData) -> Json:
    """One Xero Contact. Its street address is always sent whole, so a line removed here is removed there."""
    body: Json = {}
    if contact.external_id is not None:
        body["ContactID"] = contact.external_id
    body["ContactNumber"] = contact_number(contact.our_id)
    body["Name"] = contact.name
    body["EmailAddress"] = contact.email
    if contact.tax_number:
        body["TaxNumber"] = contact.tax_number
    address = contact.address
    body["Addresses"] = [
        {
            "AddressType": "STREET",
            "AddressLine1": address.line1 or "",
            "AddressLine2": address.line2 or "",
            "City": address.city or "",
            "Region": address.region or "",
            "PostalCode": address.postal_code or "",
            "Country": address.country or "",
        }
    ]
    return body


def invoice_body(document: DocumentData) -> Json:
    """One Xero sales invoice (ACCREC), approved unless the document is sent as a draft."""
    body: Json = {"Type": "ACCREC"}
    if document.external_id is not None:
        body["InvoiceID"] = document.external_id
    if document.number:
        body["InvoiceNumber"] = document.number
    body.update(_document_fields(document))
    if document.due_date is not None:
        body["DueDate"] = document.due_date.isoformat()
    body["LineItems"] = [_line(line, document.currency, credit=False) for line in document.lines]
    return body


def credit_note_body(document: DocumentData) -> Json:
    """One Xero customer credit note (ACCRECCREDIT)."""
    body: Json = {"Type": "ACCRECCREDIT"}
    if document.external_id is not None:
        body["CreditNoteID"] = document.external_id
    if document.number:
        body["CreditNoteNumber"] = document.number
    body.update(_document_fields(document))
    body["LineItems"] = [_line(line, document.currency, credit=True) for line in document.lines]
    return body


def _document_fields(document: DocumentData) -> Json:
    return {
        "Status": "DRAFT" if document.draft else "AUTHORISED",
        "Contact": {"ContactID": document.contact_external_id},
        "Date": document.date.isoformat(),
        "CurrencyCode": document.currency,
        "LineAmountTypes": "Inclusive" if document.prices_include_tax else "Exclusive",
        "Reference": tagged_reference(document.reference, document.our_id),
    }


def _line(line: LineData, currency: str, *, credit: bool) -> Json:
    """A line with every amount given, tax included, so Xero keeps our figures rather than computing its own.

    Xero takes no discount on credit notes: a discounted credit line is sent at its net unit price when that
    gives the same line amount, else as one unit of the line amount with the working in the description.
    """
    description, quantity, unit, discount = line.description, line.quantity, unit_amount(line.unit_price), None
    if line.discount_amount:
        if credit:
            description, quantity, unit = _credit_without_discount(line, currency)
        else:
            discount = line.discount_amount
    item: Json = {"Description": description, "Quantity": quantity, "UnitAmount": unit}
    if discount is not None:
        item["DiscountAmount"] = discount
    item["LineAmount"] = line.line_amount
    item["AccountCode"] = line.account_code
    item["TaxType"] = line.tax_type
    item["TaxAmount"] = line.tax_amount
    if line.tracking:
        item["Tracking"] = [{"Name": t.category, "Option": t.option} for t in line.tracking]
    return item


def _credit_without_discount(line: LineData, currency: str) -> tuple[str, Decimal, Decimal]:
    if line.quantity:
        net_unit = (line.line_amount / line.quantity).quantize(_UNIT, rounding=ROUND_HALF_UP)
        if round_money(net_unit * line.quantity, currency) == line.line_amount:
            return line.description, line.quantity, net_unit
    working = f"{_plain(line.quantity)} at {_plain(line.unit_price)} less {_plain(line.discount_amount)}"
    return f"{line.description} ({working})", Decimal(1), line.line_amount


def _plain(amount: Decimal) -> str:
    return format(amount.normalize(), "f") if amount == amount.to_integral_value() else format(amount, "f")


def unit_amount(price: Decimal) -> Decimal:
    """A unit price as Xero takes it (at most 4 decimal places); more would be rounded there, so it is refused.

    >>> unit_amount(Decimal("12.345600"))
    Decimal('12.3456')
    """
    exact = price.quantize(_UNIT)
    if exact != price:
        raise ValueError(f"unit price {price} has more than {UNIT_DECIMAL_PLACES} decimal places")
    exponent = price.as_tuple().exponent
    return price if isinstance(exponent, int) and exponent >= -UNIT_DECIMAL_PLACES else exact


def payment_body(payment: PaymentData) -> Json:
    if payment.credit_note_external_id is not None:  # a refund: the money goes out against the credit note
        target: Json = {"CreditNote": {"CreditNoteID": payment.credit_note_external_id}}
    else:
        target = {"Invoice": {"InvoiceID": payment.invoice_external_id}}
    return {
        **target,
        "Account": {"Code": payment.account_code},
        "Date": payment.date.isoformat(),
        "Amount": payment.amount,
        "Reference": tagged_reference(payment.reference, payment.our_id),
    }


def allocation_body(allocation: AllocationData) -> Json:
    return {
        "Invoice": {"InvoiceID": allocation.invoice_external_id},
        "Amount": allocation.amount,
        "Date": allocation.date.isoformat(),
    }


def status_body(invoice_external_id: str, status: str) -> Json:
    """An invoice update that only changes its status (VOIDED for approved ones, DELETED for drafts)."""
    return {"Invoices": [{"InvoiceID": invoice_external_id, "Status": status}]}


# --- responses ---------------------------------------------------------------------------------------------------


def collection(envelope: object, key: str) -> list[Json]:
    """The records of a response envelope (``{"Invoices": [...], ...}``), each checked to be an object."""
    body = _object(envelope, "the response")
    items = body.get(key)
    if not isinstance(items, list):
        raise Malformed(f"the response has no {key} list")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise Malformed(f"{key}[{index}] is not an object")
    return items


def page_count(envelope: object) -> int | None:
    """``pagination.pageCount`` when the response carries it."""
    body = _object(envelope, "the response")
    pagination = body.get("pagination")
    if not isinstance(pagination, dict):
        return None
    count = pagination.get("pageCount")
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def response_time(envelope: object) -> dt.datetime | None:
    """Xero's clock when it answered (the envelope's ``DateTimeUTC``)."""
    value = _object(envelope, "the response").get("DateTimeUTC")
    return parse_datetime(value, "DateTimeUTC") if value is not None else None


def remote_invoice(record: object) -> RemoteDocument:
    invoice = _object(record, "an invoice")
    status = _text(invoice, "Status", "the invoice")
    return RemoteDocument(
        external_id=guid(invoice, "InvoiceID", "the invoice"),
        our_id=our_id_in(optional_text(invoice, "Reference", "the invoice")),
        number=optional_text(invoice, "InvoiceNumber", "the invoice"),
        status=status,
        total=_amount(invoice, "Total", "the invoice"),
        amount_paid=_amount(invoice, "AmountPaid", "the invoice"),
        amount_due=_amount(invoice, "AmountDue", "the invoice"),
        voided=status in VOIDED_STATUSES,
        payments=_payments(invoice),
        updated_at=_optional_datetime(invoice, "UpdatedDateUTC"),
    )


def remote_credit_note(record: object) -> RemoteDocument:
    """A credit note; what is still to use of it is its ``amount_due``, what was allocated or refunded its
    ``amount_paid``."""
    note = _object(record, "a credit note")
    status = _text(note, "Status", "the credit note")
    total = _amount(note, "Total", "the credit note")
    remaining = _amount(note, "RemainingCredit", "the credit note")
    return RemoteDocument(
        external_id=guid(note, "CreditNoteID", "the credit note"),
        our_id=our_id_in(optional_text(note, "Reference", "the credit note")),
        number=optional_text(note, "CreditNoteNumber", "the credit note"),
        status=status,
        total=total,
        amount_paid=total - remaining,
        amount_due=remaining,
        voided=status in VOIDED_STATUSES,
        payments=_payments(note),
        updated_at=_optional_datetime(note, "UpdatedDateUTC"),
    )


def remote_payment(record: object) -> RemotePayment:
    payment = _object(record, "a payment")
    reference = optional_text(payment, "Reference", "the payment")
    return RemotePayment(
        external_id=guid(payment, "PaymentID", "the payment"),
        date=parse_date(_required(payment, "Date", "the payment"), "the payment's Date"),
        amount=_amount(payment, "Amount", "the payment"),
        reference=shown_reference(reference),
        deleted=optional_text(payment, "Status", "the payment") == "DELETED",
        our_id=our_id_in(reference),
    )


def _payments(document: Json) -> tuple[RemotePayment, ...]:
    payments = document.get("Payments")
    if payments is None:
        return ()
    if not isinstance(payments, list):
        raise Malformed("Payments is not a list")
    return tuple(remote_payment(p) for p in payments)


def remote_accounts(envelope: object) -> list[RemoteAccount]:
    """The chart of accounts; accounts without a code are left out (a line or a payment names its account by
    code)."""
    accounts = []
    for account in collection(envelope, "Accounts"):
        code = optional_text(account, "Code", "an account")
        if code is None:
            continue
        accounts.append(
            RemoteAccount(
                code=code,
                name=_text(account, "Name", f"account {code}"),
                type=_text(account, "Type", f"account {code}"),
                status=optional_text(account, "Status", f"account {code}") or "ACTIVE",
            )
        )
    return accounts


def remote_tax_rates(envelope: object) -> list[RemoteTaxRate]:
    rates = []
    for rate in collection(envelope, "TaxRates"):
        tax_type = _text(rate, "TaxType", "a tax rate")
        percent = rate.get("EffectiveRate", rate.get("DisplayTaxRate"))
        rates.append(
            RemoteTaxRate(
                code=tax_type,
                name=_text(rate, "Name", f"tax rate {tax_type}"),
                rate=number(percent, f"the EffectiveRate of tax rate {tax_type}"),
                status=optional_text(rate, "Status", f"tax rate {tax_type}") or "ACTIVE",
            )
        )
    return rates


def remote_tracking_categories(envelope: object) -> list[RemoteTrackingCategory]:
    """Active tracking categories with their active options."""
    categories = []
    for category in collection(envelope, "TrackingCategories"):
        name = _text(category, "Name", "a tracking category")
        if (optional_text(category, "Status", f"tracking category {name}") or "ACTIVE") != "ACTIVE":
            continue
        options = category.get("Options") or []
        if not isinstance(options, list):
            raise Malformed(f"the Options of tracking category {name} are not a list")
        names = []
        for raw in options:
            option = _object(raw, f"an option of {name}")
            if (optional_text(option, "Status", f"an option of {name}") or "ACTIVE") == "ACTIVE":
                names.append(_text(option, "Name", f"an option of {name}"))
        categories.append(RemoteTrackingCategory(name=name, options=tuple(names)))
    return categories


# --- batch results -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchKind:
    """How the elements of one kind of batch answer are read."""

    collection: str
    id_field: str
    number_field: str | None
    total_field: str | None
    our_id: Callable[[Json], uuid.UUID | None]


CONTACTS = BatchKind("Contacts", "ContactID", None, None, lambda c: our_id_of_contact_number(c.get("ContactNumber")))
INVOICES = BatchKind("Invoices", "InvoiceID", "InvoiceNumber", "Total", lambda d: our_id_in(d.get("Reference")))
CREDIT_NOTES = BatchKind(
    "CreditNotes", "CreditNoteID", "CreditNoteNumber", "Total", lambda d: our_id_in(d.get("Reference"))
)
PAYMENTS = BatchKind("Payments", "PaymentID", None, "Amount", lambda p: our_id_in(p.get("Reference")))


def push_results(kind: BatchKind, sent: Sequence[uuid.UUID], envelope: object) -> list[PushResult]:
    """One result per record sent, from a batch answered with ``summarizeErrors=false``.

    Xero answers the elements in the order they were sent, each echoing what identifies it (ContactNumber or
    Reference). Elements are paired by position when every identifier that came back agrees with it, otherwise
    by identifier alone; an answer that pairs neither way is :class:`Malformed`.
    """
    elements = collection(envelope, kind.collection)
    results: list[PushResult] = []
    for our_id, element in _pair(sent, elements, kind):
        errors = element_errors(element)
        if errors is not None:
            results.append(Refused(our_id, errors, conflict=any(_is_conflict(e) for e in errors)))
            continue
        external_id = element.get(kind.id_field)
        if not isinstance(external_id, str) or not external_id or external_id == ZERO_GUID:
            raise Malformed(f"{kind.collection}: Xero accepted {our_id} but gave no {kind.id_field}")
        number = optional_text(element, kind.number_field, f"{kind.collection} {our_id}")
        total = _amount(element, kind.total_field, f"{kind.collection} {our_id}") if kind.total_field else None
        results.append(Pushed(our_id, external_id, number=number, total=total))
    return results


def _pair(sent: Sequence[uuid.UUID], elements: list[Json], kind: BatchKind) -> list[tuple[uuid.UUID, Json]]:
    keys = [kind.our_id(element) for element in elements]
    if len(elements) == len(sent) and all(k is None or k == s for k, s in zip(keys, sent, strict=True)):
        return list(zip(sent, elements, strict=True))
    wanted = set(sent)
    by_id: dict[uuid.UUID, Json] = {}
    for key, element in zip(keys, elements, strict=True):
        if key is None or key not in wanted or key in by_id:
            raise Malformed(
                f"{kind.collection}: {len(elements)} results came back for {len(sent)} sent and they cannot be "
                "told apart"
            )
        by_id[key] = element
    missing = [s for s in sent if s not in by_id]
    if missing:
        raise Malformed(f"{kind.collection}: no result came back for {', '.join(map(str, missing))}")
    return [(s, by_id[s]) for s in sent]


def element_errors(element: Json) -> tuple[str, ...] | None:
    """The messages of an element Xero refused; None when it was taken (``OK``, or ``WARNING``)."""
    status = element.get("StatusAttributeString")
    refused = (
        status.upper() == "ERROR"
        if isinstance(status, str)
        else element.get("HasErrors") is True or element.get("HasValidationErrors") is True
    )
    if not refused:
        return None
    return _messages(element.get("ValidationErrors")) or ("Xero refused it without saying why",)


def _messages(errors: object) -> tuple[str, ...]:
    if not isinstance(errors, list):
        return ()
    found = []
    for error in errors:
        message = error.get("Message") if isinstance(error, dict) else None
        if isinstance(message, str) and message.strip() and message.strip() not in found:
            found.append(message.strip())
    return tuple(found)


_CONFLICT = re.compile(r"must be unique|already (?:been )?(?:assigned|exists|used)", re.IGNORECASE)


def _is_conflict(message: str) -> bool:
    """Refused because of something already there: a duplicate invoice or credit note number, contact name."""
    return bool(_CONFLICT.search(message))


def rejection(status_code: int, body: object, text: str) -> Rejected:
    """A 400 answer as the error to raise: a ValidationException lists every message of every element, and one
    about a duplicate (an invoice number already used) is a :class:`Conflict`."""
    if isinstance(body, dict):
        kind = body.get("Type")
        message = body.get("Message") if isinstance(body.get("Message"), str) else None
        messages: list[str] = []
        elements = body.get("Elements")
        if isinstance(elements, list):
            for element in elements:
                if isinstance(element, dict):
                    messages.extend(m for m in _messages(element.get("ValidationErrors")) if m not in messages)
        if not messages and message:
            messages.append(message)
        if messages:
            summary = f"Xero refused it ({kind or f'HTTP {status_code}'}): " + "; ".join(messages)
            error_class = Conflict if any(_is_conflict(m) for m in messages) else Rejected
            return error_class(summary, messages)
    detail = " ".join(text.split())[:300] or "no details"
    return Rejected(f"Xero refused it (HTTP {status_code}): {detail}")


# --- webhooks ----------------------------------------------------------------------------------------------------

_CATEGORIES = {"INVOICE": "invoice", "CREDITNOTE": "credit_note", "CONTACT": "contact"}


def verify_signature(body: bytes, signature: str | None, key: str) -> None:
    """``x-xero-signature`` is base64(HMAC-SHA256(raw body, webhook key)); compared in constant time."""
    if not signature:
        raise BadSignature("the delivery has no x-xero-signature")
    expected = base64.b64encode(hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest())
    if not hmac.compare_digest(expected, signature.strip().encode("utf-8")):
        raise BadSignature("x-xero-signature does not match the body")


def webhook_events(body: bytes) -> list[WebhookEvent]:
    """The events of a (verified) delivery about organisations' contacts, invoices and credit notes; other
    categories (the app's subscriptions) are left out. An intent-to-receive delivery has none."""
    payload = _object(loads(body), "the delivery")
    events = payload.get("events")
    if not isinstance(events, list):
        raise Malformed("the delivery has no events list")
    found = []
    for index, raw in enumerate(events):
        event = _object(raw, f"event {index}")
        category = _text(event, "eventCategory", f"event {index}")
        if category.upper() not in _CATEGORIES:
            continue
        tenant_id = _text(event, "tenantId", f"event {index}")
        resource_id = _text(event, "resourceId", f"event {index}")
        event_type = _text(event, "eventType", f"event {index}")
        happened = _text(event, "eventDateUtc", f"event {index}")
        found.append(
            WebhookEvent(
                event_id=webhook_event_id(tenant_id, category, resource_id, event_type, happened),
                tenant_id=tenant_id,
                category=_CATEGORIES[category.upper()],
                resource_id=resource_id,
                event_type=event_type,
            )
        )
    return found


def webhook_event_id(tenant_id: str, category: str, resource_id: str, event_type: str, happened: str) -> str:
    """Xero events carry no id; this one is the same each time the same event is delivered again."""
    text = "|".join((tenant_id.lower(), category.upper(), resource_id.lower(), event_type.upper(), happened))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


# --- values ------------------------------------------------------------------------------------------------------

_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def parse_datetime(value: object, what: str) -> dt.datetime:
    """An instant (UTC) from Xero's ``/Date(ms+zzzz)/`` or an ISO 8601 string (UTC when it names no zone).

    >>> parse_datetime("/Date(1552327126117+0000)/", "UpdatedDateUTC")
    datetime.datetime(2019, 3, 11, 17, 58, 46, 117000, tzinfo=datetime.timezone.utc)
    """
    if isinstance(value, str):
        found = _MS_DATE.match(value.strip())
        if found:
            try:
                return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=int(found.group(1)))
            except OverflowError:
                raise Malformed(f"{what} {value!r} is out of range") from None
        try:
            parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)
    raise Malformed(f"{what} {value!r} is not a date and time")


def parse_date(value: object, what: str) -> dt.date:
    """A calendar date from ``/Date(ms+zzzz)/`` (midnight in the offset given, UTC without one) or ISO 8601.

    >>> parse_date("/Date(1552262400000+0000)/", "Date")
    datetime.date(2019, 3, 11)
    """
    if isinstance(value, str):
        found = _MS_DATE.match(value.strip())
        if found:
            instant = parse_datetime(value, what)
            offset = found.group(2)
            if offset:
                sign = -1 if offset[0] == "-" else 1
                instant += sign * dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
            return instant.date()
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise Malformed(f"{what} {value!r} is not a date")


def _object(value: object, what: str) -> Json:
    if not isinstance(value, dict):
        raise Malformed(f"{what} is not a JSON object")
    return value


def _required(record: Json, key: str, what: str) -> object:
    if record.get(key) is None:
        raise Malformed(f"{what} has no {key}")
    return record[key]


def _text(record: Json, key: str, what: str) -> str:
    value = _required(record, key, what)
    if not isinstance(value, str):
        raise Malformed(f"the {key} of {what} is not a string")
    return value


def optional_text(record: Json, key: str | None, what: str = "the record") -> str | None:
    """A string that may be missing or empty (then None); a value of another type is :class:`Malformed`."""
    value = record.get(key) if key else None
    if value is None:
        return None
    if not isinstance(value, str):
        raise Malformed(f"the {key} of {what} is not a string")
    return value or None


def guid(record: Json, key: str, what: str) -> str:
    value = _text(record, key, what)
    if not value or value == ZERO_GUID:
        raise Malformed(f"{what} has no {key}")
    return value


def _amount(record: Json, key: str, what: str) -> Decimal:
    return number(_required(record, key, what), f"the {key} of {what}")


def number(value: object, what: str) -> Decimal:
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int) and not isinstance(value, bool):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise Malformed(f"{what} {value!r} is not a number") from None
    else:
        raise Malformed(f"{what} {value!r} is not a number")
    if not result.is_finite():
        raise Malformed(f"{what} {value!r} is not a finite number")
    return result


def _optional_datetime(record: Json, key: str) -> dt.datetime | None:
    value = record.get(key)
    return parse_datetime(value, key) if value is not None else None


def chunked(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    """``items`` in slices of at most ``size``, in order."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
