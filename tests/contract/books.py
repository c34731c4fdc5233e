"""The accounting systems the contract suite runs against, each through its sandbox, in one vocabulary.

A test says what happens in the books ("an invoice is paid there", "the next invoice create loses its answer",
"how many invoices are there") and each :class:`Books` says how its sandbox does it. A connector for another system
joins the suite by adding its ``Books`` here: what the suite checks of flexbill's sync then holds for it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, Protocol

import httpx

from flexbill.accounting.connectors.quickbooks.client import QuickBooksSession
from flexbill.accounting.connectors.xero.client import XeroSession
from flexbill.accounting.ports import ConnectorSession
from flexbill.sandbox.server import RunningSandbox


class Call(StrEnum):
    """The kinds of call a connector makes, named by what they do rather than by any system's URLs."""

    CREATE_CONTACTS = "create_contacts"
    CREATE_INVOICES = "create_invoices"
    READ_INVOICE = "read_invoice"  # one invoice by its id, or a few by query
    CHANGE_INVOICE = "change_invoice"  # update or void
    CREATE_PAYMENTS = "create_payments"
    CREATE_CREDIT_NOTES = "create_credit_notes"
    ALLOCATE_CREDIT_NOTE = "allocate_credit_note"


class FaultKind(StrEnum):
    LOSE_RESPONSE = "lose_response"  # done there, the answer never arrives
    GATEWAY_TIMEOUT = "gateway_timeout"  # done there, a 504 comes back
    SERVER_ERROR = "server_error"  # refused with a 5xx before anything is done
    RATE_LIMIT = "rate_limit"  # refused as over the rate limit
    LATENCY = "latency"  # slow, then done


@dataclass(frozen=True)
class BookInvoice:
    external_id: str
    number: str | None
    total: Decimal
    amount_paid: Decimal
    amount_credited: Decimal
    voided: bool


@dataclass(frozen=True)
class BookContact:
    external_id: str
    name: str
    our_id: str | None  # the customer id the connector keeps on the contact, if any
    tax_number: str | None
    city: str | None


class Books(Protocol):
    provider: str
    sandbox: RunningSandbox
    session_class: type[ConnectorSession]  # the connector's session, for tests that step into a call
    paid_status: str  # the system's own word for a paid invoice (``remote_status`` in the API)
    voided_status: str
    keeps_tax_numbers: bool  # whether a customer's tax number is sent (QuickBooks masks it when read: it is not)

    @property
    def root(self) -> str:
        """The sandbox's root: the ``base_url`` of a connection."""
        ...

    def mappings(self) -> dict[str, object]:
        """The test catalog's codes (tests.support.make_catalog) mapped onto the sandbox's demo company."""
        ...

    def first_numbers(self, count: int) -> list[str]:
        """The numbers the system gives a fresh company's first ``count`` invoices."""
        ...

    def counts(self) -> dict[str, int]:
        """``contacts``, ``invoices``, ``payments`` (not deleted or voided) and ``credit_notes`` held there."""
        ...

    def invoices(self) -> list[BookInvoice]: ...

    def contacts(self) -> list[BookContact]: ...

    def pay(self, external_id: str, **body: object) -> httpx.Response:
        """A user records a payment against the invoice there (all that is due unless ``amount`` is given)."""
        ...

    def fault(self, kind: FaultKind, call: Call, count: int | None = 1, **extra: object) -> None: ...

    def clear_faults(self) -> None: ...

    def faults(self) -> dict[str, Any]:
        """``pending`` (a list) and ``fired`` (a count by kind)."""
        ...

    def revoke_all(self) -> None: ...

    def add_foreign_contact(self, name: str) -> None:
        """Someone who is not one of our customers, with this name, exists there already."""
        ...

    def receive_webhooks(self, url: str, key: str) -> None:
        """Send change notices to ``url``, signed with ``key``."""
        ...

    def flush_webhooks(self) -> None: ...

    def forged_webhook(self) -> tuple[bytes, dict[str, str]]:
        """A delivery whose signature is not the key's."""
        ...


