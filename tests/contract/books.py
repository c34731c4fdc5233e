"""The accounting systems the contract suite runs against, each through its sandbox, in one vocabulary.

A test says what happens in the books ("an invoice is paid there", "the next invoice create loses its answer",
"how many invoices are there") and each :class:`Books` says how its sandbox does it. A connector for another system
joins the suite by adding its ``Books`` here: what the suite checks of flexbill's sync then holds for it too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, Protocol

import httpx

from flexbill.accounting.connectors.quickbooks.client import QuickBooksSession
from flexbill.accounting.connectors.xero.client import XeroSession
from flexbill.accounting.ports import ConnectorSession
from flexbill.accounting.ratelimit import QUICKBOOKS_LIMITS
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
    draft: bool = False  # held there as a draft (only books with drafts have them)


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
    has_drafts: bool  # whether the books hold draft invoices (QuickBooks has none: flexbill sends at issue)
    duplicate_number_words: str  # in the books' refusal of an invoice number they already have
    paid_in_full_words: str  # in the books' refusal of a payment on an invoice that has nothing left due

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

    def invoice(self, external_id: str) -> BookInvoice:
        """One invoice as the books hold it now."""
        ...

    def contacts(self) -> list[BookContact]: ...

    def pay(self, external_id: str, **body: object) -> httpx.Response:
        """A user records a payment against the invoice there (all that is due unless ``amount`` is given)."""
        ...

    def void(self, external_id: str) -> httpx.Response:
        """A user voids the invoice there."""
        ...

    def add_foreign_invoice(self, number: str) -> None:
        """Someone typed an invoice with this number straight into the books, for a customer who is not ours."""
        ...

    def calls_made(self) -> int:
        """How many API calls the books have answered (or refused) so far."""
        ...

    def calls_refused_for_the_token(self) -> int:
        """How many of them were refused with a 401: an access token the books no longer take."""
        ...

    def live_access_tokens(self) -> int: ...

    def expire_access_tokens(self) -> int:
        """Every access token expires now (refresh tokens still work); how many did."""
        ...

    def drop_webhooks(self, count: int) -> None:
        """The next ``count`` change notices are never delivered."""
        ...

    def webhook_counts(self) -> dict[str, int]:
        """``delivered`` and ``dropped`` change notices so far."""
        ...

    def let_the_rate_limit_come_round(self) -> None:
        """Wait, in real time, until flexbill's own count of calls to the books has room again. A step a test runs
        by hand (a pull on request, one worker run) waits for a rate limit on the business clock, which the test's
        fixed clock never brings round; ``drain`` moves that clock, this does not need to."""
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
    has_drafts = True
    duplicate_number_words = "Invoice # must be unique"
    paid_in_full_words = "Authorised"  # payments are taken only on an AUTHORISED invoice, and a paid one is PAID
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
        return [_xero_invoice(doc) for doc in self.sandbox.xero.org.invoices.values()]

    def invoice(self, external_id: str) -> BookInvoice:
        return _xero_invoice(self.sandbox.xero.org.invoices[external_id])

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

    def void(self, external_id: str) -> httpx.Response:
        return httpx.post(f"{self.root}/_sandbox/invoices/{external_id}/void")

    def add_foreign_invoice(self, number: str) -> None:
        headers = self._api_headers()
        contacts = f"{self.root}/api.xro/2.0/Contacts"
        stranger = _ok(httpx.put(contacts, json={"Contacts": [{"Name": "Walk-in customer"}]}, headers=headers))
        contact_id = stranger.json()["Contacts"][0]["ContactID"]
        line = {"Description": "Day pass", "Quantity": 1, "UnitAmount": 20, "AccountCode": "200", "TaxType": "OUTPUT2"}
        typed = {
            "Type": "ACCREC", "Contact": {"ContactID": contact_id}, "InvoiceNumber": number, "Status": "AUTHORISED",
            "Date": "2026-11-20", "DueDate": "2026-12-04", "LineItems": [line],
        }  # fmt: skip
        _ok(httpx.put(f"{self.root}/api.xro/2.0/Invoices", json={"Invoices": [typed]}, headers=headers))

    def calls_made(self) -> int:
        return int(self._state()["calls"]["total"])

    def calls_refused_for_the_token(self) -> int:
        return int(self._state()["calls"]["by_status"].get("401", 0))

    def live_access_tokens(self) -> int:
        return int(self._state()["tokens"]["access_tokens_live"])

    def expire_access_tokens(self) -> int:
        return int(_ok(httpx.post(f"{self.root}/_sandbox/tokens/expire-access")).json()["expired"])

    def drop_webhooks(self, count: int) -> None:
        body = {"kind": "drop_webhooks", "method": "*", "path": "*", "count": count}
        _ok(httpx.post(f"{self.root}/_sandbox/faults", json=body))

    def webhook_counts(self) -> dict[str, int]:
        counts = _ok(httpx.get(f"{self.root}/_sandbox/webhooks")).json()["counts"]
        return {"delivered": int(counts.get("delivered", 0)), "dropped": int(counts.get("dropped", 0))}

    def let_the_rate_limit_come_round(self) -> None:
        """Xero's limit is 60 calls a minute, counted by Xero and read from its answers: no test here comes near."""

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = _ok(httpx.get(f"{self.root}/_sandbox/state")).json()
        return state

    def _api_headers(self) -> dict[str, str]:
        tokens = _ok(httpx.post(f"{self.root}/_sandbox/tokens")).json()
        return {
            "Authorization": f"Bearer {tokens['access_token']}",
            "xero-tenant-id": tokens["tenant_id"],
            "Accept": "application/json",
        }

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
        headers = self._api_headers()
        _ok(httpx.post(f"{self.root}/api.xro/2.0/Contacts", json={"Contacts": [{"Name": name}]}, headers=headers))

    def receive_webhooks(self, url: str, key: str) -> None:
        _ok(httpx.put(f"{self.root}/_sandbox/webhooks", json={"url": url, "key": key}))

    def flush_webhooks(self) -> None:
        _ok(httpx.post(f"{self.root}/_sandbox/webhooks/flush"))

    def forged_webhook(self) -> tuple[bytes, dict[str, str]]:
        body = b'{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"x"}'
        return body, {"x-xero-signature": "bm90IHRoZSBzaWduYXR1cmU="}


