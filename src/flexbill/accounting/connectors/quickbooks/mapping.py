"""flexbill's accounting values to QuickBooks Online's JSON and back: pure functions, no I/O.

QuickBooks cannot be queried by a field of ours, so our ids travel in fields it keeps and gives back, and look-ups
narrow by what it can query (a customer's ``DisplayName``; a document's ``CustomerRef``, ``TxnDate`` and
``DocNumber``) and then keep only what carries our id:

* a customer's ``Notes`` hold ``"flexbill customer <our id>"``;
* an invoice's or credit memo's ``PrivateNote`` holds ``"flexbill invoice <our id>"`` (``"flexbill credit note
  ..."``), followed by our reference. When the company defines a sales-form custom field named ``flexbill id``
  (Account and settings > Sales > Custom fields), our id is kept there as well, where people see it; QuickBooks
  keeps at most 31 characters in a custom field, so it holds the id's 22-character base64url form;
* a payment's ``PrivateNote`` holds ``"flexbill payment <our id>"``, a refund's ``"flexbill refund <our id>"``.

QuickBooks writes ``"Voided"`` in front of a voided transaction's ``PrivateNote``; our tag is found anywhere in it.

Amounts are ``Decimal`` both ways (:func:`dumps` writes a Decimal as the JSON number it is; :func:`loads` reads
numbers with ``parse_float=Decimal``). Anything in a response that is not the shape QuickBooks documents raises
:class:`Malformed`; anything we were asked to send that QuickBooks cannot hold raises ``ValueError`` saying what.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from flexbill.accounting.connectors.xero.mapping import dumps as _dumps
from flexbill.accounting.model import (
    AllocationData,
    ContactData,
    DocumentData,
    LineData,
    PaymentData,
    RemoteAccount,
    RemoteDocument,
    RemotePayment,
    RemoteTaxRate,
    RemoteTrackingCategory,
    WebhookEvent,
)
from flexbill.accounting.ports import BadSignature
from flexbill.money import allocate, round_money

MINOR_VERSION = "75"  # the one version QuickBooks honours since August 2025
DOC_NUMBER_MAX = 21
PAYMENT_REF_MAX = 21
DISPLAY_NAME_MAX = 500
PRIVATE_NOTE_MAX = 4000
CUSTOMER_MEMO_MAX = 1000
DESCRIPTION_MAX = 4000
CUSTOM_FIELD_NAME = "flexbill id"
LOCATION_CATEGORY = "Location"  # QuickBooks' name for its Departments, as the tracking category flexbill maps to
UNIT_PRICE_PLACES = 7  # QuickBooks keeps unit prices to 7 decimal places

INVOICE = "invoice"
CREDIT_NOTE = "credit note"
PAYMENT = "payment"
REFUND = "refund"
CUSTOMER = "customer"

Json = dict[str, Any]
_ZERO = Decimal(0)
_CONFLICT_CODES = frozenset({"6140", "6240"})  # duplicate DocNumber, duplicate DisplayName
_TAG = re.compile(
    r"flexbill (customer|invoice|credit note|payment|refund) "
    r"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
)


class Malformed(ValueError):
    """A response that is not what QuickBooks sends: not JSON, a key missing, a value of the wrong type."""


# --- JSON on the wire --------------------------------------------------------------------------------------------


def dumps(value: object) -> bytes:
    """JSON for a request body, every ``Decimal`` written exactly (never through a float).

    >>> dumps({"Amount": Decimal("12.50"), "sparse": True})
    b'{"Amount":12.50,"sparse":true}'
    """
    return _dumps(value)


def loads(content: bytes | str) -> Any:
    """A response body, numbers with a fraction as ``Decimal``; :class:`Malformed` when it is not JSON."""
    try:
        return json.loads(content, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as error:
        raise Malformed(f"the body is not JSON ({error})") from None


# --- our ids in QuickBooks' fields -------------------------------------------------------------------------------


def tag(kind: str, our_id: uuid.UUID) -> str:
    """
    >>> tag("invoice", uuid.UUID("6f1c2a9e-0b7d-4c55-9d43-1f2e3a4b5c6d"))
    'flexbill invoice 6f1c2a9e-0b7d-4c55-9d43-1f2e3a4b5c6d'
    """
    return f"flexbill {kind} {our_id}"


def tagged_note(kind: str, our_id: uuid.UUID, text: str = "") -> str:
    """A ``PrivateNote`` (or ``Notes``) that starts with our tag, then what a person should read."""
    text = " ".join(text.split())
    note = tag(kind, our_id) + (f" · {text}" if text else "")
    return note[:PRIVATE_NOTE_MAX]


def our_id_in(text: object, kind: str) -> uuid.UUID | None:
    """Our id in a note written by :func:`tagged_note` for ``kind``; None for anyone else's note.

    >>> our_id_in("Voided flexbill invoice 6f1c2a9e-0b7d-4c55-9d43-1f2e3a4b5c6d · May", "invoice")
    UUID('6f1c2a9e-0b7d-4c55-9d43-1f2e3a4b5c6d')
    >>> our_id_in("flexbill invoice 6f1c2a9e-0b7d-4c55-9d43-1f2e3a4b5c6d", "payment") is None
    True
    """
    if not isinstance(text, str):
        return None
    for found in _TAG.finditer(text):
        if found.group(1) == kind:
            return uuid.UUID(found.group(2))
    return None


def compact_id(our_id: uuid.UUID) -> str:
    """Our id in 22 characters, to fit a custom field's 31.

    >>> compact_id(uuid.UUID("6f1c2a9e-0b7d-4c55-9d43-1f2e3a4b5c6d"))
    'bxwqngt9TFWdQx8uOktcbQ'
    """
    return base64.urlsafe_b64encode(our_id.bytes).decode("ascii").rstrip("=")


def our_id_of_compact(value: object) -> uuid.UUID | None:
    """The id :func:`compact_id` wrote (a full UUID is read too); None for anything else."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        if len(text) == 22:
            return uuid.UUID(bytes=base64.urlsafe_b64decode(text + "=="))
        return uuid.UUID(text)
    except (ValueError, binascii.Error):
        return None