def _ok(response: httpx.Response) -> httpx.Response:
    assert response.is_success, f"{response.request.method} {response.request.url}: {response.text}"
    return response


XERO_CODES: dict[str, object] = {
    "accounts": {"200-LON": "200", "210-LON": "260"},
    "tax_rates": {"VAT20-LON": "OUTPUT2", "ZERO-LON": "ZERORATEDOUTPUT"},
    "payment_account": "090",
}


class XeroBooks:
    provider = "xero"
    session_class: type[ConnectorSession] = XeroSession
    paid_status = "PAID"
    voided_status = "VOIDED"
    keeps_tax_numbers = True
    _paths: ClassVar[dict[Call, tuple[str, str]]] = {
        Call.CREATE_CONTACTS: ("PUT", "/api.xro/2.0/Contacts"),
        Call.CREATE_INVOICES: ("PUT", "/api.xro/2.0/Invoices"),
        Call.READ_INVOICE: ("GET", "/api.xro/2.0/Invoices*"),
        Call.CHANGE_INVOICE: ("POST", "/api.xro/2.0/Invoices/*"),
        Call.CREATE_PAYMENTS: ("PUT", "/api.xro/2.0/Payments"),
        Call.CREATE_CREDIT_NOTES: ("PUT", "/api.xro/2.0/CreditNotes"),
        Call.ALLOCATE_CREDIT_NOTE: ("PUT", "/api.xro/2.0/CreditNotes/*/Allocations"),
    }

    def __init__(self, sandbox: RunningSandbox) -> None:
        self.sandbox = sandbox

    @property
    def root(self) -> str:
        return self.sandbox.xero_url

    def mappings(self) -> dict[str, object]:
        return dict(XERO_CODES)

    def first_numbers(self, count: int) -> list[str]:
        return [f"INV-{n:04}" for n in range(1, count + 1)]

    def counts(self) -> dict[str, int]:
        org = self.sandbox.xero.org
        return {
            "contacts": len(org.contacts),
            "invoices": len(org.invoices),
            "payments": sum(1 for p in org.payments.values() if p.status != "DELETED"),
            "credit_notes": len(org.credit_notes),
        }

    def invoices(self) -> list[BookInvoice]:
        return [
            BookInvoice(doc.doc_id, doc.number, doc.total, doc.amount_paid, doc.amount_credited, doc.status == "VOIDED")
            for doc in self.sandbox.xero.org.invoices.values()
        ]

    def contacts(self) -> list[BookContact]:
        return [
            BookContact(
                contact.contact_id,
                contact.name,
                contact.contact_number,
                contact.tax_number,
                next((a.get("City") for a in contact.addresses if a.get("City")), None),
            )
            for contact in self.sandbox.xero.org.contacts.values()
        ]

    def pay(self, external_id: str, **body: object) -> httpx.Response:
        return httpx.post(f"{self.root}/_sandbox/invoices/{external_id}/pay", json=body)

    def fault(self, kind: FaultKind, call: Call, count: int | None = 1, **extra: object) -> None:
        method, path = self._paths[call]
        if kind is FaultKind.GATEWAY_TIMEOUT:
            kind, extra = FaultKind.LOSE_RESPONSE, {**extra, "mode": "gateway_timeout"}
        body = {"kind": kind.value, "method": method, "path": path, "count": count, **extra}
        _ok(httpx.post(f"{self.root}/_sandbox/faults", json=body))

    def clear_faults(self) -> None:
        _ok(httpx.delete(f"{self.root}/_sandbox/faults"))

    def faults(self) -> dict[str, Any]:
        faults: dict[str, Any] = _ok(httpx.get(f"{self.root}/_sandbox/state")).json()["faults"]
        return faults

    def revoke_all(self) -> None:
        _ok(httpx.post(f"{self.root}/_sandbox/tokens/revoke-all"))

    def add_foreign_contact(self, name: str) -> None:
        tokens = _ok(httpx.post(f"{self.root}/_sandbox/tokens")).json()
        headers = {
            "Authorization": f"Bearer {tokens['access_token']}",
            "xero-tenant-id": tokens["tenant_id"],
            "Accept": "application/json",
        }
        _ok(httpx.post(f"{self.root}/api.xro/2.0/Contacts", json={"Contacts": [{"Name": name}]}, headers=headers))

    def receive_webhooks(self, url: str, key: str) -> None:
        _ok(httpx.put(f"{self.root}/_sandbox/webhooks", json={"url": url, "key": key}))

    def flush_webhooks(self) -> None:
        _ok(httpx.post(f"{self.root}/_sandbox/webhooks/flush"))

    def forged_webhook(self) -> tuple[bytes, dict[str, str]]:
        body = b'{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"x"}'
        return body, {"x-xero-signature": "bm90IHRoZSBzaWduYXR1cmU="}


