"""The company held in memory, and QuickBooks Online's rules for changing it.

Records are kept as the wire dictionaries QuickBooks answers with (only the fields a client wrote, normalised),
next to their ``Id``, ``SyncToken`` and times; everything QuickBooks derives (``TotalAmt``, ``Balance``,
``TxnTaxDetail`` when the client sent none, ``LinkedTxn``, a customer's ``Balance``, the ``SubTotalLineDetail``
line) is computed when a record is written or read, so it is always right. One re-entrant lock guards the
whole company: routes run in a thread pool and the control endpoints change the books at the same time.

The rules, as QuickBooks applies them:

* ``SyncToken`` goes up by one on every write; an update, delete or void with another one is refused (5010).
  A payment applied to an invoice or a credit memo changes that document too (its ``Balance`` and
  ``LinkedTxn``), so its ``SyncToken`` goes up and an Update notice is sent for it.
* A full update replaces every writable field (an omitted one becomes null); ``"sparse": true`` merges; ``Line``
  is replaced wholesale either way.
* ``DisplayName`` is unique, without regard to case, across customers, vendors and employees (6240). Names
  (customers, vendors, employees) share one sequence of Ids and transactions another, as in QuickBooks.
* Sales forms (invoices, credit memos, refund receipts) share one sequence of document numbers, starting at
  1001. When the company's custom transaction numbers preference is off, an omitted ``DocNumber`` takes the next
  number; when it is on, it stays null; ``"AUTO_GENERATE"`` always takes the next number. A number already used
  by a document of the same type is refused (6140) unless the request says ``include=allowduplicatedocnum``.
* A line's ``Amount`` must equal ``Qty`` x ``UnitPrice`` rounded to the penny (6070). Every sales line of a
  taxed transaction needs a ``TaxCodeRef`` (6000, as a UK company requires a VAT rate).
* Tax: a ``TxnTaxDetail`` with ``TaxLine`` amounts is kept as sent (the client's tax wins). Without one, tax is
  computed per tax code on the sum of that code's line amounts, rounded half up once: this can differ by a
  penny from rounding each line. A line's ``Amount`` is its net amount whatever ``GlobalTaxCalculation`` says,
  and the total is the lines plus tax; with ``TaxInclusive`` a line's gross is ``TaxInclusiveAmt``, and when
  every line of a code gives one the code's tax is taken out of their sum (``gross x rate / (100 + rate)``),
  otherwise it is worked out on the net sum. ``NotApplicable`` has no tax.
* A payment's lines link invoices and credit memos; the invoices' lines less the credit memos' lines may not
  exceed ``TotalAmt`` (the rest is ``UnappliedAmt``), and no line may exceed what the document still has open.
* An invoice or a credit memo with payments linked cannot be deleted or voided (unlink them first, as
  QuickBooks asks); a voided document keeps its lines with zero amounts and the note "Voided". Customers and
  items are never deleted, only made inactive (``Active: false``).
* The custom fields of sales forms follow the company's definitions: a value for a definition the company does
  not have is dropped without an error, as QuickBooks does.
* ``DiscountLineDetail`` and group lines are not supported (a clear 6000 says so).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from flexbill.sandbox.quickbooks import demo
from flexbill.sandbox.quickbooks.wire import (
    QboError,
    decimal_of,
    error,
    local_date,
    money,
    qbo_datetime,
)

ZERO = Decimal("0")
Entity = dict[str, Any]
EventSink = Callable[[str, str, str], None]  # (entity name, Id, operation: Create|Update|Delete|Void|Emailed)

# URI path segment -> entity name
ENTITY_PATHS: dict[str, str] = {
    "customer": "Customer",
    "invoice": "Invoice",
    "creditmemo": "CreditMemo",
    "payment": "Payment",
    "refundreceipt": "RefundReceipt",
    "item": "Item",
    "account": "Account",
    "taxcode": "TaxCode",
    "taxrate": "TaxRate",
    "department": "Department",
    "vendor": "Vendor",
    "employee": "Employee",
}
WRITABLE = ("Customer", "Invoice", "CreditMemo", "Payment", "RefundReceipt", "Item")
SALES_FORMS = ("Invoice", "CreditMemo", "RefundReceipt")
NAME_LISTS = ("Customer", "Vendor", "Employee")
TRANSACTIONS = ("Invoice", "CreditMemo", "Payment", "RefundReceipt")
DELETABLE = TRANSACTIONS
MAX_DOC_NUMBER = 21
GLOBAL_TAX = ("TaxExcluded", "TaxInclusive", "NotApplicable")

_META = {"Id", "SyncToken", "MetaData", "domain", "sparse", "status"}
_ADDRESS = {"Id", "Line1", "Line2", "Line3", "Line4", "Line5", "City", "Country", "CountryCode",
            "CountrySubDivisionCode", "PostalCode", "PostalCodeSuffix", "Lat", "Long", "Note"}  # fmt: skip
_CUSTOMER_FIELDS = {
    "DisplayName", "Title", "GivenName", "MiddleName", "FamilyName", "Suffix", "CompanyName", "PrintOnCheckName",
    "PrimaryEmailAddr", "PrimaryPhone", "Mobile", "Fax", "AlternatePhone", "WebAddr", "BillAddr", "ShipAddr",
    "Notes", "Active", "Taxable", "DefaultTaxCodeRef", "CurrencyRef", "PrimaryTaxIdentifier", "SecondaryTaxIdentifier",
    "BusinessNumber", "SalesTermRef", "PaymentMethodRef", "PreferredDeliveryMethod", "ResaleNum", "Job",
    "ParentRef", "BillWithParent", "GSTIN", "GSTRegistrationType", "TaxExemptionReasonId", "Source",
    "OpenBalanceDate", "ARAccountRef", "CustomerTypeRef", "IsProject", "ClientEntityId",
}  # fmt: skip
_CUSTOMER_DERIVED = {"Balance", "BalanceWithJobs", "FullyQualifiedName", "Level", "V4IDPseudonym"}
_SALES_FIELDS = {
    "CustomerRef", "Line", "DocNumber", "TxnDate", "DueDate", "SalesTermRef", "BillEmail", "BillEmailCc",
    "BillEmailBcc", "EmailStatus", "PrintStatus", "GlobalTaxCalculation", "TxnTaxDetail", "CurrencyRef",
    "ExchangeRate", "PrivateNote", "CustomerMemo", "CustomField", "DepartmentRef", "ClassRef", "BillAddr",
    "ShipAddr", "ShipFromAddr", "ShipDate", "TrackingNum", "ApplyTaxAfterDiscount", "AllowOnlineCreditCardPayment",
    "AllowOnlineACHPayment", "AllowIPNPayment", "AllowOnlinePayment", "TransactionLocationType", "TxnSource",
    "DeliveryInfo", "ProjectRef", "FreeFormAddress", "DepositToAccountRef", "PaymentRefNum", "PaymentMethodRef",
    "PaymentType", "CheckPayment", "CreditCardPayment", "Deposit", "RecurDataRef",
}  # fmt: skip
_SALES_DERIVED = {"TotalAmt", "Balance", "HomeTotalAmt", "HomeBalance", "RemainingCredit", "LinkedTxn",
                  "InvoiceLink", "TaxExemptionRef"}  # fmt: skip
_PAYMENT_FIELDS = {
    "CustomerRef", "TotalAmt", "Line", "DepositToAccountRef", "PaymentRefNum", "PaymentMethodRef", "PrivateNote",
    "TxnDate", "CurrencyRef", "ExchangeRate", "ARAccountRef", "CreditCardPayment", "ProcessPayment", "TxnSource",
    "TransactionLocationType", "ProjectRef", "DepartmentRef",
}  # fmt: skip
_PAYMENT_DERIVED = {"UnappliedAmt", "LinkedTxn"}
_ITEM_FIELDS = {
    "Name", "Description", "Type", "IncomeAccountRef", "ExpenseAccountRef", "AssetAccountRef", "UnitPrice",
    "Taxable", "SalesTaxCodeRef", "PurchaseTaxCodeRef", "Sku", "Active", "ParentRef", "SubItem", "PurchaseDesc",
    "PurchaseCost", "TrackQtyOnHand", "QtyOnHand", "InvStartDate", "SalesTaxIncluded", "PurchaseTaxIncluded",
}  # fmt: skip
_ITEM_DERIVED = {"FullyQualifiedName", "Level"}
_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "Customer": (_CUSTOMER_FIELDS, _CUSTOMER_DERIVED),
    "Invoice": (_SALES_FIELDS, _SALES_DERIVED),
    "CreditMemo": (_SALES_FIELDS, _SALES_DERIVED),
    "RefundReceipt": (_SALES_FIELDS, _SALES_DERIVED),
    "Payment": (_PAYMENT_FIELDS, _PAYMENT_DERIVED),
    "Item": (_ITEM_FIELDS, _ITEM_DERIVED),
}
_LINE_FIELDS = {"Id", "LineNum", "Description", "Amount", "DetailType", "SalesItemLineDetail", "SubTotalLineDetail",
                "DescriptionLineDetail", "DiscountLineDetail", "GroupLineDetail", "LinkedTxn", "CustomField",
                "LineEx", "ProjectRef"}  # fmt: skip


# -- errors QuickBooks answers with ----------------------------------------------------------------------------


def not_found(name: str, id_: str) -> QboError:
    return error(
        "610",
        "Object Not Found",
        f"Object Not Found : Something you're trying to use has been made inactive. Check the fields with "
        f"accounts, customers, items, vendors or employees. ({name} Id={id_})",
    )


def invalid_reference(what: str, value: object, element: str = "") -> QboError:
    return error("2500", "Invalid Reference Id", f"Invalid Reference Id : {what} element id {value} not found", element)


def required(field_name: str) -> QboError:
    return error(
        "2020",
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {field_name} is missing in the request",
        field_name,
    )


def business(detail: str, element: str = "") -> QboError:
    return error(
        "6000",
        "A business validation error has occurred while processing your request",
        f"Business Validation Error: {detail}",
        element,
    )


def invalid_value(field_name: str, value: object, why: str) -> QboError:
    return error("2170", "Invalid Enumeration", f"Invalid value {value!r} for {field_name}: {why}", field_name)


def invalid_number(field_name: str, value: object) -> QboError:
    return error(
        "2010",
        "Request has invalid or unsupported property",
        f"Property Name:Can not construct instance of java.math.BigDecimal from String value '{value}': "
        f"not a valid representation specified is unsupported or invalid ({field_name})",
        field_name,
    )


def stale(name: str, id_: str, sent: object, current: int) -> QboError:
    return error(
        "5010",
        "Stale Object Error",
        f"Stale Object Error : You and sandbox user were working on this at the same time. sandbox user finished "
        f"before you did, so your work was not saved. ({name} Id={id_}, SyncToken sent {sent}, current {current})",
    )


def unsupported(detail: str) -> QboError:
    return error("500", "Unsupported Operation", f"Operation {detail} is not supported.")


@dataclass
class Stored:
    """One record: its writable fields (``data``), its identity and its history."""

    id: str
    data: Entity
    sync: int
    created: datetime
    updated: datetime
    voided: bool = False
    # an invoice's or a credit memo's open amount and linked payments when last written, to notice a change
    links: tuple[Decimal, tuple[str, ...]] | None = None


@dataclass(frozen=True)
class Deleted:
    id: str
    deleted: datetime


@dataclass(frozen=True)
class Change:
    """A record changed since a time, for change data capture: the rendered record or a deletion."""

    name: str
    updated: datetime
    entity: Entity


def blank_free(value: Any) -> Any:
    """A request body without its empty strings and nulls (recursively): QuickBooks reads ``"TxnDate": ""`` or
    ``"ServiceDate": null`` as "not given", and client libraries send every field they know, empty or not."""
    if isinstance(value, Mapping):
        return {key: blank_free(item) for key, item in value.items() if item is not None and item != ""}
    if isinstance(value, list):
        return [blank_free(item) for item in value]
    return value


def _text(value: object, field_name: str) -> str:
    if not isinstance(value, str):
        raise error("2010", "Request has invalid or unsupported property", f"{field_name} must be a string", field_name)
    return value


def _ref_value(value: object, field_name: str) -> str:
    if isinstance(value, Mapping) and value.get("value") not in (None, ""):
        return str(value["value"])
    if isinstance(value, str) and value:
        return value
    raise required(f"{field_name}.value")


def _day(value: object, field_name: str) -> date:
    try:
        return date.fromisoformat(_text(value, field_name)[:10])
    except ValueError:
        raise error(
            "2010", "Request has invalid or unsupported property", f"{field_name} {value!r} is not a date", field_name
        ) from None


def _number(value: object, field_name: str) -> Decimal:
    try:
        return decimal_of(value)
    except ValueError:
        raise invalid_number(field_name, value) from None


def _sync_token(body: Mapping[str, Any]) -> int | None:
    value = body.get("SyncToken")
    try:
        return int(str(value)) if value is not None else None
    except ValueError:
        return -1


class Company:
    """One QuickBooks Online company (realm): its lists, transactions and preferences."""

    def __init__(self, *, now: Callable[[], datetime], realm_id: str = demo.REALM_ID, events: EventSink | None = None):
        self.lock = threading.RLock()
        self._now = now
        self.realm_id = realm_id
        self.events: EventSink = events or (lambda name, id_, operation: None)
        self.reset()

    # -- housekeeping ------------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the demo company with no customers or transactions; preferences back to their defaults."""
        with self.lock:
            now = self._now()
            self.created = now
            self.records: dict[str, dict[str, Stored]] = {name: {} for name in ENTITY_PATHS.values()}
            self.deleted: dict[str, dict[str, Deleted]] = {name: {} for name in ENTITY_PATHS.values()}
            self.custom_txn_numbers = False
            self.custom_field = True
            # QuickBooks' "Print on form" for the custom field; flexbill's id is for the books, not the member.
            self.print_custom_field = False
            self.company_info = Stored("1", demo.company_info(), 0, now, now)
            self.preferences_updated = now
            self.preferences_sync = 0
            for name, entities in (
                ("Account", demo.accounts()),
                ("TaxRate", demo.tax_rates()),
                ("TaxCode", demo.tax_codes()),
                ("Item", demo.items()),
                ("Department", demo.departments()),
                ("Vendor", demo.vendors()),
                ("Employee", demo.employees()),
            ):
                for entity in entities:
                    id_ = entity.pop("Id")
                    self.records[name][id_] = Stored(id_, entity, 0, now, now)
            self._next_name_id = 58
            self._next_txn_id = 130
            self._next_item_id = 5

    def counts(self) -> dict[str, int]:
        with self.lock:
            counts = {name: len(records) for name, records in self.records.items() if name in WRITABLE}
            counts["Invoice.voided"] = sum(1 for s in self.records["Invoice"].values() if s.voided)
            counts["deleted"] = sum(len(d) for d in self.deleted.values())
            return counts

    def _new_id(self, name: str) -> str:
        if name in NAME_LISTS:
            self._next_name_id += 1
            return str(self._next_name_id - 1)
        if name == "Item":
            self._next_item_id += 1
            return str(self._next_item_id - 1)
        self._next_txn_id += 1
        return str(self._next_txn_id - 1)

    def set_preferences(
        self,
        *,
        custom_txn_numbers: bool | None = None,
        custom_field: bool | None = None,
        print_custom_field: bool | None = None,
    ) -> None:
        with self.lock:
            if custom_txn_numbers is not None:
                self.custom_txn_numbers = custom_txn_numbers
            if custom_field is not None:
                self.custom_field = custom_field
            if print_custom_field is not None:
                self.print_custom_field = print_custom_field
            self.preferences_sync += 1
            self.preferences_updated = self._now()

    def settings(self) -> dict[str, bool]:
        """The preferences the sandbox lets a test or an operator set, as its control endpoints show them."""
        with self.lock:
            return {
                "custom_txn_numbers": self.custom_txn_numbers,
                "custom_field": self.custom_field,
                "print_custom_field": self.print_custom_field,
            }

    def preferences(self) -> Entity:
        with self.lock:
            prefs = demo.preferences(custom_txn_numbers=self.custom_txn_numbers, custom_field=self.custom_field)
            return self._with_meta(prefs, "1", self.preferences_sync, self.created, self.preferences_updated)

    def info(self) -> Entity:
        with self.lock:
            stored = self.company_info
            return self._with_meta(dict(stored.data), stored.id, stored.sync, stored.created, stored.updated)

    # -- reading -----------------------------------------------------------------------------------------------

    def get(self, name: str, id_: str) -> Stored:
        stored = self.records[name].get(str(id_))
        if stored is None:
            raise not_found(name, str(id_))
        return stored

    def read(self, name: str, id_: str) -> Entity:
        with self.lock:
            return self.render(name, self.get(name, id_))

    def all(self, name: str) -> list[Entity]:
        with self.lock:
            return [self.render(name, stored) for stored in self.records[name].values()]

    def field_names(self, name: str, rendered: Iterable[Entity]) -> set[str] | None:
        """The fields a query may name for ``name``: what its records carry and what a client may write
        (``None`` for the read-only lists, whose records show every field they have)."""
        if name not in _FIELDS:
            return None
        writable, derived = _FIELDS[name]
        return {key for entity in rendered for key in entity} | writable | derived | _META

    def _with_meta(self, data: Entity, id_: str, sync: int, created: datetime, updated: datetime) -> Entity:
        return {
            **data,
            "domain": "QBO",
            "sparse": False,
            "Id": id_,
            "SyncToken": str(sync),
            "MetaData": {"CreateTime": qbo_datetime(created), "LastUpdatedTime": qbo_datetime(updated)},
        }

    def render(self, name: str, stored: Stored) -> Entity:
        """The record as QuickBooks answers with it (call with the lock held)."""
        data = dict(stored.data)
        if name == "Customer":
            data["FullyQualifiedName"] = data.get("DisplayName")
            data["Balance"] = self._customer_balance(stored.id)
            data["BalanceWithJobs"] = data["Balance"]
        elif name in SALES_FORMS:
            data = self._render_sales(name, stored, data)
        elif name == "Payment":
            data = self._render_payment(stored, data)
        return self._with_meta(data, stored.id, stored.sync, stored.created, stored.updated)

    def _customer_balance(self, customer_id: str) -> Decimal:
        balance = ZERO
        for name, sign in (("Invoice", 1), ("CreditMemo", -1)):
            for stored in self.records[name].values():
                if stored.data["CustomerRef"]["value"] == customer_id and not stored.voided:
                    balance += sign * self._open_amount(name, stored)
        for payment in self.records["Payment"].values():
            if payment.data["CustomerRef"]["value"] == customer_id:
                balance -= self._unapplied(payment.data)
        return money(balance)

    def _applied(self, name: str, id_: str, *, excluding: str | None = None) -> Decimal:
        """How much of an invoice or credit memo the payments (other than ``excluding``) have used."""
        total = ZERO
        for payment in self.records["Payment"].values():
            if payment.id == excluding:
                continue
            for line in payment.data.get("Line", []):
                for link in line["LinkedTxn"]:
                    if link["TxnType"] == name and link["TxnId"] == id_:
                        total += line["Amount"]
        return total

    def _open_amount(self, name: str, stored: Stored) -> Decimal:
        if name == "RefundReceipt":
            return ZERO
        total: Decimal = stored.data["TotalAmt"]
        return total - self._applied(name, stored.id)

    def _links(self, name: str, id_: str) -> list[Entity]:
        links = []
        for payment in self.records["Payment"].values():
            if any(
                link["TxnType"] == name and link["TxnId"] == id_
                for line in payment.data.get("Line", [])
                for link in line["LinkedTxn"]
            ):
                links.append({"TxnId": payment.id, "TxnType": "Payment"})
        return links

    def _render_sales(self, name: str, stored: Stored, data: Entity) -> Entity:
        lines = [dict(line) for line in data.pop("Line")]
        subtotal = sum((line["Amount"] for line in lines), ZERO)
        lines.append({"Amount": subtotal, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
        data["Line"] = lines
        data["LinkedTxn"] = self._links(name, stored.id)
        open_amount = self._open_amount(name, stored)
        if name == "CreditMemo":
            data["RemainingCredit"] = open_amount
        data["Balance"] = open_amount
        if data["CurrencyRef"]["value"] != demo.HOME_CURRENCY:
            rate = data["ExchangeRate"]
            data["HomeTotalAmt"] = money(data["TotalAmt"] * rate)
            data["HomeBalance"] = money(open_amount * rate)
        if self.custom_field:
            fields = {f["DefinitionId"]: f for f in data.get("CustomField", [])}
            data["CustomField"] = [
                fields.get("1", {"DefinitionId": "1", "Name": demo.CUSTOM_FIELD_NAME, "Type": "StringType"})
            ]
        else:
            data["CustomField"] = []
        return data

    def _render_payment(self, stored: Stored, data: Entity) -> Entity:
        data["UnappliedAmt"] = self._unapplied(data)
        data.setdefault("ProcessPayment", False)
        data["Line"] = [{**line, "LineEx": {"any": []}} for line in data.get("Line", [])]
        return data

    def _unapplied(self, data: Mapping[str, Any]) -> Decimal:
        applied = ZERO
        for line in data.get("Line", []):
            for link in line["LinkedTxn"]:
                applied += line["Amount"] if link["TxnType"] == "Invoice" else -line["Amount"]
        return money(data["TotalAmt"] - applied)

    # -- writing -----------------------------------------------------------------------------------------------

    def save(self, name: str, body: Mapping[str, Any], *, allow_duplicate_docnum: bool = False) -> Entity:
        """Create (no ``Id``) or update (with ``Id`` and ``SyncToken``); returns the record as answered."""
        if name not in WRITABLE:
            raise unsupported(f"Create/Update of {name}")
        if not isinstance(body, Mapping):
            raise error("2010", "Request has invalid or unsupported property", f"the {name} must be a JSON object")
        with self.lock:
            self._check_fields(name, body)
            if body.get("Id") in (None, ""):
                stored = self._create(name, body, allow_duplicate_docnum)
                operation = "Create"
            else:
                stored = self._update(name, body, allow_duplicate_docnum)
                operation = "Update"
            if name in ("Invoice", "CreditMemo"):
                stored.links = self._link_state(name, stored)
            self.events(name, stored.id, operation)
            if name == "Payment":
                self._refresh_links()
            return self.render(name, stored)

    def _check_fields(self, name: str, body: Mapping[str, Any]) -> None:
        writable, derived = _FIELDS[name]
        for key in body:
            if key not in writable and key not in derived and key not in _META:
                raise error(
                    "2010",
                    "Request has invalid or unsupported property",
                    f'Property Name:Unrecognized field "{key}" specified is unsupported or invalid',
                    key,
                )

    def _writable(self, name: str, body: Mapping[str, Any]) -> Entity:
        writable, _derived = _FIELDS[name]
        cleaned: Entity = blank_free(body)
        return {key: value for key, value in cleaned.items() if key in writable}

    def _create(self, name: str, body: Mapping[str, Any], allow_duplicate_docnum: bool) -> Stored:
        now = self._now()
        id_ = self._new_id(name)
        data = self._validate(name, self._writable(name, body), None, id_, allow_duplicate_docnum, creating=True)
        stored = Stored(id_, data, 0, now, now)
        self.records[name][id_] = stored
        return stored

    def _check_sync(self, name: str, body: Mapping[str, Any]) -> Stored:
        id_ = str(body.get("Id"))
        stored = self.records[name].get(id_)
        if stored is None:
            raise not_found(name, id_)
        sent = _sync_token(body)
        if sent is None:
            raise required("SyncToken")
        if sent != stored.sync:
            raise stale(name, id_, body.get("SyncToken"), stored.sync)
        return stored

    def _update(self, name: str, body: Mapping[str, Any], allow_duplicate_docnum: bool) -> Stored:
        stored = self._check_sync(name, body)
        if stored.voided:
            raise business(f"This {name} has been voided and cannot be changed.")
        sparse = body.get("sparse") is True
        given = self._writable(name, body)
        if sparse:
            merged = {**stored.data, **given}
            if "TxnTaxDetail" not in given and ("Line" in given or "GlobalTaxCalculation" in given):
                merged.pop("TxnTaxDetail", None)  # new lines: the tax is worked out again for them
            for key, value in body.items():  # an explicit null clears a field in a sparse update too
                if value is None and key in merged:
                    del merged[key]
        else:
            merged = given
        for derived in _FIELDS[name][1]:
            merged.pop(derived, None)
        stored.data = self._validate(name, merged, stored, stored.id, allow_duplicate_docnum, creating=False)
        self._touch(stored)
        return stored

    def _touch(self, stored: Stored) -> None:
        stored.sync += 1
        stored.updated = max(self._now(), stored.updated)

    def _validate(
        self,
        name: str,
        data: Entity,
        existing: Stored | None,
        id_: str,
        allow_duplicate_docnum: bool,
        *,
        creating: bool,
    ) -> Entity:
        if name == "Customer":
            return self._customer(data, id_)
        if name == "Item":
            return self._item(data, id_)
        if name == "Payment":
            return self._payment(data, id_)
        return self._sales_form(name, data, existing, id_, allow_duplicate_docnum, creating=creating)

    # -- customers and items -----------------------------------------------------------------------------------

    def display_name_owner(self, display_name: str, *, excluding: str | None = None) -> tuple[str, str] | None:
        """The customer, vendor or employee (name, Id) already called ``display_name`` (case does not matter)."""
        wanted = display_name.strip().casefold()
        for name in NAME_LISTS:
            for stored in self.records[name].values():
                if stored.id != excluding and str(stored.data.get("DisplayName", "")).strip().casefold() == wanted:
                    return name, stored.id
        return None

    def _customer(self, data: Entity, id_: str) -> Entity:
        display = data.get("DisplayName")
        if display is None or not str(display).strip():
            parts = [data.get(key) for key in ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")]
            derived = " ".join(str(part) for part in parts if part) or data.get("CompanyName")
            if not derived:
                raise required("DisplayName")
            display = derived
        display = _text(display, "DisplayName").strip()
        if len(display) > 500:
            raise business("DisplayName is longer than 500 characters.", "DisplayName")
        owner = self.display_name_owner(display, excluding=id_)
        if owner is not None:
            raise error(
                "6240",
                "Duplicate Name Exists Error",
                "The name supplied already exists. : Another customer, vendor or employee is already using this "
                f"name. Please use a different name. Id={owner[1]}",
            )
        data["DisplayName"] = display
        data.setdefault("PrintOnCheckName", data.get("CompanyName") or display)
        data.setdefault("Active", True)
        data.setdefault("Taxable", True)
        data.setdefault("Job", False)
        data.setdefault("BillWithParent", False)
        data.setdefault("PreferredDeliveryMethod", "Print")
        currency = _ref_value(data.get("CurrencyRef", {"value": demo.HOME_CURRENCY}), "CurrencyRef")
        if currency not in demo.CURRENCIES:
            raise invalid_reference("Currency", currency, "CurrencyRef")
        existing = self.records["Customer"].get(id_)
        if existing is not None and existing.data["CurrencyRef"]["value"] != currency and self._has_transactions(id_):
            raise business("You can't change the currency of a customer that has transactions.", "CurrencyRef")
        data["CurrencyRef"] = {"value": currency, "name": demo.CURRENCIES[currency]}
        if "PrimaryEmailAddr" in data and not isinstance(data["PrimaryEmailAddr"], Mapping):
            raise error("2010", "Request has invalid or unsupported property", "PrimaryEmailAddr must be an object")
        for address in ("BillAddr", "ShipAddr"):
            if address in data:
                if not isinstance(data[address], Mapping):
                    raise error("2010", "Request has invalid or unsupported property", f"{address} must be an object")
                unknown = set(data[address]) - _ADDRESS
                if unknown:
                    raise error(
                        "2010",
                        "Request has invalid or unsupported property",
                        f'Property Name:Unrecognized field "{sorted(unknown)[0]}" in {address}',
                        address,
                    )
        if "DefaultTaxCodeRef" in data:
            code = _ref_value(data["DefaultTaxCodeRef"], "DefaultTaxCodeRef")
            if code not in self.records["TaxCode"]:
                raise invalid_reference("TaxCode", code, "DefaultTaxCodeRef")
        if not isinstance(data["Active"], bool):
            raise invalid_value("Active", data["Active"], "must be true or false")
        return data

    def _has_transactions(self, customer_id: str) -> bool:
        return any(
            stored.data["CustomerRef"]["value"] == customer_id
            for name in TRANSACTIONS
            for stored in self.records[name].values()
        )

    def _item(self, data: Entity, id_: str) -> Entity:
        item_name = _text(data.get("Name") or "", "Name").strip()
        if not item_name:
            raise required("Name")
        for stored in self.records["Item"].values():
            if stored.id != id_ and str(stored.data.get("Name", "")).casefold() == item_name.casefold():
                raise error(
                    "6240",
                    "Duplicate Name Exists Error",
                    "The name supplied already exists. : Another product or service is already using this name. "
                    f"Please use a different name. Id={stored.id}",
                )
        data["Name"] = item_name
        data["FullyQualifiedName"] = item_name
        kind = data.setdefault("Type", "Service")
        if kind not in ("Service", "NonInventory", "Inventory", "Category", "Group"):
            raise invalid_value("Type", kind, "must be Service, NonInventory, Inventory, Category or Group")
        if kind in ("Service", "NonInventory", "Inventory"):
            if "IncomeAccountRef" not in data:
                raise required("IncomeAccountRef")
            account = _ref_value(data["IncomeAccountRef"], "IncomeAccountRef")
            found = self.records["Account"].get(account)
            if found is None:
                raise invalid_reference("Account", account, "IncomeAccountRef")
            data["IncomeAccountRef"] = {"value": account, "name": found.data["Name"]}
        if "SalesTaxCodeRef" in data:
            code = _ref_value(data["SalesTaxCodeRef"], "SalesTaxCodeRef")
            if code not in self.records["TaxCode"]:
                raise invalid_reference("TaxCode", code, "SalesTaxCodeRef")
            data["SalesTaxCodeRef"] = {"value": code, "name": self.records["TaxCode"][code].data["Name"]}
        data["UnitPrice"] = _number(data.get("UnitPrice", 0), "UnitPrice")
        data.setdefault("Active", True)
        data.setdefault("Taxable", True)
        data.setdefault("TrackQtyOnHand", False)
        return data

    # -- sales forms -------------------------------------------------------------------------------------------

    def _customer_ref(self, data: Entity) -> Stored:
        if "CustomerRef" not in data:
            raise required("CustomerRef")
        customer_id = _ref_value(data["CustomerRef"], "CustomerRef")
        customer = self.records["Customer"].get(customer_id)
        if customer is None:
            raise invalid_reference("Names", customer_id, "CustomerRef")
        data["CustomerRef"] = {"value": customer.id, "name": customer.data["DisplayName"]}
        return customer

    def _currency(self, data: Entity, customer: Stored) -> None:
        currency = _ref_value(data.get("CurrencyRef", customer.data["CurrencyRef"]), "CurrencyRef")
        if currency not in demo.CURRENCIES:
            raise business(f"Currency {currency} is not enabled for this company.", "CurrencyRef")
        if currency != customer.data["CurrencyRef"]["value"]:
            raise business(
                f"The transaction currency ({currency}) must be the customer's currency "
                f"({customer.data['CurrencyRef']['value']}).",
                "CurrencyRef",
            )
        data["CurrencyRef"] = {"value": currency, "name": demo.CURRENCIES[currency]}
        if currency == demo.HOME_CURRENCY:
            data.pop("ExchangeRate", None)
            data["ExchangeRate"] = Decimal("1")
        else:
            rate = _number(data.get("ExchangeRate", demo.EXCHANGE_RATES[currency]), "ExchangeRate")
            if rate <= 0:
                raise business("ExchangeRate must be greater than 0.", "ExchangeRate")
            data["ExchangeRate"] = rate

    def _doc_number(
        self, name: str, data: Entity, existing: Stored | None, id_: str, allow_duplicate: bool, creating: bool
    ) -> None:
        number = data.get("DocNumber")
        if number == "AUTO_GENERATE" or (number is None and creating and not self.custom_txn_numbers):
            data["DocNumber"] = self._next_doc_number()
            return
        if number is None:
            data.pop("DocNumber", None)
            return
        number = _text(number, "DocNumber").strip()
        if len(number) > MAX_DOC_NUMBER:
            raise error(
                "6000",
                "A business validation error has occurred while processing your request",
                f"String length is either shorter or longer than supported by specification. Min:0 Max:"
                f"{MAX_DOC_NUMBER} supported. Supplied length:{len(number)}",
                "DocNumber",
            )
        data["DocNumber"] = number
        if allow_duplicate:
            return
        unchanged = existing is not None and existing.data.get("DocNumber") == number
        if unchanged:
            return
        for other in self.records[name].values():
            if other.id != id_ and other.data.get("DocNumber") == number:
                raise error(
                    "6140",
                    "Duplicate Document Number Error",
                    f"Duplicate Document Number Error : You must specify a different number. This number has "
                    f"already been used. DocNumber={number} is assigned to TxnType={name} with TxnId={other.id}",
                    "DocNumber",
                )

    def _next_doc_number(self) -> str:
        highest = demo.FIRST_DOC_NUMBER - 1
        for name in SALES_FORMS:
            for stored in self.records[name].values():
                number = str(stored.data.get("DocNumber") or "")
                if number.isdigit():
                    highest = max(highest, int(number))
        return str(highest + 1)

    def _sales_form(
        self, name: str, data: Entity, existing: Stored | None, id_: str, allow_duplicate: bool, *, creating: bool
    ) -> Entity:
        customer = self._customer_ref(data)
        self._currency(data, customer)
        today = local_date(self._now())
        txn_date = _day(data["TxnDate"], "TxnDate") if "TxnDate" in data else today
        data["TxnDate"] = txn_date.isoformat()
        if name == "Invoice":
            due = _day(data["DueDate"], "DueDate") if "DueDate" in data else txn_date + timedelta(days=30)
            if due < txn_date:
                raise business("The due date cannot be before the transaction date.", "DueDate")
            data["DueDate"] = due.isoformat()
            data.setdefault("EmailStatus", "NotSet")
            data.setdefault("AllowOnlineCreditCardPayment", False)
            data.setdefault("AllowOnlineACHPayment", False)
        else:
            data.pop("DueDate", None)
        if data.get("EmailStatus", "NotSet") not in ("NotSet", "NeedToSend", "EmailSent"):
            raise invalid_value("EmailStatus", data["EmailStatus"], "must be NotSet, NeedToSend or EmailSent")
        data.setdefault("PrintStatus", "NotSet")
        if name == "RefundReceipt":
            if "DepositToAccountRef" not in data:
                raise required("DepositToAccountRef")
            data["DepositToAccountRef"] = self._account_ref(data["DepositToAccountRef"], "DepositToAccountRef")
        else:
            for key in ("DepositToAccountRef", "PaymentRefNum", "PaymentMethodRef", "PaymentType"):
                if key in data and name != "Invoice":
                    data.pop(key)
        if "BillAddr" not in data and "BillAddr" in customer.data:
            data["BillAddr"] = dict(customer.data["BillAddr"])
        if "BillEmail" not in data and "PrimaryEmailAddr" in customer.data:
            data["BillEmail"] = dict(customer.data["PrimaryEmailAddr"])
        if "DepartmentRef" in data:
            department = _ref_value(data["DepartmentRef"], "DepartmentRef")
            found = self.records["Department"].get(department)
            if found is None:
                raise invalid_reference("Department", department, "DepartmentRef")
            data["DepartmentRef"] = {"value": department, "name": found.data["Name"]}
        if "CustomerMemo" in data and not isinstance(data["CustomerMemo"], Mapping):
            data["CustomerMemo"] = {"value": str(data["CustomerMemo"])}
        if "PrivateNote" in data:
            _text(data["PrivateNote"], "PrivateNote")
        self._custom_fields(data)
        self._doc_number(name, data, existing, id_, allow_duplicate, creating)
        mode = data.setdefault("GlobalTaxCalculation", "TaxExcluded")
        if mode not in GLOBAL_TAX:
            raise invalid_value("GlobalTaxCalculation", mode, "must be TaxExcluded, TaxInclusive or NotApplicable")
        data["Line"] = self._lines(data.get("Line"), mode)
        self._tax_and_totals(data, mode)
        if existing is not None and name in ("Invoice", "CreditMemo"):
            applied = self._applied(name, existing.id)
            if data["TotalAmt"] < applied:
                raise business(
                    f"The new total {data['TotalAmt']} is less than the {applied} already applied by payments. "
                    "Unlink the payments first.",
                    "Line",
                )
        return data

    def _account_ref(self, value: object, field_name: str) -> dict[str, str]:
        account = _ref_value(value, field_name)
        found = self.records["Account"].get(account)
        if found is None:
            raise invalid_reference("Account", account, field_name)
        return {"value": account, "name": found.data["Name"]}

    def _custom_fields(self, data: Entity) -> None:
        fields = data.get("CustomField")
        if fields is None:
            return
        if not isinstance(fields, list):
            raise error("2010", "Request has invalid or unsupported property", "CustomField must be an array")
        kept = []
        for field in fields:
            if not isinstance(field, Mapping):
                raise error("2010", "Request has invalid or unsupported property", "each CustomField is an object")
            if self.custom_field and str(field.get("DefinitionId")) == "1":
                value = field.get("StringValue")
                kept_field = {"DefinitionId": "1", "Name": demo.CUSTOM_FIELD_NAME, "Type": "StringType"}
                if value not in (None, ""):
                    text = str(value)
                    if len(text) > 31:
                        raise business("A custom field value can be at most 31 characters long.", "CustomField")
                    kept_field["StringValue"] = text
                kept.append(kept_field)
        data["CustomField"] = kept

    def _lines(self, lines: object, mode: str) -> list[Entity]:
        if not isinstance(lines, list):
            raise business("You must fill out at least one split line.", "Line")
        result: list[Entity] = []
        for index, line in enumerate(lines):
            where = f"Line[{index}]"
            if not isinstance(line, Mapping):
                raise error("2010", "Request has invalid or unsupported property", f"{where} must be an object")
            unknown = set(line) - _LINE_FIELDS
            if unknown:
                raise error(
                    "2010",
                    "Request has invalid or unsupported property",
                    f'Property Name:Unrecognized field "{sorted(unknown)[0]}" in {where}',
                    where,
                )
            detail_type = line.get("DetailType")
            if detail_type == "SubTotalLineDetail":
                continue  # QuickBooks works the subtotal out itself
            number = len(result) + 1
            if detail_type == "DescriptionOnly":
                result.append(
                    {
                        "Id": str(number),
                        "LineNum": number,
                        "Description": str(line.get("Description", "")),
                        "Amount": ZERO,
                        "DetailType": "DescriptionOnly",
                        "DescriptionLineDetail": {},
                    }
                )
                continue
            if detail_type != "SalesItemLineDetail":
                if detail_type in ("DiscountLineDetail", "GroupLineDetail"):
                    raise business(f"{where}: {detail_type} lines are not supported by this sandbox.", where)
                raise (
                    required(f"{where}.DetailType")
                    if detail_type is None
                    else invalid_value(
                        f"{where}.DetailType",
                        detail_type,
                        "must be SalesItemLineDetail, SubTotalLineDetail or DescriptionOnly",
                    )
                )
            result.append(self._sales_line(line, number, where, mode))
        if not any(line["DetailType"] == "SalesItemLineDetail" for line in result):
            raise business("You must fill out at least one split line.", "Line")
        return result

    def _sales_line(self, line: Mapping[str, Any], number: int, where: str, mode: str) -> Entity:
        if "Amount" not in line:
            raise required(f"{where}.Amount")
        amount = _number(line["Amount"], f"{where}.Amount")
        detail = line.get("SalesItemLineDetail") or {}
        if not isinstance(detail, Mapping):
            raise error("2010", "Request has invalid or unsupported property", f"{where}.SalesItemLineDetail")
        out_detail: Entity = {}
        item_id = _ref_value(detail["ItemRef"], f"{where}.ItemRef") if "ItemRef" in detail else "1"
        item = self.records["Item"].get(item_id)
        if item is None:
            raise invalid_reference("Item", item_id, f"{where}.SalesItemLineDetail.ItemRef")
        out_detail["ItemRef"] = {"value": item.id, "name": item.data["Name"]}
        if "IncomeAccountRef" in item.data:
            out_detail["ItemAccountRef"] = dict(item.data["IncomeAccountRef"])
        # a zero quantity or price is what client libraries send for "not set": QuickBooks then takes the amount
        qty = _number(detail["Qty"], f"{where}.Qty") if "Qty" in detail else None
        price = _number(detail["UnitPrice"], f"{where}.UnitPrice") if "UnitPrice" in detail else None
        qty = qty if qty else None
        price = price if price else None
        if qty is not None and price is not None:
            expected = money(qty * price)
            if expected != money(amount):
                raise error(
                    "6070",
                    "Amount calculation incorrect in the request",
                    f"Amount is not equal to UnitPrice * Qty. Supplied value:{amount} ({where}: "
                    f"{qty} x {price} = {expected})",
                    f"{where}.Amount",
                )
        elif qty is not None:
            price = amount / qty
        elif price is not None:
            qty = (amount / price).normalize()
        else:
            qty, price = Decimal("1"), amount
        out_detail["Qty"] = qty
        out_detail["UnitPrice"] = price
        if "TaxCodeRef" in detail:
            code = _ref_value(detail["TaxCodeRef"], f"{where}.TaxCodeRef")
            if code not in self.records["TaxCode"]:
                raise invalid_reference("TaxCode", code, f"{where}.SalesItemLineDetail.TaxCodeRef")
            out_detail["TaxCodeRef"] = {"value": code}
        elif mode != "NotApplicable":
            raise business("Make sure all your transactions have a VAT rate before you save.", f"{where}.TaxCodeRef")
        if "ServiceDate" in detail:
            out_detail["ServiceDate"] = _day(detail["ServiceDate"], f"{where}.ServiceDate").isoformat()
        if "TaxInclusiveAmt" in detail and mode == "TaxInclusive":
            out_detail["TaxInclusiveAmt"] = money(_number(detail["TaxInclusiveAmt"], f"{where}.TaxInclusiveAmt"))
        for key in ("ClassRef", "DiscountRate", "DiscountAmt", "MarkupInfo"):
            if key in detail:
                out_detail[key] = detail[key]
        result: Entity = {"Id": str(number), "LineNum": number}
        if "Description" in line:
            result["Description"] = str(line["Description"])
        result.update({"Amount": money(amount), "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": out_detail})
        if line.get("LinkedTxn"):
            result["LinkedTxn"] = line["LinkedTxn"]
        return result

    def tax_rate_of(self, code_id: str) -> tuple[str, Decimal]:
        """The tax rate (Id, percent) a tax code applies to sales."""
        code = self.records["TaxCode"][code_id]
        details = code.data["SalesTaxRateList"]["TaxRateDetail"]
        rate_id = details[0]["TaxRateRef"]["value"]
        return rate_id, self.records["TaxRate"][rate_id].data["RateValue"]

    def _tax_and_totals(self, data: Entity, mode: str) -> None:
        lines = [line for line in data["Line"] if line["DetailType"] == "SalesItemLineDetail"]
        subtotal = sum((line["Amount"] for line in lines), ZERO)
        given = data.get("TxnTaxDetail")
        if mode == "NotApplicable":
            data["TxnTaxDetail"] = {"TotalTax": ZERO}
            total_tax = ZERO
        elif isinstance(given, Mapping) and given.get("TaxLine"):
            tax_lines = []
            for index, tax_line in enumerate(given["TaxLine"]):
                where = f"TxnTaxDetail.TaxLine[{index}]"
                if not isinstance(tax_line, Mapping) or "Amount" not in tax_line:
                    raise required(f"{where}.Amount")
                kept = dict(tax_line)
                kept["Amount"] = money(_number(tax_line["Amount"], f"{where}.Amount"))
                kept.setdefault("DetailType", "TaxLineDetail")
                detail = kept.get("TaxLineDetail")
                if isinstance(detail, Mapping) and "TaxRateRef" in detail:
                    rate_id = _ref_value(detail["TaxRateRef"], f"{where}.TaxRateRef")
                    if rate_id not in self.records["TaxRate"]:
                        raise invalid_reference("TaxRate", rate_id, f"{where}.TaxRateRef")
                tax_lines.append(kept)
            total_tax = sum((line["Amount"] for line in tax_lines), ZERO)
            data["TxnTaxDetail"] = {"TotalTax": total_tax, "TaxLine": tax_lines}
        else:
            by_code: dict[str, list[Entity]] = {}
            for line in lines:
                by_code.setdefault(line["SalesItemLineDetail"]["TaxCodeRef"]["value"], []).append(line)
            tax_lines = []
            for code, code_lines in by_code.items():
                rate_id, rate = self.tax_rate_of(code)
                net = sum((line["Amount"] for line in code_lines), ZERO)
                grosses = [line["SalesItemLineDetail"].get("TaxInclusiveAmt") for line in code_lines]
                if mode == "TaxInclusive" and all(gross is not None for gross in grosses):
                    gross = sum((g for g in grosses if g is not None), ZERO)
                    tax = money(gross * rate / (100 + rate))
                else:
                    tax = money(net * rate / 100)
                tax_lines.append(
                    {
                        "Amount": tax,
                        "DetailType": "TaxLineDetail",
                        "TaxLineDetail": {
                            "TaxRateRef": {"value": rate_id},
                            "PercentBased": True,
                            "TaxPercent": rate,
                            "NetAmountTaxable": net,
                        },
                    }
                )
            total_tax = sum((line["Amount"] for line in tax_lines), ZERO)
            data["TxnTaxDetail"] = {"TotalTax": total_tax, "TaxLine": tax_lines}
        data["TotalAmt"] = money(subtotal + total_tax)

    # -- payments ----------------------------------------------------------------------------------------------

    def _payment(self, data: Entity, id_: str) -> Entity:
        customer = self._customer_ref(data)
        self._currency(data, customer)
        if "TotalAmt" not in data:
            raise required("TotalAmt")
        total = money(_number(data["TotalAmt"], "TotalAmt"))
        if total < 0:
            raise business("The payment amount cannot be negative.", "TotalAmt")
        data["TotalAmt"] = total
        data["TxnDate"] = (
            _day(data["TxnDate"], "TxnDate") if "TxnDate" in data else local_date(self._now())
        ).isoformat()
        data["DepositToAccountRef"] = self._account_ref(
            data.get("DepositToAccountRef", {"value": "4"}), "DepositToAccountRef"
        )
        if "PaymentRefNum" in data:
            data["PaymentRefNum"] = _text(data["PaymentRefNum"], "PaymentRefNum")
            if len(data["PaymentRefNum"]) > 21:
                raise business("PaymentRefNum can be at most 21 characters long.", "PaymentRefNum")
        lines = data.get("Line", [])
        if not isinstance(lines, list):
            raise error("2010", "Request has invalid or unsupported property", "Line must be an array")
        kept: list[Entity] = []
        invoiced = credited = ZERO
        for index, line in enumerate(lines):
            where = f"Line[{index}]"
            if not isinstance(line, Mapping) or "Amount" not in line:
                raise required(f"{where}.Amount")
            amount = money(_number(line["Amount"], f"{where}.Amount"))
            links = line.get("LinkedTxn")
            if not isinstance(links, list) or len(links) != 1 or not isinstance(links[0], Mapping):
                raise required(f"{where}.LinkedTxn")
            link = links[0]
            txn_type, txn_id = link.get("TxnType"), str(link.get("TxnId", ""))
            if txn_type not in ("Invoice", "CreditMemo"):
                raise invalid_value(f"{where}.LinkedTxn.TxnType", txn_type, "must be Invoice or CreditMemo")
            target = self.records[str(txn_type)].get(txn_id)
            if target is None:
                raise invalid_reference(str(txn_type), txn_id, f"{where}.LinkedTxn.TxnId")
            if target.data["CustomerRef"]["value"] != customer.id:
                raise business(f"{txn_type} {txn_id} belongs to another customer.", f"{where}.LinkedTxn")
            if target.voided:
                raise business(f"{txn_type} {txn_id} has been voided.", f"{where}.LinkedTxn")
            if amount <= 0:
                raise business("The amount applied to a transaction must be greater than 0.", f"{where}.Amount")
            available = target.data["TotalAmt"] - self._applied(str(txn_type), txn_id, excluding=id_)
            available -= sum(
                (k["Amount"] for k in kept if k["LinkedTxn"][0] == {"TxnId": txn_id, "TxnType": txn_type}), ZERO
            )
            if amount > available:
                what = "open balance" if txn_type == "Invoice" else "remaining credit"
                raise business(
                    f"The amount applied to {txn_type} {txn_id} ({amount}) is more than its {what} ({available}).",
                    f"{where}.Amount",
                )
            if txn_type == "Invoice":
                invoiced += amount
            else:
                credited += amount
            kept.append({"Amount": amount, "LinkedTxn": [{"TxnId": txn_id, "TxnType": txn_type}]})
        if credited > invoiced:
            raise business(
                f"The credit applied ({credited}) is more than the invoices it is applied to ({invoiced}).", "Line"
            )
        if invoiced - credited > total:
            raise business(
                f"The amount applied to invoices ({invoiced - credited} after credits) is more than the payment "
                f"amount ({total}).",
                "TotalAmt",
            )
        data["Line"] = kept
        return data

    def _link_state(self, name: str, stored: Stored) -> tuple[Decimal, tuple[str, ...]]:
        return self._open_amount(name, stored), tuple(sorted(link["TxnId"] for link in self._links(name, stored.id)))

    def _refresh_links(self) -> None:
        """After a payment changed: each invoice and credit memo whose balance or links moved is written again
        (a new SyncToken and an Update notice), as QuickBooks does."""
        for name in ("Invoice", "CreditMemo"):
            for stored in self.records[name].values():
                state = self._link_state(name, stored)
                if stored.links != state:
                    stored.links = state
                    self._touch(stored)
                    self.events(name, stored.id, "Update")

    # -- delete, void, send ------------------------------------------------------------------------------------

    def delete(self, name: str, body: Mapping[str, Any]) -> Entity:
        if name not in DELETABLE:
            raise unsupported(f"Delete of {name}")
        with self.lock:
            stored = self._check_sync(name, body)
            if name in ("Invoice", "CreditMemo") and self._links(name, stored.id):
                raise business(
                    f"This {name} has payments linked to it. Delete or unlink the payments before you delete it.",
                )
            del self.records[name][stored.id]
            self.deleted[name][stored.id] = Deleted(stored.id, max(self._now(), stored.updated))
            self.events(name, stored.id, "Delete")
            if name == "Payment":
                self._refresh_links()
            return {"status": "Deleted", "domain": "QBO", "Id": stored.id}

    def void(self, name: str, body: Mapping[str, Any]) -> Entity:
        if name not in ("Invoice", "Payment"):
            raise unsupported(f"Void of {name}")
        with self.lock:
            stored = self._check_sync(name, body)
            if stored.voided:
                raise business(f"This {name} has already been voided.")
            if name == "Invoice":
                if self._links(name, stored.id):
                    raise business(
                        "This invoice has payments linked to it. Delete or unlink the payments before you void it."
                    )
                for line in stored.data["Line"]:
                    line["Amount"] = ZERO
                    if line["DetailType"] == "SalesItemLineDetail":
                        line["SalesItemLineDetail"]["Qty"] = ZERO
                stored.data["TxnTaxDetail"] = {"TotalTax": ZERO}
                stored.data["TotalAmt"] = ZERO
            else:
                stored.data["TotalAmt"] = ZERO
                stored.data["Line"] = []
            note = stored.data.get("PrivateNote")
            stored.data["PrivateNote"] = f"Voided - {note}" if note else "Voided"
            stored.voided = True
            self._touch(stored)
            self.events(name, stored.id, "Void")
            if name == "Payment":
                self._refresh_links()
            return self.render(name, stored)

    def send(self, name: str, id_: str, send_to: str | None) -> Entity:
        with self.lock:
            stored = self.get(name, id_)
            if send_to is not None:
                if "@" not in send_to:
                    raise business(f"{send_to!r} is not a valid email address.", "sendTo")
                stored.data["BillEmail"] = {"Address": send_to}
            elif "BillEmail" not in stored.data:
                raise business("There is no email address to send this to: set BillEmail or pass sendTo.", "BillEmail")
            stored.data["EmailStatus"] = "EmailSent"
            stored.data["DeliveryInfo"] = {"DeliveryType": "Email", "DeliveryTime": qbo_datetime(self._now())}
            self._touch(stored)
            self.events(name, stored.id, "Emailed")
            return self.render(name, stored)

    # -- change data capture -----------------------------------------------------------------------------------

    def changes(self, names: Iterable[str], since: datetime) -> list[Change]:
        """Records of ``names`` changed (or deleted) at or after ``since``, oldest first."""
        with self.lock:
            found: list[Change] = []
            for name in names:
                for stored in self.records[name].values():
                    if stored.updated >= since:
                        found.append(Change(name, stored.updated, self.render(name, stored)))
                for gone in self.deleted[name].values():
                    if gone.deleted >= since:
                        meta = {"CreateTime": qbo_datetime(gone.deleted), "LastUpdatedTime": qbo_datetime(gone.deleted)}
                        found.append(
                            Change(
                                name,
                                gone.deleted,
                                {"domain": "QBO", "status": "Deleted", "Id": gone.id, "MetaData": meta},
                            )
                        )
            found.sort(key=lambda change: (change.updated, change.name, int(change.entity["Id"])))
            return found

    # -- changes a user makes in QuickBooks --------------------------------------------------------------------

    def find_invoice(self, identifier: str) -> Stored:
        stored = self.records["Invoice"].get(identifier)
        if stored is None:
            stored = next((s for s in self.records["Invoice"].values() if s.data.get("DocNumber") == identifier), None)
        if stored is None:
            raise not_found("Invoice", identifier)
        return stored

    def pay_as_user(
        self, identifier: str, *, amount: Decimal | None, on: date | None, account_id: str, reference: str | None
    ) -> Entity:
        with self.lock:
            invoice = self.find_invoice(identifier)
            due = self._open_amount("Invoice", invoice)
            paid = money(amount) if amount is not None else due
            body: Entity = {
                "CustomerRef": {"value": invoice.data["CustomerRef"]["value"]},
                "TotalAmt": paid,
                "DepositToAccountRef": {"value": account_id},
                "Line": [{"Amount": paid, "LinkedTxn": [{"TxnId": invoice.id, "TxnType": "Invoice"}]}],
            }
            if on is not None:
                body["TxnDate"] = on.isoformat()
            if reference:
                body["PaymentRefNum"] = reference
            return self.save("Payment", body)

    def void_as_user(self, identifier: str) -> Entity:
        with self.lock:
            invoice = self.find_invoice(identifier)
            return self.void("Invoice", {"Id": invoice.id, "SyncToken": str(invoice.sync)})

    def delete_as_user(self, identifier: str) -> Entity:
        with self.lock:
            invoice = self.find_invoice(identifier)
            return self.delete("Invoice", {"Id": invoice.id, "SyncToken": str(invoice.sync)})

    def edit_customer_as_user(self, id_: str, changes: Mapping[str, Any]) -> Entity:
        with self.lock:
            customer = self.get("Customer", id_)
            return self.save(
                "Customer", {**changes, "Id": customer.id, "SyncToken": str(customer.sync), "sparse": True}
            )