# --- reading values ----------------------------------------------------------------------------------------------


def obj(value: object, what: str) -> Json:
    if not isinstance(value, dict):
        raise Malformed(f"{what} is not an object")
    return value


def items(value: object, what: str) -> list[Json]:
    """A list of objects; QuickBooks leaves an empty list out, so a missing one is empty."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise Malformed(f"{what} is not a list")
    return [obj(item, f"an item of {what}") for item in value]


def text(record: Json, key: str, what: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value:
        raise Malformed(f"{what} has no {key}")
    return value


def optional_text(record: Json, key: str) -> str | None:
    value = record.get(key)
    return value if isinstance(value, str) and value else None


def amount(record: Json, key: str, what: str, default: Decimal | None = None) -> Decimal:
    value = record.get(key)
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise Malformed(f"{what} has no amount {key}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise Malformed(f"{what} has {key} {value!r}, not a number") from None
    if not number.is_finite():
        raise Malformed(f"{what} has {key} {value!r}, not a number")
    return number


def ref_value(record: Json, key: str) -> str | None:
    """The ``value`` of a reference such as ``CustomerRef``."""
    ref = record.get(key)
    if isinstance(ref, dict):
        value = ref.get("value")
        if isinstance(value, str) and value:
            return value
    return None


def qbo_datetime(value: object, what: str) -> dt.datetime:
    """QuickBooks' times carry their offset (``2026-11-26T04:00:00-08:00``; webhooks ``-0800``); read as UTC."""
    if not isinstance(value, str):
        raise Malformed(f"{what} is not a time")
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Malformed(f"{what} {value!r} is not a time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def qbo_date(value: object, what: str) -> dt.date:
    if not isinstance(value, str):
        raise Malformed(f"{what} is not a date")
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise Malformed(f"{what} {value!r} is not a date") from None


def updated_at(record: Json) -> dt.datetime | None:
    meta = record.get("MetaData")
    if isinstance(meta, dict) and "LastUpdatedTime" in meta:
        return qbo_datetime(meta["LastUpdatedTime"], "MetaData.LastUpdatedTime")
    return None


def entity(envelope: object, name: str, what: str) -> Json:
    """The entity of a single-entity answer, e.g. ``{"Invoice": {...}, "time": ...}``."""
    return obj(obj(envelope, what).get(name), f"the {name} of {what}")


def query_items(envelope: object, name: str, what: str) -> list[Json]:
    """The rows of a query answer ``{"QueryResponse": {"Invoice": [...]}}`` (no key at all when none matched)."""
    response = obj(obj(envelope, what).get("QueryResponse"), f"the QueryResponse of {what}")
    return items(response.get(name), f"the {name} rows of {what}")


def response_time(envelope: object) -> dt.datetime | None:
    if isinstance(envelope, dict) and "time" in envelope:
        return qbo_datetime(envelope["time"], "the answer's time")
    return None


# --- the query language -------------------------------------------------------------------------------------------


def quoted(value: str) -> str:
    r"""A string literal of QuickBooks' query language (a quote is escaped with a backslash).

    >>> quoted("O'Neil & Co")
    "'O\\'Neil & Co'"
    """
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def in_list(values: Iterable[str]) -> str:
    """
    >>> in_list(["12", "13"])
    "('12', '13')"
    """
    return "(" + ", ".join(quoted(value) for value in values) + ")"


def chunked(values: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(values[start : start + size]) for start in range(0, len(values), size)]


# --- settings: accounts, tax codes, locations, preferences ------------------------------------------------------


# Where a Payment may deposit money (QuickBooks refuses other account types as DepositToAccountRef).
DEPOSIT_ACCOUNT_TYPES = frozenset({"Bank", "Other Current Asset"})
# Items a sale can be booked to: they carry an income account (categories, groups and bundles do not).
SALES_ITEM_TYPES = frozenset({"Service", "NonInventory", "Inventory"})


def remote_account(record: Json) -> RemoteAccount:
    """An account of the chart: only a payment's deposit target, as sales are booked through items."""
    account_id = text(record, "Id", "an account")
    account_type = optional_text(record, "AccountType") or ""
    return RemoteAccount(
        code=account_id,
        name=optional_text(record, "Name") or account_id,
        type=account_type,
        status="ACTIVE" if record.get("Active", True) is not False else "ARCHIVED",
        sales=False,
        payments=account_type in DEPOSIT_ACCOUNT_TYPES,
    )


def remote_item(record: Json) -> RemoteAccount:
    """A product or service: what a revenue account of ours maps to (the line's ItemRef)."""
    item_id = text(record, "Id", "an item")
    item_type = optional_text(record, "Type") or ""
    return RemoteAccount(
        code=item_id,
        name=optional_text(record, "Name") or item_id,
        type=f"Item: {item_type}",
        status="ACTIVE" if record.get("Active", True) is not False else "ARCHIVED",
        sales=item_type in SALES_ITEM_TYPES,
        payments=False,
    )


@dataclass(frozen=True, slots=True)
class TaxComponent:
    """One rate a tax code charges on sales (``SalesTaxRateList.TaxRateDetail``)."""

    rate_id: str
    percent: Decimal


@dataclass(frozen=True, slots=True)
class TaxCode:
    id: str
    name: str
    active: bool
    components: tuple[TaxComponent, ...]

    @property
    def percent(self) -> Decimal:
        return sum((component.percent for component in self.components), _ZERO)


def tax_rate_percents(rates: Sequence[Json]) -> dict[str, Decimal]:
    """``TaxRate`` rows: their ``RateValue`` (percent) by Id."""
    return {text(rate, "Id", "a tax rate"): amount(rate, "RateValue", "a tax rate", _ZERO) for rate in rates}


def tax_code(record: Json, percents: Mapping[str, Decimal]) -> TaxCode:
    """A ``TaxCode`` row and the rates it charges on sales; a rate missing from ``percents`` is malformed."""
    code_id = text(record, "Id", "a tax code")
    rate_list = record.get("SalesTaxRateList")
    details = items(rate_list.get("TaxRateDetail"), "SalesTaxRateList") if isinstance(rate_list, dict) else []
    components = []
    for detail in details:
        rate_id = ref_value(detail, "TaxRateRef")
        if rate_id is None:
            raise Malformed(f"tax code {code_id} has a sales rate without TaxRateRef")
        if rate_id not in percents:
            raise Malformed(f"tax code {code_id} charges tax rate {rate_id}, which is not among the tax rates")
        components.append(TaxComponent(rate_id, percents[rate_id]))
    return TaxCode(
        id=code_id,
        name=optional_text(record, "Name") or code_id,
        active=record.get("Active", True) is not False,
        components=tuple(components),
    )


def remote_tax_rate(code: TaxCode) -> RemoteTaxRate:
    return RemoteTaxRate(
        code=code.id, name=code.name, rate=code.percent, status="ACTIVE" if code.active else "ARCHIVED"
    )


def locations(departments: Sequence[Json]) -> dict[str, str]:
    """Active Departments (QuickBooks "Locations"): their Id by name."""
    found: dict[str, str] = {}
    for department in departments:
        if department.get("Active", True) is False:
            continue
        department_id = text(department, "Id", "a department")
        found[optional_text(department, "Name") or department_id] = department_id
    return found


def tracking_categories(by_name: Mapping[str, str]) -> list[RemoteTrackingCategory]:
    if not by_name:
        return []
    return [RemoteTrackingCategory(LOCATION_CATEGORY, tuple(sorted(by_name)))]


def _named_values(value: object) -> Iterable[Json]:
    """Every ``{"Name": ..., "...Value": ...}`` under a preferences' ``CustomField``, however deep it nests."""
    if isinstance(value, list):
        for item in value:
            yield from _named_values(item)
    elif isinstance(value, dict):
        if "Name" in value:
            yield value
        inner = value.get("CustomField")
        if inner is not None:
            yield from _named_values(inner)


def custom_field_definition(preferences: Json) -> str | None:
    """The ``DefinitionId`` of the sales-form custom field named ``flexbill id``, if the company defines one in use.

    QuickBooks shows its (at most three) sales custom fields in ``SalesFormsPrefs.CustomField`` as
    ``SalesFormsPrefs.UseSalesCustom<n>`` (BooleanValue) and ``SalesFormsPrefs.SalesCustomName<n>``
    (StringValue); the DefinitionId is ``<n>``.
    """
    sales = preferences.get("SalesFormsPrefs")
    if not isinstance(sales, dict):
        return None
    names: dict[str, str] = {}
    used: dict[str, bool] = {}
    for named in _named_values(sales.get("CustomField")):
        name = named.get("Name")
        if not isinstance(name, str):
            continue
        if match := re.fullmatch(r"SalesFormsPrefs\.SalesCustomName(\d+)", name):
            value = named.get("StringValue")
            if isinstance(value, str):
                names[match.group(1)] = value
        elif match := re.fullmatch(r"SalesFormsPrefs\.UseSalesCustom(\d+)", name):
            used[match.group(1)] = named.get("BooleanValue") is True
    for number, name in sorted(names.items()):
        if " ".join(name.split()).lower() == CUSTOM_FIELD_NAME and used.get(number, True):
            return number
    return None


# --- customers ---------------------------------------------------------------------------------------------------


def customer_body(contact: ContactData) -> Json:
    """A new customer: the name as ``DisplayName`` (unique in the company), our id in ``Notes``."""
    name = " ".join(contact.name.split())
    if not name:
        raise ValueError("the customer has no name; QuickBooks needs one (DisplayName)")
    if len(name) > DISPLAY_NAME_MAX:
        raise ValueError(f"the customer's name is {len(name)} characters; QuickBooks keeps at most {DISPLAY_NAME_MAX}")
    body: Json = {"DisplayName": name, "CompanyName": name[:100], "Notes": tag(CUSTOMER, contact.our_id)}
    if contact.email:
        body["PrimaryEmailAddr"] = {"Address": contact.email}
    if contact.currency:  # a customer has one currency in QuickBooks, the company's own unless told
        body["CurrencyRef"] = {"value": contact.currency}
    address = contact.address
    bill: Json = {
        key: value
        for key, value in (
            ("Line1", address.line1),
            ("Line2", address.line2),
            ("City", address.city),
            ("CountrySubDivisionCode", address.region),
            ("PostalCode", address.postal_code),
            ("Country", address.country),
        )
        if value
    }
    if bill:
        body["BillAddr"] = bill
    return body


def customer_update(contact: ContactData, external_id: str, sync_token: str) -> Json:
    """A sparse update: only what flexbill keeps is written, the rest of the customer stays as it is."""
    return {**customer_body(contact), "Id": external_id, "SyncToken": sync_token, "sparse": True}


def customer_our_id(record: Json) -> uuid.UUID | None:
    return our_id_in(record.get("Notes"), CUSTOMER)


# --- invoices and credit memos -----------------------------------------------------------------------------------


def line_body(line: LineData, *, inclusive: bool, currency: str) -> Json:
    """A ``SalesItemLineDetail`` line. ``Amount`` is the net amount (QuickBooks' rule, also for tax-inclusive
    documents, whose gross goes in ``TaxInclusiveAmt``), and ``Qty`` x ``UnitPrice`` must make it: when our
    quantity and price do not (a discount, a gross price), the line is sent as one unit of its amount and the
    quantity and price are written in the description instead.

    >>> body = line_body(LineData("Desk", Decimal(3), Decimal("10.00"), Decimal(0), Decimal("30.00"),
    ...     Decimal("6.00"), "7", "4"), inclusive=False, currency="GBP")
    >>> body["Amount"], body["SalesItemLineDetail"]["Qty"], body["SalesItemLineDetail"]["UnitPrice"]
    (Decimal('30.00'), Decimal('3'), Decimal('10.00'))
    """
    net = line.line_amount - line.tax_amount if inclusive else line.line_amount
    quantity, unit_price = _quantity_and_price(line, net, inclusive=inclusive, currency=currency)
    description = " ".join(line.description.split())
    if quantity is None:
        quantity, unit_price = Decimal(1), net
        what = f"{_plain(line.quantity)} x {line.unit_price:f}"
        if line.discount_amount:
            what += f" less {line.discount_amount:f}"
        description = f"{description} ({what})" if description else what
    detail: Json = {
        "ItemRef": {"value": line.account_code},
        "TaxCodeRef": {"value": line.tax_type},
        "Qty": quantity,
        "UnitPrice": unit_price,
    }
    if inclusive:
        detail["TaxInclusiveAmt"] = line.line_amount
    return {
        "DetailType": "SalesItemLineDetail",
        "Amount": net,
        "Description": description[:DESCRIPTION_MAX],
        "SalesItemLineDetail": detail,
    }


def _quantity_and_price(
    line: LineData, net: Decimal, *, inclusive: bool, currency: str
) -> tuple[Decimal | None, Decimal]:
    """Our quantity and the net unit price, when they make the net amount exactly as QuickBooks checks it."""
    if line.quantity <= 0 or line.discount_amount:
        return None, net
    price = line.unit_price
    if inclusive:
        price = net / line.quantity
        if price != price.quantize(Decimal(1).scaleb(-UNIT_PRICE_PLACES)):
            return None, net
        price = price.normalize() if price == price.to_integral_value() else price
    if round_money(line.quantity * price, currency) != net:
        return None, net
    return line.quantity, price


def _plain(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def tax_lines(document: DocumentData, codes: Mapping[str, TaxCode]) -> list[Json]:
    """``TxnTaxDetail.TaxLine``: our tax, per tax code in the order the lines use them, split over the code's
    rates in proportion to their percent (largest remainder), so they always add up to our tax total."""
    inclusive = document.prices_include_tax
    nets: dict[str, Decimal] = {}
    taxes: dict[str, Decimal] = {}
    for line in document.lines:
        net = line.line_amount - line.tax_amount if inclusive else line.line_amount
        nets[line.tax_type] = nets.get(line.tax_type, _ZERO) + net
        taxes[line.tax_type] = taxes.get(line.tax_type, _ZERO) + line.tax_amount
    result: list[Json] = []
    for code_id, tax in taxes.items():
        code = codes.get(code_id)
        if code is None:
            raise ValueError(f"tax code {code_id} is not one of the company's tax codes in QuickBooks")
        if not code.components:
            if tax:
                raise ValueError(
                    f"tax code {code.name} ({code_id}) charges no tax in QuickBooks, but the lines have {tax}"
                )
            continue
        sign = -1 if tax < 0 else 1
        shares = allocate(abs(tax), [component.percent for component in code.components], document.currency)
        for component, share in zip(code.components, shares, strict=True):
            result.append(
                {
                    "Amount": share * sign,
                    "DetailType": "TaxLineDetail",
                    "TaxLineDetail": {
                        "TaxRateRef": {"value": component.rate_id},
                        "PercentBased": True,
                        "TaxPercent": component.percent,
                        "NetAmountTaxable": nets[code_id],
                    },
                }
            )
    return result


def location_of(document: DocumentData) -> str | None:
    """The one Location (QuickBooks Department) of a document: QuickBooks keeps it per transaction."""
    options = {
        choice.option for line in document.lines for choice in line.tracking if choice.category == LOCATION_CATEGORY
    }
    if len(options) > 1:
        raise ValueError(
            "the lines are tracked to several locations (" + ", ".join(sorted(options)) + "); "
            "QuickBooks keeps one location per document"
        )
    return next(iter(options), None)


def document_body(
    document: DocumentData,
    kind: str,
    *,
    codes: Mapping[str, TaxCode],
    custom_field: str | None,
    department: str | None,
) -> Json:
    """An Invoice or CreditMemo as QuickBooks takes it, with our tax sent line by line so its total is ours."""
    where = f"{kind} {document.number or document.our_id}"
    if document.number is not None and len(document.number) > DOC_NUMBER_MAX:
        raise ValueError(
            f"{where}: the number is {len(document.number)} characters; QuickBooks keeps at most "
            f"{DOC_NUMBER_MAX} (DocNumber)"
        )
    if not document.lines:
        raise ValueError(f"{where} has no lines; QuickBooks needs at least one")
    inclusive = document.prices_include_tax
    lines = [line_body(line, inclusive=inclusive, currency=document.currency) for line in document.lines]
    net_total = sum((line["Amount"] for line in lines), _ZERO)
    line_tax = sum((line.tax_amount for line in document.lines), _ZERO)
    if line_tax != document.tax_total:
        raise ValueError(f"{where}: the lines' tax comes to {line_tax}, the tax total is {document.tax_total}")
    if net_total + document.tax_total != document.total:
        raise ValueError(
            f"{where}: the lines and tax come to {net_total + document.tax_total}, the total is {document.total}"
        )
    no_tax = document.tax_total == 0 and all(line.tax_amount == 0 for line in document.lines)
    body: Json = {
        "CustomerRef": {"value": document.contact_external_id},
        "TxnDate": document.date.isoformat(),
        "CurrencyRef": {"value": document.currency},
        "GlobalTaxCalculation": "NotApplicable" if no_tax else ("TaxInclusive" if inclusive else "TaxExcluded"),
        "Line": lines,
        "PrivateNote": tagged_note(kind, document.our_id, document.reference),
    }
    if not no_tax:
        body["TxnTaxDetail"] = {"TotalTax": document.tax_total, "TaxLine": tax_lines(document, codes)}
    if document.number is not None:
        body["DocNumber"] = document.number
    if kind == INVOICE and document.due_date is not None:
        body["DueDate"] = document.due_date.isoformat()
    if document.reference:
        body["CustomerMemo"] = {"value": document.reference[:CUSTOMER_MEMO_MAX]}
    if custom_field is not None:
        body["CustomField"] = [
            {
                "DefinitionId": custom_field,
                "Name": CUSTOM_FIELD_NAME,
                "Type": "StringType",
                "StringValue": compact_id(document.our_id),
            }
        ]
    if department is not None:
        body["DepartmentRef"] = {"value": department}
    return body


def document_our_id(record: Json, kind: str) -> uuid.UUID | None:
    """Our id as kept on an invoice or credit memo: the ``flexbill id`` custom field, else the note's tag."""
    for field in items(record.get("CustomField"), "CustomField"):
        if " ".join(str(field.get("Name", "")).split()).lower() == CUSTOM_FIELD_NAME:
            found = our_id_of_compact(field.get("StringValue"))
            if found is not None:
                return found
    return our_id_in(record.get("PrivateNote"), kind)


def is_deleted(record: Json) -> bool:
    return record.get("status") == "Deleted"


def is_voided(record: Json) -> bool:
    """QuickBooks voids a transaction by setting its amounts to zero and writing "Voided" before its note."""
    note = record.get("PrivateNote")
    return (
        isinstance(note, str)
        and note.startswith("Voided")
        and amount(record, "TotalAmt", "a voided record", _ZERO) == 0
    )


def remote_document(record: Json, kind: str, payments: Sequence[RemotePayment] = ()) -> RemoteDocument:
    """An Invoice or CreditMemo as QuickBooks holds it. Status words: ``Open``, ``Paid`` (an invoice with no
    balance), ``Applied`` (a credit memo with no credit left), ``Voided``, ``Deleted``."""
    document_id = text(record, "Id", f"a {kind}")
    if is_deleted(record):
        return RemoteDocument(
            external_id=document_id,
            our_id=None,
            number=None,
            status="Deleted",
            total=_ZERO,
            amount_paid=_ZERO,
            amount_due=_ZERO,
            voided=True,
            updated_at=updated_at(record),
        )
    what = f"{kind} {document_id}"
    total = amount(record, "TotalAmt", what)
    if kind == CREDIT_NOTE:
        balance = amount(record, "RemainingCredit", what, amount(record, "Balance", what, _ZERO))
    else:
        balance = amount(record, "Balance", what)
    voided = is_voided(record)
    if voided:
        status = "Voided"
    elif balance > 0:
        status = "Open"
    else:
        status = "Applied" if kind == CREDIT_NOTE else "Paid"
    return RemoteDocument(
        external_id=document_id,
        our_id=document_our_id(record, kind),
        number=optional_text(record, "DocNumber"),
        status=status,
        total=total,
        amount_paid=total - balance,
        amount_due=balance,
        voided=voided,
        payments=tuple(payments),
        updated_at=updated_at(record),
    )


def linked(record: Json, txn_type: str) -> list[str]:
    """The ids of the transactions of ``txn_type`` linked to a record (an invoice's payments)."""
    return [
        str(link["TxnId"])
        for link in items(record.get("LinkedTxn"), "LinkedTxn")
        if link.get("TxnType") == txn_type and link.get("TxnId") is not None
    ]


# --- payments ----------------------------------------------------------------------------------------------------


def payment_body(payment: PaymentData, customer_id: str, currency: str | None) -> Json:
    """A Payment received against one invoice into the mapped account, our id in ``PrivateNote``."""
    if payment.amount <= 0:
        raise ValueError(f"payment {payment.our_id}: the amount is {payment.amount}; QuickBooks takes only more than 0")
    if not payment.account_code:
        raise ValueError(f"payment {payment.our_id}: no payment account is mapped (DepositToAccountRef)")
    body: Json = {
        "CustomerRef": {"value": customer_id},
        "TotalAmt": payment.amount,
        "TxnDate": payment.date.isoformat(),
        "DepositToAccountRef": {"value": payment.account_code},
        "Line": [
            {"Amount": payment.amount, "LinkedTxn": [{"TxnId": payment.invoice_external_id, "TxnType": "Invoice"}]}
        ],
        "PrivateNote": tagged_note(PAYMENT, payment.our_id, payment.reference),
    }
    if currency:
        body["CurrencyRef"] = {"value": currency}
    if payment.reference:
        body["PaymentRefNum"] = payment.reference[:PAYMENT_REF_MAX]
    return body


def allocation_body(allocation: AllocationData, customer_id: str) -> Json:
    """A credit memo set against an invoice: a Payment of no money whose lines link both (QuickBooks' way)."""
    if allocation.amount <= 0:
        raise ValueError(f"the allocation of credit memo {allocation.credit_note_external_id} is {allocation.amount}")
    return {
        "CustomerRef": {"value": customer_id},
        "TotalAmt": _ZERO,
        "TxnDate": allocation.date.isoformat(),
        "Line": [
            {
                "Amount": allocation.amount,
                "LinkedTxn": [{"TxnId": allocation.invoice_external_id, "TxnType": "Invoice"}],
            },
            {
                "Amount": allocation.amount,
                "LinkedTxn": [{"TxnId": allocation.credit_note_external_id, "TxnType": "CreditMemo"}],
            },
        ],
        "PrivateNote": f"flexbill credit memo {allocation.credit_note_external_id} applied",
    }


def payments_on_invoice(record: Json, invoice_id: str) -> RemotePayment | None:
    """What a Payment paid onto one invoice in money, or None when it paid nothing there.

    A Payment's lines link the invoices it pays and the credit memos it applies; credit applied is no money
    received, so it is taken off the invoices' lines in order and only the rest is a payment. A Payment of no
    money that only applies a credit memo (as :func:`allocation_body` makes) is therefore none.
    """
    payment_id = text(record, "Id", "a payment")
    what = f"payment {payment_id}"
    if is_deleted(record):
        return None
    credit = _ZERO
    invoice_lines: list[tuple[str, Decimal]] = []
    for line in items(record.get("Line"), f"the lines of {what}"):
        line_amount = amount(line, "Amount", f"a line of {what}")
        for link in items(line.get("LinkedTxn"), f"the links of {what}"):
            if link.get("TxnType") == "CreditMemo":
                credit += line_amount
            elif link.get("TxnType") == "Invoice":
                invoice_lines.append((str(link.get("TxnId")), line_amount))
    paid = _ZERO
    for linked_id, line_amount in invoice_lines:
        applied = min(credit, line_amount)
        credit -= applied
        if linked_id == invoice_id:
            paid += line_amount - applied
    if paid <= 0:
        return None
    note = record.get("PrivateNote")
    return RemotePayment(
        external_id=payment_id,
        date=qbo_date(record.get("TxnDate"), f"the TxnDate of {what}"),
        amount=paid,
        reference=optional_text(record, "PaymentRefNum") or "",
        deleted=is_voided(record),
        our_id=our_id_in(note, PAYMENT),
    )


# --- faults ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FaultError:
    code: str
    message: str
    detail: str = ""
    element: str = ""

    def words(self) -> str:
        """QuickBooks' own words, e.g. ``Duplicate Name Exists Error: The name supplied already exists. (6240)``."""
        said = self.message
        if self.detail and self.detail != self.message:
            said = f"{said}: {self.detail}" if said else self.detail
        return f"{said or 'no message'} ({self.code or 'no code'})"


@dataclass(frozen=True, slots=True)
class Fault:
    type: str
    errors: tuple[FaultError, ...]

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(error.code for error in self.errors)

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(error.words() for error in self.errors) or (f"a {self.type or 'fault'} without details",)

    @property
    def conflict(self) -> bool:
        return bool(self.codes & _CONFLICT_CODES)


def fault_of(body: object) -> Fault | None:
    """The ``Fault`` of a JSON answer (``fault`` in lower case on an authentication refusal), or None."""
    if not isinstance(body, dict):
        return None
    raw = body.get("Fault", body.get("fault"))
    if not isinstance(raw, dict):
        return None
    errors = []
    for error in raw.get("Error", raw.get("error")) or []:
        if not isinstance(error, dict):
            continue
        errors.append(
            FaultError(
                code=str(error.get("code", "")),
                message=str(error.get("Message", error.get("message", ""))),
                detail=str(error.get("Detail", error.get("detail", ""))),
                element=str(error.get("element", "")),
            )
        )
    return Fault(type=str(raw.get("type", "")), errors=tuple(errors))


_XML_FAULT = re.compile(r"<Fault([^>]*)>(.*?)</Fault>", re.S)
_XML_TYPE = re.compile(r"type=\"([^\"]*)\"")
_XML_ERROR = re.compile(r"<Error[^>]*?code=\"([^\"]*)\"[^>]*>(.*?)</Error>", re.S)
_XML_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.S)
_XML_DETAIL = re.compile(r"<Detail>(.*?)</Detail>", re.S)


def xml_fault(content: str) -> Fault | None:
    """The ``Fault`` of an XML answer (QuickBooks' throttle is XML even when JSON was asked for), or None."""
    found = _XML_FAULT.search(content)
    if found is None:
        return None
    errors = []
    for code, inner in _XML_ERROR.findall(found.group(2)):
        message = _XML_MESSAGE.search(inner)
        detail = _XML_DETAIL.search(inner)
        errors.append(
            FaultError(code, message.group(1).strip() if message else "", detail.group(1).strip() if detail else "")
        )
    fault_type = _XML_TYPE.search(found.group(1))
    return Fault(type=fault_type.group(1) if fault_type else "", errors=tuple(errors))


# --- webhooks ----------------------------------------------------------------------------------------------------

_CATEGORIES = {"invoice": "invoice", "creditmemo": "credit_note", "customer": "contact", "payment": "payment"}


def verify_signature(body: bytes, signature: str | None, verifier_token: str) -> None:
    """``intuit-signature`` is base64(HMAC-SHA256(raw body, the app's verifier token)); compared in constant time."""
    if not signature:
        raise BadSignature("the delivery has no intuit-signature")
    expected = base64.b64encode(hmac.new(verifier_token.encode("utf-8"), body, hashlib.sha256).digest())
    if not hmac.compare_digest(expected, signature.strip().encode("utf-8")):
        raise BadSignature("intuit-signature does not match the body")


def webhook_events(body: bytes) -> list[WebhookEvent]:
    """The events of a (verified) delivery, in either of QuickBooks' formats: the CloudEvents array or the
    legacy ``eventNotifications`` object. Entities other than invoices, credit memos, customers and payments
    are left out."""
    payload = loads(body)
    if isinstance(payload, list):
        return _cloud_events(payload)
    if isinstance(payload, dict) and "eventNotifications" in payload:
        return _legacy_events(payload["eventNotifications"])
    raise Malformed("the delivery is neither a CloudEvents array nor an eventNotifications object")


def _cloud_events(payload: list[Any]) -> list[WebhookEvent]:
    found = []
    for index, raw in enumerate(payload):
        event = obj(raw, f"event {index}")
        event_type = text(event, "type", f"event {index}")
        parts = event_type.split(".")
        if len(parts) < 3 or parts[0] != "qbo":
            raise Malformed(f"event {index} has type {event_type!r}, not qbo.<entity>.<operation>.v<n>")
        category = _CATEGORIES.get(parts[1].lower())
        if category is None:
            continue
        found.append(
            WebhookEvent(
                event_id=text(event, "id", f"event {index}"),
                tenant_id=_id_text(event.get("intuitaccountid"), f"the intuitaccountid of event {index}"),
                category=category,
                resource_id=_id_text(event.get("intuitentityid"), f"the intuitentityid of event {index}"),
                event_type=parts[2],
            )
        )
    return found


def _legacy_events(notifications: object) -> list[WebhookEvent]:
    found = []
    for index, raw in enumerate(items(notifications, "eventNotifications")):
        realm = _id_text(raw.get("realmId"), f"the realmId of notification {index}")
        change = obj(raw.get("dataChangeEvent"), f"the dataChangeEvent of notification {index}")
        for entity_index, changed in enumerate(items(change.get("entities"), "entities")):
            what = f"entity {entity_index} of notification {index}"
            name = text(changed, "name", what)
            category = _CATEGORIES.get(name.lower())
            if category is None:
                continue
            resource_id = _id_text(changed.get("id"), f"the id of {what}")
            operation = text(changed, "operation", what)
            last_updated = str(changed.get("lastUpdated", ""))
            # Legacy notices carry no id of their own; these parts are the same in every re-delivery of one.
            fingerprint = "|".join((realm, name, resource_id, operation, last_updated))
            found.append(
                WebhookEvent(
                    event_id=hashlib.sha256(fingerprint.encode("utf-8")).hexdigest()[:40],
                    tenant_id=realm,
                    category=category,
                    resource_id=resource_id,
                    event_type=operation,
                )
            )
    return found


def _id_text(value: object, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise Malformed(f"{what} is missing")
    return str(value)


# --- change data capture -----------------------------------------------------------------------------------------


def cdc_entities(envelope: object) -> dict[str, list[Json]]:
    """The records of a CDC answer by entity name: ``{"CDCResponse":[{"QueryResponse":[{"Invoice":[...]}]}]}``."""
    found: dict[str, list[Json]] = {}
    for response in items(obj(envelope, "the changes").get("CDCResponse"), "CDCResponse"):
        for query in items(response.get("QueryResponse"), "the CDC QueryResponse"):
            for name, rows in query.items():
                if isinstance(rows, list):
                    found.setdefault(name, []).extend(items(rows, f"the changed {name} rows"))
    return found