QUICKBOOKS_CODES: dict[str, object] = {
    # The demo company's products and services (which carry the income accounts), VAT codes and bank account.
    "accounts": {"200-LON": "2", "210-LON": "3"},  # Memberships; Meeting rooms and extras
    "tax_rates": {"VAT20-LON": "2", "ZERO-LON": "4"},  # 20.0% S; 0.0% Z
    "payment_account": "35",
}


class QuickBooksBooks:
    provider = "quickbooks"
    session_class: type[ConnectorSession] = QuickBooksSession
    paid_status = "Paid"
    voided_status = "Voided"
    keeps_tax_numbers = False
    # Creates go in batches, so a fault names the entity the batch carries.
    _calls: ClassVar[dict[Call, dict[str, str]]] = {
        Call.CREATE_CONTACTS: {"method": "POST", "path": "*/batch", "entity": "Customer"},
        Call.CREATE_INVOICES: {"method": "POST", "path": "*/batch", "entity": "Invoice"},
        Call.READ_INVOICE: {"method": "GET", "path": "*/query", "entity": "Invoice"},
        Call.CHANGE_INVOICE: {"method": "POST", "path": "*/invoice"},
        Call.CREATE_PAYMENTS: {"method": "POST", "path": "*/batch", "entity": "Payment"},
        Call.CREATE_CREDIT_NOTES: {"method": "POST", "path": "*/batch", "entity": "CreditMemo"},
        Call.ALLOCATE_CREDIT_NOTE: {"method": "POST", "path": "*/payment"},
    }

    def __init__(self, sandbox: RunningSandbox) -> None:
        self.sandbox = sandbox

    @property
    def root(self) -> str:
        return self.sandbox.quickbooks_url

    def mappings(self) -> dict[str, object]:
        return dict(QUICKBOOKS_CODES)

    def first_numbers(self, count: int) -> list[str]:
        return [str(n) for n in range(1001, 1001 + count)]

    def counts(self) -> dict[str, int]:
        company = self.sandbox.quickbooks.company
        payments = company.all("Payment")
        return {
            # The demo company's own customers are not ours: count those flexbill made (they carry our id).
            "contacts": sum(1 for c in company.all("Customer") if "flexbill customer" in (c.get("Notes") or "")),
            "invoices": sum(1 for i in company.all("Invoice") if _ours(i)),
            # Money received: payments that move money (a credit memo applied is a payment of no money).
            "payments": sum(1 for p in payments if Decimal(str(p["TotalAmt"])) > 0 and _ours(p, "payment")),
            "credit_notes": len(company.all("CreditMemo")),
        }

    def invoices(self) -> list[BookInvoice]:
        company = self.sandbox.quickbooks.company
        credit_memos = {c["Id"] for c in company.all("CreditMemo")}
        paid: dict[str, Decimal] = {}
        credited: dict[str, Decimal] = {}
        for payment in company.all("Payment"):
            lines = payment.get("Line") or []
            for line in lines:
                for link in line.get("LinkedTxn") or []:
                    if link["TxnType"] != "Invoice":
                        continue
                    applies_credit = any(
                        other_link["TxnType"] == "CreditMemo" and other_link["TxnId"] in credit_memos
                        for other in lines
                        for other_link in other.get("LinkedTxn") or []
                    )
                    into = credited if applies_credit else paid
                    into[link["TxnId"]] = into.get(link["TxnId"], Decimal(0)) + Decimal(str(line["Amount"]))
        return [
            BookInvoice(
                invoice["Id"],
                invoice.get("DocNumber"),
                Decimal(str(invoice["TotalAmt"])),
                paid.get(invoice["Id"], Decimal(0)),
                credited.get(invoice["Id"], Decimal(0)),
                (invoice.get("PrivateNote") or "").startswith("Voided"),
            )
            for invoice in company.all("Invoice")
            if _ours(invoice)
        ]

    def contacts(self) -> list[BookContact]:
        return [
            BookContact(
                customer["Id"],
                customer["DisplayName"],
                (customer.get("Notes") or "").removeprefix("flexbill customer ").strip() or None,
                None,
                (customer.get("BillAddr") or {}).get("City"),
            )
            for customer in self.sandbox.quickbooks.company.all("Customer")
        ]

    def pay(self, external_id: str, **body: object) -> httpx.Response:
        return httpx.post(f"{self.root}/_sandbox/invoices/{external_id}/pay", json=body)

    def fault(self, kind: FaultKind, call: Call, count: int | None = 1, **extra: object) -> None:
        fields: dict[str, object] = dict(self._calls[call])
        if kind is FaultKind.GATEWAY_TIMEOUT:
            fields["kind"], fields["mode"] = "lose_response", "gateway_timeout"
        elif kind is FaultKind.RATE_LIMIT:
            fields["kind"] = "throttle"
        else:
            fields["kind"] = kind.value
        _ok(httpx.post(f"{self.root}/_sandbox/faults", json={**fields, "count": count, **extra}))

    def clear_faults(self) -> None:
        _ok(httpx.delete(f"{self.root}/_sandbox/faults"))

    def faults(self) -> dict[str, Any]:
        faults: dict[str, Any] = _ok(httpx.get(f"{self.root}/_sandbox/state")).json()["faults"]
        return faults

    def revoke_all(self) -> None:
        _ok(httpx.post(f"{self.root}/_sandbox/tokens/revoke-all"))

    def add_foreign_contact(self, name: str) -> None:
        tokens = _ok(httpx.post(f"{self.root}/_sandbox/tokens")).json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}", "Accept": "application/json"}
        url = f"{self.root}/v3/company/{tokens['realm_id']}/customer"
        _ok(httpx.post(url, json={"DisplayName": name}, headers=headers))

    def receive_webhooks(self, url: str, key: str) -> None:
        _ok(httpx.put(f"{self.root}/_sandbox/webhooks", json={"url": url, "verifier_token": key}))

    def flush_webhooks(self) -> None:
        _ok(httpx.post(f"{self.root}/_sandbox/webhooks/flush"))

    def forged_webhook(self) -> tuple[bytes, dict[str, str]]:
        body = b'[{"specversion":"1.0","id":"x","type":"qbo.invoice.updated.v1","intuitentityid":"1"}]'
        return body, {"intuit-signature": "bm90IHRoZSBzaWduYXR1cmU="}


def _ours(record: dict[str, Any], kind: str = "invoice") -> bool:
    """A record flexbill made keeps our id in its private note (a voided one after QuickBooks' "Voided - ")."""
    return f"flexbill {kind} " in (record.get("PrivateNote") or "")