def _xero_invoice(doc: Any) -> BookInvoice:
    voided = doc.status == "VOIDED"
    return BookInvoice(
        doc.doc_id, doc.number, doc.total, doc.amount_paid, doc.amount_credited, voided, doc.status == "DRAFT"
    )


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
    has_drafts = False
    duplicate_number_words = "Duplicate Document Number"
    paid_in_full_words = "is more than its open balance"
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
        our_invoices = {i["Id"] for i in company.all("Invoice") if _ours(i)}
        return {
            # The demo company's own customers are not ours: count those flexbill made (they carry our id).
            "contacts": sum(1 for c in company.all("Customer") if "flexbill customer" in (c.get("Notes") or "")),
            "invoices": len(our_invoices),
            # Money received against our invoices, sent by flexbill or taken by a user in QuickBooks (a credit memo
            # applied is a payment of no money).
            "payments": sum(
                1
                for p in company.all("Payment")
                if Decimal(str(p["TotalAmt"])) > 0 and (_ours(p, "payment") or _pays(p, our_invoices))
            ),
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

    def invoice(self, external_id: str) -> BookInvoice:
        found = [invoice for invoice in self.invoices() if invoice.external_id == external_id]
        assert found, f"QuickBooks has no invoice {external_id} of ours"
        return found[0]

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

    def void(self, external_id: str) -> httpx.Response:
        return httpx.post(f"{self.root}/_sandbox/invoices/{external_id}/void")

    def add_foreign_invoice(self, number: str) -> None:
        headers, company_url = self._api()
        stranger = _ok(httpx.post(f"{company_url}/customer", json={"DisplayName": "Walk-in customer"}, headers=headers))
        line = {
            "DetailType": "SalesItemLineDetail", "Amount": 20, "Description": "Day pass",
            "SalesItemLineDetail": {"ItemRef": {"value": "2"}, "Qty": 1, "UnitPrice": 20, "TaxCodeRef": {"value": "2"}},
        }  # fmt: skip
        typed = {
            "CustomerRef": {"value": stranger.json()["Customer"]["Id"]}, "DocNumber": number,
            "TxnDate": "2026-11-20", "DueDate": "2026-12-04", "GlobalTaxCalculation": "TaxExcluded", "Line": [line],
        }  # fmt: skip
        _ok(httpx.post(f"{company_url}/invoice", json=typed, headers=headers))

    def calls_made(self) -> int:
        return int(self._state()["calls"]["total"])

    def calls_refused_for_the_token(self) -> int:
        return int(self._state()["calls"]["by_status"].get("401", 0))

    def live_access_tokens(self) -> int:
        return int(self._state()["tokens"]["access_tokens_live"])

    def expire_access_tokens(self) -> int:
        return int(_ok(httpx.post(f"{self.root}/_sandbox/tokens/expire-access")).json()["expired"])

    def drop_webhooks(self, count: int) -> None:
        _ok(httpx.post(f"{self.root}/_sandbox/faults", json={"kind": "drop_webhooks", "count": count}))

    def webhook_counts(self) -> dict[str, int]:
        counts = _ok(httpx.get(f"{self.root}/_sandbox/webhooks")).json()["counts"]
        return {"delivered": int(counts.get("delivered", 0)), "dropped": int(counts.get("dropped", 0))}

    def let_the_rate_limit_come_round(self) -> None:
        # flexbill counts QuickBooks' ten calls a second itself, in real time: a second (and the margin the count
        # keeps for the server's clock) after the last call, the window is empty again.
        second = next(window for window in QUICKBOOKS_LIMITS.windows if window.seconds <= 1)
        time.sleep(second.seconds + QUICKBOOKS_LIMITS.margin)

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = _ok(httpx.get(f"{self.root}/_sandbox/state")).json()
        return state

    def _api(self) -> tuple[dict[str, str], str]:
        """Headers for a call as a user's own app would make it, and the company's URL."""
        tokens = _ok(httpx.post(f"{self.root}/_sandbox/tokens")).json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}", "Accept": "application/json"}
        return headers, f"{self.root}/v3/company/{tokens['realm_id']}"

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
        headers, company_url = self._api()
        _ok(httpx.post(f"{company_url}/customer", json={"DisplayName": name}, headers=headers))

    def receive_webhooks(self, url: str, key: str) -> None:
        _ok(httpx.put(f"{self.root}/_sandbox/webhooks", json={"url": url, "verifier_token": key}))

    def flush_webhooks(self) -> None:
        _ok(httpx.post(f"{self.root}/_sandbox/webhooks/flush"))

    def forged_webhook(self) -> tuple[bytes, dict[str, str]]:
        body = b'[{"specversion":"1.0","id":"x","type":"qbo.invoice.updated.v1","intuitentityid":"1"}]'
        return body, {"intuit-signature": "bm90IHRoZSBzaWduYXR1cmU="}


def _pays(payment: dict[str, Any], invoice_ids: set[str]) -> bool:
    """Whether the payment is applied to one of these invoices."""
    links = [link for line in payment.get("Line") or [] for link in line.get("LinkedTxn") or []]
    return any(link["TxnType"] == "Invoice" and link["TxnId"] in invoice_ids for link in links)


def _ours(record: dict[str, Any], kind: str = "invoice") -> bool:
    """A record flexbill made keeps our id in its private note (a voided one after QuickBooks' "Voided - ")."""
    return f"flexbill {kind} " in (record.get("PrivateNote") or "")
