"""The QuickBooks Online connector over plain HTTP: the descriptor, the OAuth flow and a session per company.

Every API call goes to ``/v3/company/{realmId}/...`` with ``?minorversion=75`` and ``Accept: application/json``,
through the process's counting limiter for QuickBooks (:class:`~flexbill.accounting.ratelimit.CountingLimiter`:
500 calls a minute, 10 a second and 10 at once per company, 40 batch calls a minute), because QuickBooks tells
nothing of its limits until it refuses. Nothing here sleeps.

How QuickBooks' answers become errors (QuickBooks may answer a ``Fault`` with any status, even 200, so every body
is checked for one):

* 429, or Fault 3001 ThrottleExceeded (JSON, or the XML QuickBooks sends whatever was asked for) ->
  ``RateLimited`` after 60 s, QuickBooks' advice (it sends no ``Retry-After``);
* 401 and AuthenticationFault -> ``AuthExpired``; 403 and AuthorizationFault -> ``AuthExpired`` too: the
  company was disconnected or the grant lacks the scope, which only connecting again mends (as for Xero);
* Fault 610 Object Not Found (and a plain 404) -> ``RemoteNotFound``;
* Fault 5010 Stale Object -> the object is read again and the update sent once more; a second 5010 is a
  ``Conflict``. Fault 6140 (duplicate DocNumber) and 6240 (duplicate DisplayName) -> ``Conflict``, or in a batch
  ``Refused(conflict=True)`` so the engine looks the record up (or renames the customer) first;
* any other ValidationFault -> ``Rejected`` (``Refused`` in a batch) with QuickBooks' words;
* 5xx, SystemFault, timeouts, dropped connections and answers that are not what QuickBooks sends -> ``Transient``.

Idempotency: every write carries ``requestid``, a hash of the engine's idempotency key and the part of the call
(``batch 2 of 3``, ``void``, ...): at most 50 characters, 36 on a batch, whose items are numbered ``bId`` 1 to 30.
QuickBooks answers a ``requestid`` it has seen with the answer it gave then, so a call repeated after a lost answer
changes nothing. The engine's keys carry the record's revision, which is the generation counter: a record deleted
in QuickBooks is created again when the operator syncs it again, which raises its revision and so makes a new key
and new request ids; the same revision never creates twice.

Refunds of credit memos are booked as ``docs/adr/0009-quickbooks-refunds.md`` explains
(:meth:`QuickBooksSession._refund`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from flexbill.accounting.connectors.http import reading, segment, send, token_refusal
from flexbill.accounting.connectors.quickbooks import mapping
from flexbill.accounting.connectors.quickbooks.mapping import CREDIT_NOTE, INVOICE, Fault, Json, Malformed
from flexbill.accounting.model import (
    AllocationData,
    Changes,
    ContactData,
    DocumentData,
    DocumentLookup,
    PaymentData,
    Pushed,
    PushResult,
    Refused,
    RemoteAccount,
    RemoteDocument,
    RemotePayment,
    RemoteTaxRate,
    RemoteTrackingCategory,
    Tenant,
    Tokens,
    WebhookEvent,
)
from flexbill.accounting.ports import (
    AuthExpired,
    Conflict,
    ConnectorError,
    OAuthClient,
    RateLimited,
    Rejected,
    RemoteNotFound,
    SessionTarget,
    Transient,
)
from flexbill.accounting.ratelimit import (
    QUICKBOOKS_LIMITS,
    CountedLimits,
    CountingLimiter,
    Observation,
    Problem,
    shared_counting_limiter,
)
from flexbill.clock import Clock, SystemClock

_send = partial(send, system="QuickBooks")
_reading = partial(reading, "QuickBooks")

SCOPE = "com.intuit.quickbooks.accounting"
BATCH_SIZE = 30  # QuickBooks' most operations in one batch
PAGE_SIZE = 1000  # QuickBooks' most rows in one query answer
IN_CHUNK = 300  # values in one ``IN (...)`` of a query: two names for each of the engine's 150 records
LONG_QUERY = 1500  # characters of a query sent in the body of a POST rather than in the URL
THROTTLE_WAIT = 60.0  # QuickBooks' advice after a 429
REQUEST_ID_MAX = 50
BATCH_REQUEST_ID_MAX = 36
CDC_LOOKBACK = dt.timedelta(days=30)  # how far back QuickBooks' change data capture reaches
CDC_OVERLAP = dt.timedelta(minutes=5)  # asked for before ``since``: a change saved as we read is found again
CDC_MAX_OBJECTS = 1000  # QuickBooks cuts a CDC answer here; an answer this full is read by query instead
CDC_ENTITIES = "Invoice,Payment,CreditMemo"
SETTINGS_TTL = 600.0  # seconds a company's tax codes, custom field and locations are trusted before read again
MAX_PAGES = 10_000
_AUTH_CODES = frozenset({"100", "3100", "3200"})


@dataclass
class CompanySettings:
    """What sessions learn of a company's settings (its tax codes, the sales forms' custom field, its locations),
    kept by the connector for ``SETTINGS_TTL`` so that a long sync reads them once, not once per batch."""

    read_at: float  # time.monotonic() when they began to be learnt
    tax_codes: dict[str, mapping.TaxCode] | None = None
    custom_field: tuple[str | None] | None = None
    locations: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Endpoints:
    authorize: str
    token: str
    revoke: str
    api: str  # the root of ``/v3/company/{realmId}/...``
    discovery: str

    @classmethod
    def at(cls, base_url: str | None) -> Endpoints:
        """Intuit's own addresses, or a sandbox's under ``base_url`` (e.g. ``http://127.0.0.1:8001/quickbooks``)."""
        if base_url is None:
            return cls(
                authorize="https://appcenter.intuit.com/connect/oauth2",
                token="https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
                revoke="https://developer.api.intuit.com/v2/oauth2/tokens/revoke",
                api="https://quickbooks.api.intuit.com",
                discovery="https://developer.intuit.com/.well-known/openid_configuration/",
            )
        base = base_url.rstrip("/")
        return cls(
            authorize=f"{base}/connect/oauth2",
            token=f"{base}/oauth2/v1/tokens/bearer",
            revoke=f"{base}/oauth2/v1/tokens/revoke",
            api=base,
            discovery=f"{base}/.well-known/openid_configuration",
        )


class QuickBooksConnector:
    """QuickBooks Online, as flexbill's ``quickbooks`` connector. Sessions share one limiter in the process."""

    key: str = "quickbooks"
    display_name: str = "QuickBooks Online"
    capabilities: frozenset[str] = frozenset({"invoices", "credit_notes", "payments", "pdf", "webhooks", "tracking"})

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        limits: CountedLimits = QUICKBOOKS_LIMITS,
        limiter: CountingLimiter | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self._limits = limits
        self._limiter = limiter
        self.page_size = page_size
        self._settings: dict[str, CompanySettings] = {}
        self._settings_lock = threading.Lock()

    @property
    def limiter(self) -> CountingLimiter:
        """The limiter given, or the process's shared one, looked up at each use (so that forgetting the shared
        limiters reaches the connector the registry keeps)."""
        return self._limiter or shared_counting_limiter("QuickBooks", self._limits)

    def oauth(self, client: OAuthClient, http: httpx.Client) -> QuickBooksOAuth:
        return QuickBooksOAuth(client, http, clock=self.clock)

    def open_session(self, target: SessionTarget, http: httpx.Client) -> QuickBooksSession:
        company = f"{Endpoints.at(target.base_url).api}|{target.tenant_id}"
        now = time.monotonic()
        with self._settings_lock:
            known = self._settings.get(company)
            if known is None or known.read_at + SETTINGS_TTL < now:
                known = self._settings[company] = CompanySettings(read_at=now)
        return QuickBooksSession(
            target, http, limiter=self.limiter, clock=self.clock, page_size=self.page_size, known=known
        )

    def webhook_events(self, body: bytes, headers: dict[str, str], signing_key: str) -> list[WebhookEvent]:
        mapping.verify_signature(body, headers.get("intuit-signature"), signing_key)
        try:
            return mapping.webhook_events(body)
        except Malformed as error:
            raise Rejected(f"the QuickBooks webhook delivery could not be read: {error}") from None


# --- OAuth -------------------------------------------------------------------------------------------------------


class QuickBooksOAuth:
    """Intuit's OAuth 2.0 code flow; the app authenticates to the token endpoint with HTTP Basic. Access tokens
    last an hour; each refresh may return a new refresh token, which the engine stores before using."""

    def __init__(self, client: OAuthClient, http: httpx.Client, *, clock: Clock) -> None:
        self._client = client
        self._http = http
        self._clock = clock
        self._endpoints = Endpoints.at(client.base_url)

    def authorize_url(self, state: str, redirect_uri: str) -> str:
        query = urlencode(
            {
                "client_id": self._client.client_id,
                "response_type": "code",
                "scope": SCOPE,
                "redirect_uri": redirect_uri,
                "state": state,
            },
            quote_via=quote,
        )
        return f"{self._endpoints.authorize}?{query}"

    def exchange_code(self, code: str, redirect_uri: str) -> Tokens:
        return self._token({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})

    def refresh(self, refresh_token: str) -> Tokens:
        return self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def tenants(self, access_token: str, callback: Mapping[str, str]) -> list[Tenant]:
        """The one company the consent covers: QuickBooks names it in the callback (``realmId``); its name is read
        from the company's ``CompanyInfo``."""
        realm = (callback.get("realmId") or "").strip()
        if not realm:
            raise Rejected(
                "QuickBooks did not say which company was connected: the callback has no realmId parameter; "
                "connect again and choose a company"
            )
        what = f"the company information of {realm}"
        response = _send(
            self._http,
            "GET",
            f"{self._endpoints.api}/v3/company/{segment(realm)}/companyinfo/{segment(realm)}",
            params={"minorversion": mapping.MINOR_VERSION},
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            what=what,
        )
        body = _checked(response, what)
        with _reading(what):
            info = mapping.entity(body, "CompanyInfo", what)
            name = mapping.optional_text(info, "CompanyName") or mapping.optional_text(info, "LegalName") or realm
        return [Tenant(id=realm, name=name)]

    def _token(self, form: dict[str, str]) -> Tokens:
        grant = form["grant_type"].replace("_", " ")
        response = _send(
            self._http,
            "POST",
            self._endpoints.token,
            data=form,
            headers={"Accept": "application/json"},
            auth=httpx.BasicAuth(self._client.client_id, self._client.client_secret),
            what=f"the {grant}",
        )
        if response.status_code in (400, 401):
            raise token_refusal(response, "QuickBooks", grant)
        body = _checked(response, f"the {grant}")
        with _reading(f"the answer to the {grant}"):
            answer = mapping.obj(body, "the token answer")
            access, refresh = answer.get("access_token"), answer.get("refresh_token")
            if not isinstance(access, str) or not access:
                raise Malformed("it has no access_token")
            if not isinstance(refresh, str) or not refresh:
                raise Malformed("it has no refresh_token")
            seconds = mapping.amount(answer, "expires_in", "the token answer")
            return Tokens(access, refresh, self._clock.now() + dt.timedelta(seconds=int(seconds)))


# --- the session -------------------------------------------------------------------------------------------------


class _Stale(Conflict):
    """Fault 5010: the SyncToken sent is not the latest; the object is read again and the update sent once more."""


@dataclass(frozen=True, slots=True)
class _Operation:
    our_id: uuid.UUID
    operation: str  # create | update | delete
    entity: str  # Customer, Invoice, CreditMemo, Payment
    body: Json


class QuickBooksSession:
    """One company, one access token: :class:`~flexbill.accounting.ports.ConnectorSession` for QuickBooks.

    The company's tax codes, its ``flexbill id`` custom field and its locations are read once per session."""

    def __init__(
        self,
        target: SessionTarget,
        http: httpx.Client,
        *,
        limiter: CountingLimiter,
        clock: Clock,
        page_size: int = PAGE_SIZE,
        known: CompanySettings | None = None,
    ) -> None:
        self._target = target
        self._http = http
        self._limiter = limiter
        self._clock = clock
        self._page_size = page_size
        self._company = f"{Endpoints.at(target.base_url).api}/v3/company/{segment(target.tenant_id)}"
        self._known = known if known is not None else CompanySettings(read_at=time.monotonic())

    # settings

    def list_accounts(self) -> list[RemoteAccount]:
        """Where money can go: the accounts payments are deposited into (bank and other current assets), and the
        products and services a sale is booked to (each carries its income account)."""
        accounts = self._query("Account", what="the chart of accounts")
        items = self._query("Item", what="the products and services")
        with _reading("the chart of accounts"):
            return [mapping.remote_account(row) for row in accounts] + [mapping.remote_item(row) for row in items]

    def list_tax_rates(self) -> list[RemoteTaxRate]:
        self._known.tax_codes = None  # a person is choosing from them: read them as they are now
        return [mapping.remote_tax_rate(code) for code in self._company_tax_codes().values()]

    def list_tracking_categories(self) -> list[RemoteTrackingCategory]:
        self._known.locations = None
        return mapping.tracking_categories(self._company_locations())

    # contacts

    def find_contacts(self, contacts: Sequence[ContactData]) -> dict[uuid.UUID, str]:
        """Customers by the names flexbill gives them (the name, or the name made unique), kept only when their
        ``Notes`` carry our id: a customer with the name but not our id is someone else's."""
        wanted = {contact.our_id for contact in contacts}
        # The engine asks with every name it may have given (the name, and the name it makes unique).
        written = (" ".join(contact.name.split()) for contact in contacts)  # as mapping.customer_body writes them
        names = list(dict.fromkeys(name for name in written if name))
        found: dict[uuid.UUID, str] = {}
        for chunk in mapping.chunked(names, IN_CHUNK):
            for row in self._query("Customer", f"DisplayName IN {mapping.in_list(chunk)}", what="customers by name"):
                with _reading("a customer"):
                    customer_id = mapping.text(row, "Id", "a customer")
                    our_id = mapping.customer_our_id(row)
                if our_id is not None and our_id in wanted and row.get("Active", True) is not False:
                    found.setdefault(our_id, customer_id)
        return found

    def push_contacts(self, contacts: Sequence[ContactData], idempotency_key: str) -> list[PushResult]:
        """Create the new customers and update the known ones (sparse, with their current SyncToken), in batches.
        A name another customer, vendor or employee has comes back ``Refused(conflict=True)``."""
        results: list[PushResult] = []
        creates: list[_Operation] = []
        updates: list[ContactData] = []
        for contact in contacts:
            try:
                body = mapping.customer_body(contact)
            except ValueError as error:
                results.append(Refused(contact.our_id, (str(error),)))
                continue
            if contact.external_id is None:
                creates.append(_Operation(contact.our_id, "create", "Customer", body))
            else:
                updates.append(contact)
        answers = self._batch(creates, idempotency_key, "create", what="customers")
        if updates:
            answers.update(self._update_customers(updates, idempotency_key))
        for our_id, answer in answers.items():
            if isinstance(answer, Fault):
                results.append(Refused(our_id, answer.words, conflict=answer.conflict))
            else:
                with _reading("a customer"):
                    results.append(Pushed(our_id, mapping.text(answer, "Id", "a customer")))
        return results

    def _update_customers(self, contacts: Sequence[ContactData], key: str) -> dict[uuid.UUID, Json | Fault]:
        answers: dict[uuid.UUID, Json | Fault] = {}
        pending = list(contacts)
        for attempt in ("update", "update-again"):
            tokens = self._sync_tokens("Customer", [c.external_id for c in pending if c.external_id])
            operations = []
            for contact in pending:
                assert contact.external_id is not None
                token = tokens.get(contact.external_id)
                if token is None:
                    answers[contact.our_id] = _missing(f"customer {contact.external_id}")
                    continue
                body = mapping.customer_update(contact, contact.external_id, token)
                operations.append(_Operation(contact.our_id, "update", "Customer", body))
            answered = self._batch(operations, key, attempt, what="customer updates")
            answers.update(answered)
            pending = [c for c in pending if _is_stale(answered.get(c.our_id))]
            if not pending:
                break
        return answers

    # invoices

    def find_invoices(self, lookups: Sequence[DocumentLookup]) -> dict[uuid.UUID, RemoteDocument]:
        return self._find_documents(lookups, INVOICE, "Invoice")

    def push_invoices(self, invoices: Sequence[DocumentData], idempotency_key: str) -> list[PushResult]:
        return self._push_documents(invoices, idempotency_key, INVOICE, "Invoice")

    def get_invoices(self, external_ids: Sequence[str]) -> list[RemoteDocument]:
        """The invoices QuickBooks has of these, with their payments; one it does not have is left out."""
        rows = self._rows_by_id("Invoice", external_ids, what="invoices")
        return self._invoices_with_payments(rows, {})

    def invoice_pdf(self, external_id: str) -> bytes:
        what = f"the PDF of invoice {external_id}"
        response = self._request("GET", f"/invoice/{segment(external_id)}/pdf", accept="application/pdf", what=what)
        if not response.content.startswith(b"%PDF"):
            fault, _ = _fault_in(response)
            if fault is not None:  # a Fault in place of the PDF raises as what it is
                raise _fault_error(fault, what, response.status_code, self._limiter.limits.refused_wait)
            content_type = response.headers.get("content-type", "")
            raise Transient(f"QuickBooks answered {what} with {content_type or 'no content type'}, not a PDF")
        return response.content

    def void_invoice(self, external_id: str, idempotency_key: str) -> RemoteDocument:
        """Void an invoice (QuickBooks keeps it with its amounts at zero). One already voided is taken as it is
        (a void sent again after its answer was lost); a stale SyncToken is read again once."""
        what = f"the void of invoice {external_id}"
        current = self._read("invoice", "Invoice", external_id)
        for attempt in ("void", "void-again"):
            if mapping.is_voided(current):
                break
            with _reading(what):
                body = {"Id": external_id, "SyncToken": mapping.text(current, "SyncToken", f"invoice {external_id}")}
            try:
                envelope = self._call(
                    "POST",
                    "/invoice",
                    params={"operation": "void"},
                    body=body,
                    request_id=_request_id(idempotency_key, attempt, REQUEST_ID_MAX),
                    what=what,
                )
            except _Stale:
                if attempt == "void-again":
                    raise
                current = self._read("invoice", "Invoice", external_id)
                continue
            with _reading(what):
                current = mapping.entity(envelope, "Invoice", what)
            break
        with _reading(what):
            return mapping.remote_document(current, INVOICE)

    # credit notes

    def find_credit_notes(self, lookups: Sequence[DocumentLookup]) -> dict[uuid.UUID, RemoteDocument]:
        return self._find_documents(lookups, CREDIT_NOTE, "CreditMemo")

    def push_credit_notes(self, credit_notes: Sequence[DocumentData], idempotency_key: str) -> list[PushResult]:
        return self._push_documents(credit_notes, idempotency_key, CREDIT_NOTE, "CreditMemo")

    def allocate_credit_note(self, allocation: AllocationData, idempotency_key: str) -> None:
        """Apply a credit memo to an invoice: a Payment of no money linking both."""
        what = f"the application of credit memo {allocation.credit_note_external_id}"
        memo = self._read("creditmemo", "CreditMemo", allocation.credit_note_external_id)
        customer = mapping.ref_value(memo, "CustomerRef")
        if customer is None:
            raise Transient(f"QuickBooks' credit memo {allocation.credit_note_external_id} names no customer")
        try:
            body = mapping.allocation_body(allocation, customer)
        except ValueError as error:
            raise Rejected(str(error)) from None
        envelope = self._call(
            "POST",
            "/payment",
            body=body,
            request_id=_request_id(idempotency_key, "allocate", REQUEST_ID_MAX),
            what=what,
        )
        with _reading(what):
            mapping.entity(envelope, "Payment", what)

    # payments

    def find_payments(self, invoice_external_id: str) -> list[tuple[uuid.UUID | None, str]]:
        invoice = self._read("invoice", "Invoice", invoice_external_id)
        [document] = self._invoices_with_payments([invoice], {})
        return [(payment.our_id, payment.external_id) for payment in document.payments if not payment.deleted]

    def push_payments(self, payments: Sequence[PaymentData], idempotency_key: str) -> list[PushResult]:
        """Payments onto invoices, in batches; refunds of credit memos (``credit_note_external_id``) are booked
        one by one as :meth:`_refund` explains."""
        results: list[PushResult] = []
        received = [p for p in payments if p.credit_note_external_id is None]
        for refund in (p for p in payments if p.credit_note_external_id is not None):
            results.append(self._refund(refund, idempotency_key))
        if not received:
            return results
        invoices = {
            mapping.text(row, "Id", "an invoice"): row
            for row in self._rows_by_id("Invoice", [p.invoice_external_id for p in received], what="invoices")
        }
        operations = []
        for payment in received:
            invoice = invoices.get(payment.invoice_external_id)
            customer = mapping.ref_value(invoice, "CustomerRef") if invoice is not None else None
            if invoice is None or customer is None:
                results.append(Refused(payment.our_id, (f"QuickBooks has no invoice {payment.invoice_external_id}",)))
                continue
            try:
                body = mapping.payment_body(payment, customer, mapping.ref_value(invoice, "CurrencyRef"))
            except ValueError as error:
                results.append(Refused(payment.our_id, (str(error),)))
                continue
            operations.append(_Operation(payment.our_id, "create", "Payment", body))
        for our_id, answer in self._batch(operations, idempotency_key, "payments", what="payments").items():
            if isinstance(answer, Fault):
                results.append(Refused(our_id, answer.words, conflict=answer.conflict))
            else:
                with _reading("a payment"):
                    payment_id = mapping.text(answer, "Id", "a payment")
                    total = mapping.amount(answer, "TotalAmt", f"payment {payment_id}")
                results.append(Pushed(our_id, payment_id, total=total))
        return results

    def _refund(self, refund: PaymentData, key: str) -> PushResult:
        """Money paid back to the customer against a credit memo, without taking the income off twice (the credit
        memo did that already): three records, each with its own request id so a repeat changes nothing.

        1. a clearing Invoice of the refund, one line of the credit memo's first item at a tax code that charges
           no tax: the customer owes the refund (receivable up, that item's income up);
        2. a RefundReceipt of the same item and amount from the payment account: the money goes out and the
           item's income comes down again, so the income is as the credit memo left it;
        3. a Payment of no money applying the credit memo to the clearing invoice: the credit is used up and the
           clearing invoice is paid.

        The credit is used up last, so a refund cut short (a lost answer, a process stopped) still leaves credit
        on the memo, and the engine asks again; the records already made are found by their number and our id in
        their note (request ids are forgotten in time, and an operator's "sync again" brings new ones), and only
        what is missing is made.
        """
        assert refund.credit_note_external_id is not None
        memo_id = refund.credit_note_external_id
        what = f"the refund of credit memo {memo_id}"
        if refund.amount <= 0:
            return Refused(refund.our_id, (f"{what}: the amount is {refund.amount}; it must be more than 0",))
        if not refund.account_code:
            return Refused(refund.our_id, (f"{what}: no payment account is mapped to pay it from",))
        memo = self._read("creditmemo", "CreditMemo", memo_id)
        with _reading(f"credit memo {memo_id}"):
            customer = mapping.ref_value(memo, "CustomerRef")
            currency = mapping.ref_value(memo, "CurrencyRef")
            item = next(
                (
                    mapping.ref_value(line.get("SalesItemLineDetail") or {}, "ItemRef")
                    for line in mapping.items(memo.get("Line"), "the lines of the credit memo")
                    if line.get("DetailType") == "SalesItemLineDetail"
                ),
                None,
            )
        if customer is None or item is None:
            raise Transient(f"QuickBooks' credit memo {memo_id} names no customer or no item")
        no_tax = _no_tax_code(self._company_tax_codes().values())
        if no_tax is None:
            return Refused(refund.our_id, (f"{what}: QuickBooks has no tax code that charges no tax to book it with",))
        line: Json = {
            "DetailType": "SalesItemLineDetail",
            "Amount": refund.amount,
            "Description": f"Refund of credit memo {mapping.optional_text(memo, 'DocNumber') or memo_id}",
            "SalesItemLineDetail": {
                "ItemRef": {"value": item},
                "TaxCodeRef": {"value": no_tax.id},
                "Qty": Decimal(1),
                "UnitPrice": refund.amount,
            },
        }
        memo_number = mapping.optional_text(memo, "DocNumber") or memo_id
        number = f"{memo_number[: mapping.DOC_NUMBER_MAX - 3]}-RF"
        common: Json = {
            "CustomerRef": {"value": customer},
            "TxnDate": refund.date.isoformat(),
            "GlobalTaxCalculation": "NotApplicable",
            "Line": [line],
            "DocNumber": number,
            "PrivateNote": mapping.tagged_note(mapping.REFUND, refund.our_id, refund.reference),
        }
        if currency:
            common["CurrencyRef"] = {"value": currency}
        clearing = self._refund_record("Invoice", number, refund.our_id)
        if clearing is None:
            request_id = _request_id(key, f"refund-invoice:{refund.our_id}", REQUEST_ID_MAX)
            clearing = self._create("invoice", "Invoice", common, request_id)
            with _reading(what):
                clearing_total = mapping.amount(clearing, "TotalAmt", "the clearing invoice")
            if clearing_total != refund.amount:
                problem = (
                    f"{what}: QuickBooks made the clearing invoice {clearing_total} where the refund is {refund.amount}"
                )
                return Refused(refund.our_id, (problem + self._remove("Invoice", clearing, key),))
        with _reading(what):
            clearing_id = mapping.text(clearing, "Id", "the clearing invoice")
            clearing_open = mapping.amount(clearing, "Balance", "the clearing invoice")
        receipt = self._refund_record("RefundReceipt", number, refund.our_id)
        if receipt is None:
            receipt_body: Json = {**common, "DepositToAccountRef": {"value": refund.account_code}}
            if refund.reference:
                receipt_body["PaymentRefNum"] = refund.reference[: mapping.PAYMENT_REF_MAX]
            request_id = _request_id(key, f"refund:{refund.our_id}", REQUEST_ID_MAX)
            receipt = self._create("refundreceipt", "RefundReceipt", receipt_body, request_id)
        if clearing_open > 0:
            application = AllocationData(memo_id, clearing_id, clearing_open, refund.date)
            self._create(
                "payment",
                "Payment",
                mapping.allocation_body(application, customer),
                _request_id(key, f"refund-apply:{refund.our_id}", REQUEST_ID_MAX),
            )
        with _reading(what):
            return Pushed(refund.our_id, mapping.text(receipt, "Id", "the refund receipt"), total=refund.amount)

    def _refund_record(self, entity_name: str, number: str, refund_id: uuid.UUID) -> Json | None:
        """The clearing invoice or refund receipt of a refund, made by an earlier attempt: by its number, and
        only if its note carries the refund's id."""
        rows = self._query(entity_name, f"DocNumber = {mapping.quoted(number)}", what=f"the refund's {entity_name}")
        return next(
            (row for row in rows if mapping.our_id_in(row.get("PrivateNote"), mapping.REFUND) == refund_id), None
        )

    # changes

    def invoices_changed_since(self, since: dt.datetime | None) -> Changes:
        """Invoices changed since ``since`` with their payments. Within QuickBooks' 30 days of change data capture,
        asked of CDC from 5 minutes before ``since``; otherwise (or when the CDC answer is full and may have been
        cut) by a query on ``MetaData.LastUpdatedTime`` from as long before. ``as_of`` is QuickBooks' clock when it
        answered."""
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=dt.UTC)
        if since is None:
            return self._changes_by_query(None)
        since = since - CDC_OVERLAP
        # An hour's margin, so that a request reaching QuickBooks a little later is still within its 30 days.
        if since > self._clock.now() - CDC_LOOKBACK + dt.timedelta(hours=1):
            changes = self._changes_by_cdc(since)
            if changes is not None:
                return changes
        return self._changes_by_query(since)

    def _changes_by_cdc(self, since: dt.datetime) -> Changes | None:
        what = "the changed invoices"
        envelope = self._call(
            "GET", "/cdc", params={"entities": CDC_ENTITIES, "changedSince": _query_time(since)}, what=what
        )
        with _reading(what):
            as_of = mapping.response_time(envelope)
            changed = mapping.cdc_entities(envelope)
        if as_of is None:
            raise Transient("QuickBooks' answer with the changed invoices tells no time")
        if any(len(rows) >= CDC_MAX_OBJECTS for rows in changed.values()):
            return None  # QuickBooks may have cut the answer: the query reads everything
        invoices = changed.get("Invoice", [])
        payments = {}
        with _reading(what):
            for row in changed.get("Payment", []):
                if not mapping.is_deleted(row):
                    payments[mapping.text(row, "Id", "a payment")] = row
            have = {mapping.text(row, "Id", "an invoice") for row in invoices}
            paid = {
                invoice_id
                for row in payments.values()
                for line in mapping.items(row.get("Line"), "the lines of a payment")
                for invoice_id in mapping.linked(line, "Invoice")
            }
        live = [row for row in invoices if not mapping.is_deleted(row)]
        live += self._rows_by_id("Invoice", sorted(paid - have), what="invoices paid meanwhile")
        documents = self._invoices_with_payments(live, payments)
        with _reading(what):
            documents += [mapping.remote_document(row, INVOICE) for row in invoices if mapping.is_deleted(row)]
        return Changes(documents=tuple(documents), as_of=as_of)

    def _changes_by_query(self, since: dt.datetime | None) -> Changes:
        where = f"MetaData.LastUpdatedTime >= '{_query_time(since)}'" if since is not None else None
        rows: list[Json] = []
        as_of: dt.datetime | None = None
        for page, (envelope, page_rows) in enumerate(
            self._query_pages("Invoice", where, order="MetaData.LastUpdatedTime", what="the changed invoices")
        ):
            if page == 0:
                with _reading("the changed invoices"):
                    as_of = mapping.response_time(envelope)
            rows += page_rows
        if as_of is None:
            raise Transient("QuickBooks' answer with the changed invoices tells no time")
        return Changes(documents=tuple(self._invoices_with_payments(rows, {})), as_of=as_of)

    # documents

    def _find_documents(
        self, lookups: Sequence[DocumentLookup], kind: str, entity_name: str
    ) -> dict[uuid.UUID, RemoteDocument]:
        """Documents by customer and date (QuickBooks cannot query our id), kept only when they carry our id;
        of several, one still in the books is preferred."""
        wanted = {lookup.our_id for lookup in lookups}
        by_date: dict[dt.date, list[DocumentLookup]] = {}
        for lookup in lookups:
            by_date.setdefault(lookup.date, []).append(lookup)
        found: dict[uuid.UUID, RemoteDocument] = {}
        for date, group in sorted(by_date.items()):
            on_date = f"TxnDate = '{date.isoformat()}'"
            if any(lookup.contact_external_id is None for lookup in group):
                numbers = [lookup.number for lookup in group]
                if all(numbers):
                    wheres = [
                        f"{on_date} AND DocNumber IN {mapping.in_list(c)}" for c in mapping.chunked(numbers, IN_CHUNK)
                    ]
                else:
                    wheres = [on_date]
            else:
                customers = sorted({lookup.contact_external_id or "" for lookup in group})
                wheres = [
                    f"{on_date} AND CustomerRef IN {mapping.in_list(chunk)}"
                    for chunk in mapping.chunked(customers, IN_CHUNK)
                ]
            for where in wheres:
                for row in self._query(entity_name, where, what=f"{kind}s of {date}"):
                    with _reading(f"a {kind}"):
                        document = mapping.remote_document(row, kind)
                    if document.our_id is None or document.our_id not in wanted:
                        continue
                    earlier = found.get(document.our_id)
                    if earlier is None or (earlier.voided and not document.voided):
                        found[document.our_id] = document
        return found

    def _push_documents(
        self, documents: Sequence[DocumentData], key: str, kind: str, entity_name: str
    ) -> list[PushResult]:
        """Create (or update) invoices or credit memos in batches, then hold each answer to what was sent: a
        document QuickBooks left without a number, or with a total other than ours, is refused and removed."""
        results: list[PushResult] = []
        codes = self._company_tax_codes()
        custom_field = self._company_custom_field()
        creates: list[_Operation] = []
        updates: list[tuple[DocumentData, Json]] = []
        sent: dict[uuid.UUID, DocumentData] = {}
        for document in documents:
            try:
                location = mapping.location_of(document)
                department = None
                if location is not None:
                    department = self._company_locations().get(location)
                    if department is None:
                        raise ValueError(f"{location!r} is not one of the company's locations in QuickBooks")
                body = mapping.document_body(
                    document, kind, codes=codes, custom_field=custom_field, department=department
                )
            except ValueError as error:
                results.append(Refused(document.our_id, (str(error),)))
                continue
            sent[document.our_id] = document
            if document.external_id is None:
                creates.append(_Operation(document.our_id, "create", entity_name, body))
            else:
                updates.append((document, body))
        answers = self._batch(creates, key, "create", what=f"{kind}s")
        answers.update(self._update_documents(updates, key, entity_name, kind))
        for our_id, answer in answers.items():
            if isinstance(answer, Fault):
                results.append(Refused(our_id, answer.words, conflict=answer.conflict))
                continue
            results.append(self._checked_document(sent[our_id], answer, kind, entity_name, key))
        return results

    def _update_documents(
        self, updates: Sequence[tuple[DocumentData, Json]], key: str, entity_name: str, kind: str
    ) -> dict[uuid.UUID, Json | Fault]:
        answers: dict[uuid.UUID, Json | Fault] = {}
        pending = list(updates)
        for attempt in ("update", "update-again"):
            if not pending:
                break
            tokens = self._sync_tokens(entity_name, [d.external_id for d, _ in pending if d.external_id])
            operations = []
            for document, body in pending:
                assert document.external_id is not None
                token = tokens.get(document.external_id)
                if token is None:
                    answers[document.our_id] = _missing(f"{kind} {document.external_id}")
                    continue
                update = {**body, "Id": document.external_id, "SyncToken": token, "sparse": True}
                operations.append(_Operation(document.our_id, "update", entity_name, update))
            answered = self._batch(operations, key, attempt, what=f"{kind} updates")
            answers.update(answered)
            pending = [(d, b) for d, b in pending if _is_stale(answered.get(d.our_id))]
        return answers

    def _checked_document(
        self, document: DocumentData, answer: Json, kind: str, entity_name: str, key: str
    ) -> PushResult:
        with _reading(f"a {kind}"):
            remote_id = mapping.text(answer, "Id", f"a {kind}")
            number = mapping.optional_text(answer, "DocNumber")
            total = mapping.amount(answer, "TotalAmt", f"{kind} {remote_id}")
        problem = None
        if document.number is None and number is None:
            problem = (
                f"QuickBooks gave {kind} {remote_id} no number: its custom transaction numbers are on. Switch off "
                '"Custom transaction numbers" in QuickBooks (Account and settings > Sales > Sales form content), '
                "or let flexbill number invoices, then sync again"
            )
        elif total != document.total:
            problem = (
                f"QuickBooks computed a total of {total} for {kind} {remote_id} where flexbill has {document.total}; "
                "check the tax codes mapped to flexbill's tax rates"
            )
        if problem is None:
            return Pushed(document.our_id, remote_id, number=number, total=total)
        if document.external_id is None:
            problem += self._remove(entity_name, answer, key)
        return Refused(document.our_id, (problem,))

    def _remove(self, entity_name: str, record: Json, key: str) -> str:
        """Delete a document just created that is not what was sent, so that sending it again cannot leave two.
        Returns what to add to the refusal."""
        remote_id = str(record.get("Id"))
        try:
            self._call(
                "POST",
                f"/{entity_name.lower()}",
                params={"operation": "delete"},
                body={"Id": remote_id, "SyncToken": str(record.get("SyncToken", "0"))},
                request_id=_request_id(key, f"delete:{remote_id}", REQUEST_ID_MAX),
                what=f"the deletion of {entity_name} {remote_id}",
            )
        except RemoteNotFound:
            return f" ({entity_name} {remote_id} is deleted)"
        except ConnectorError as error:
            return f" ({entity_name} {remote_id} could not be deleted: {error.message}; delete it in QuickBooks)"
        return f" ({entity_name} {remote_id} was deleted again)"

    def _invoices_with_payments(self, rows: Sequence[Json], known: Mapping[str, Json]) -> list[RemoteDocument]:
        """Invoices as documents, each with the money paid onto it (credit applied is not money), reading the
        linked payments not already at hand."""
        with _reading("invoices"):
            wanted = {payment_id for row in rows for payment_id in mapping.linked(row, "Payment")}
        payments = dict(known)
        missing = sorted(wanted - set(payments))
        for row in self._rows_by_id("Payment", missing, what="payments"):
            with _reading("a payment"):
                payments[mapping.text(row, "Id", "a payment")] = row
        documents = []
        with _reading("invoices"):
            for row in rows:
                invoice_id = mapping.text(row, "Id", "an invoice")
                paid: list[RemotePayment] = []
                for payment_id in mapping.linked(row, "Payment"):
                    payment = payments.get(payment_id)
                    on_invoice = mapping.payments_on_invoice(payment, invoice_id) if payment is not None else None
                    if on_invoice is not None:
                        paid.append(on_invoice)
                documents.append(mapping.remote_document(row, INVOICE, paid))
        return documents

    # the company's settings, read once a session

    # Each reads what the sessions learnt into a local first: another session may forget it meanwhile.

    def _company_tax_codes(self) -> dict[str, mapping.TaxCode]:
        known = self._known.tax_codes
        if known is None:
            with _reading("the tax rates"):
                percents = mapping.tax_rate_percents(self._query("TaxRate", what="the tax rates"))
            with _reading("the tax codes"):
                codes = [mapping.tax_code(row, percents) for row in self._query("TaxCode", what="the tax codes")]
            known = self._known.tax_codes = {code.id: code for code in codes}
        return known

    def _company_custom_field(self) -> str | None:
        known = self._known.custom_field
        if known is None:
            envelope = self._call("GET", "/preferences", what="the company's preferences")
            with _reading("the company's preferences"):
                preferences = mapping.entity(envelope, "Preferences", "the company's preferences")
                known = self._known.custom_field = (mapping.custom_field_definition(preferences),)
        return known[0]

    def _company_locations(self) -> dict[str, str]:
        known = self._known.locations
        if known is None:
            with _reading("the locations"):
                known = self._known.locations = mapping.locations(self._query("Department", what="the locations"))
        return known

    # the plumbing

    def _batch(
        self, operations: Sequence[_Operation], key: str, part: str, *, what: str
    ) -> dict[uuid.UUID, Json | Fault]:
        """Operations 30 to a ``POST /batch``, each batch with a request id derived from the key, the part, its
        place and the ids it carries; the answer to each operation is its entity or its ``Fault``. The operations
        are put in the order of our ids first: the same records asked again in another order still make the same
        batches, so an answer QuickBooks replays for a request id is about the records it was for."""
        answers: dict[uuid.UUID, Json | Fault] = {}
        chunks = mapping.chunked(sorted(operations, key=lambda operation: operation.our_id), BATCH_SIZE)
        for index, chunk in enumerate(chunks):
            carried = hashlib.sha256("|".join(str(operation.our_id) for operation in chunk).encode()).hexdigest()
            items = [
                {"bId": str(number), "operation": operation.operation, operation.entity: operation.body}
                for number, operation in enumerate(chunk, start=1)
            ]
            sent_what = f"{what} ({len(chunk)} sent)"
            envelope = self._call(
                "POST",
                "/batch",
                body={"BatchItemRequest": items},
                request_id=_request_id(key, f"{part}:{index + 1}of{len(chunks)}:{carried}", BATCH_REQUEST_ID_MAX),
                batch=True,
                what=sent_what,
            )
            with _reading(sent_what):
                responses = {
                    str(item.get("bId")): item
                    for item in mapping.items(
                        mapping.obj(envelope, sent_what).get("BatchItemResponse"), "BatchItemResponse"
                    )
                }
            for number, operation in enumerate(chunk, start=1):
                response = responses.get(str(number))
                if response is None:
                    raise Transient(f"QuickBooks answered {sent_what} without an answer for item {number}")
                fault = mapping.fault_of(response)
                if fault is not None:
                    error = _fault_error(
                        fault, f"{operation.entity} {number} of {sent_what}", 200, self._limiter.limits.refused_wait
                    )
                    if isinstance(error, RateLimited | AuthExpired | Transient):
                        raise error
                    answers[operation.our_id] = fault
                    continue
                with _reading(sent_what):
                    answers[operation.our_id] = mapping.obj(response.get(operation.entity), f"item {number}")
        return answers

    def _create(self, path: str, entity_name: str, body: Json, request_id: str) -> Json:
        what = f"a new {entity_name}"
        envelope = self._call("POST", f"/{path}", body=body, request_id=request_id, what=what)
        with _reading(what):
            return mapping.entity(envelope, entity_name, what)

    def _read(self, path: str, entity_name: str, external_id: str) -> Json:
        what = f"{entity_name} {external_id}"
        envelope = self._call("GET", f"/{path}/{segment(external_id)}", what=what)
        with _reading(what):
            return mapping.entity(envelope, entity_name, what)

    def _sync_tokens(self, entity_name: str, external_ids: Sequence[str]) -> dict[str, str]:
        tokens = {}
        for row in self._rows_by_id(entity_name, external_ids, what=f"the current {entity_name} records"):
            with _reading(entity_name):
                tokens[mapping.text(row, "Id", entity_name)] = mapping.text(row, "SyncToken", entity_name)
        return tokens

    def _rows_by_id(self, entity_name: str, external_ids: Sequence[str], *, what: str) -> list[Json]:
        rows: list[Json] = []
        for chunk in mapping.chunked(list(dict.fromkeys(external_ids)), IN_CHUNK):
            rows += self._query(entity_name, f"Id IN {mapping.in_list(chunk)}", what=what)
        return rows

    def _query(self, entity_name: str, where: str | None = None, *, what: str, order: str | None = None) -> list[Json]:
        rows: list[Json] = []
        for _, page_rows in self._query_pages(entity_name, where, order=order, what=what):
            rows += page_rows
        return rows

    def _query_pages(
        self, entity_name: str, where: str | None, *, what: str, order: str | None = None
    ) -> Iterator[tuple[Any, list[Json]]]:
        """``SELECT * FROM entity [WHERE ...] [ORDERBY ...]`` page after page until a short page."""
        for page in range(MAX_PAGES):
            query = f"SELECT * FROM {entity_name}"
            if where:
                query += f" WHERE {where}"
            if order:
                query += f" ORDERBY {order}"
            query += f" STARTPOSITION {page * self._page_size + 1} MAXRESULTS {self._page_size}"
            if len(query) > LONG_QUERY:  # in the body, as Intuit's own clients send every query, not in the URL
                envelope = self._call("POST", "/query", text=query, what=f"{what}, page {page + 1}")
            else:
                envelope = self._call("GET", "/query", params={"query": query}, what=f"{what}, page {page + 1}")
            with _reading(what):
                rows = mapping.query_items(envelope, entity_name, what)
            yield envelope, rows
            if len(rows) < self._page_size:
                return
        raise Transient(f"QuickBooks kept sending full pages of {what} past page {MAX_PAGES}")

    def _call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: dict[str, str] | None = None,
        body: Json | None = None,
        text: str | None = None,
        request_id: str | None = None,
        batch: bool = False,
    ) -> Any:
        """A call answered with JSON: the parsed answer (its Fault, if any, raised)."""
        response = self._request(
            method, path, params=params, body=body, text=text, request_id=request_id, batch=batch, what=what
        )
        return _checked(response, what, self._limiter.limits.refused_wait)

    def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: dict[str, str] | None = None,
        body: Json | None = None,
        text: str | None = None,
        request_id: str | None = None,
        batch: bool = False,
        accept: str = "application/json",
    ) -> httpx.Response:
        """One call through the limiter; an answer for rate is reported to it, a refusal raises."""
        query = {**(params or {}), "minorversion": mapping.MINOR_VERSION}
        if request_id is not None:
            query["requestid"] = request_id
        headers = {"Authorization": f"Bearer {self._target.access_token}", "Accept": accept}
        content = None
        if body is not None:
            content = mapping.dumps(body)
            headers["Content-Type"] = "application/json"
        elif text is not None:
            content = text.encode()
            headers["Content-Type"] = "application/text"
        permit = self._limiter.acquire(self._target.tenant_id, batch=batch)
        observation: Observation | None = None
        try:
            response = _send(
                self._http, method, self._company + path, params=query, content=content, headers=headers, what=what
            )
            if _throttled(response):
                observation = Observation(limited=True, problem=Problem.WINDOW)  # for the limits' refused_wait
        finally:
            self._limiter.release(permit, observation)
        if not 200 <= response.status_code < 300:
            _checked(response, what, self._limiter.limits.refused_wait)
        return response


# --- helpers -----------------------------------------------------------------------------------------------------


def _fault_in(response: httpx.Response) -> tuple[Fault | None, Any]:
    """The Fault of an answer, JSON or XML, and the parsed JSON body (None when it is not JSON)."""
    content = response.content
    try:
        body = mapping.loads(content)
    except Malformed:
        text = content.decode("utf-8", "replace")
        return (mapping.xml_fault(text) if "<Fault" in text else None), None
    return mapping.fault_of(body), body


def _throttled(response: httpx.Response) -> bool:
    if response.status_code == 429:
        return True
    if b"3001" not in response.content and b"ThrottleExceeded" not in response.content:
        return False
    fault, _ = _fault_in(response)
    return fault is not None and ("3001" in fault.codes or any("ThrottleExceeded" in w for w in fault.words))


def _checked(response: httpx.Response, what: str, throttle_wait: float = THROTTLE_WAIT) -> Any:
    """The JSON of a good answer; any Fault (whatever the status) or any status other than 2xx raises. A refusal
    for rate waits ``throttle_wait`` (QuickBooks says nothing of how long)."""
    status = response.status_code
    fault, body = _fault_in(response)
    if status == 429 and fault is None:
        raise RateLimited(
            f"QuickBooks refused {what} for rate (HTTP 429); try again in {throttle_wait:g} s", throttle_wait
        )
    if fault is not None:
        raise _fault_error(fault, what, status, throttle_wait)
    if 200 <= status < 300:
        if body is None:
            raise Transient(f"QuickBooks' answer about {what} could not be read: it is not JSON")
        return body
    snippet = " ".join(response.text.split())[:300] or "no details"
    if status == 401:
        raise AuthExpired(f"QuickBooks refused the access token for {what} (HTTP 401)")
    if status == 403:
        raise AuthExpired(
            f"QuickBooks refused access for {what} (HTTP 403): the company was disconnected or the connection lacks "
            "a permission; connect it again"
        )
    if status == 404:
        raise RemoteNotFound(f"QuickBooks has no {what} (HTTP 404)")
    if 400 <= status < 500 and status not in (408, 425):
        raise Rejected(f"QuickBooks refused {what} (HTTP {status}): {snippet}")
    raise Transient(f"QuickBooks answered {what} with HTTP {status}: {snippet}")


def _fault_error(fault: Fault, what: str, status: int, throttle_wait: float = THROTTLE_WAIT) -> ConnectorError:
    codes = fault.codes
    words = "; ".join(fault.words)
    kind = fault.type.lower()
    if status == 429 or "3001" in codes or "ThrottleExceeded" in words:
        return RateLimited(
            f"QuickBooks refused {what} for rate: {words}; try again in {throttle_wait:g} s", throttle_wait
        )
    if status == 401 or kind in ("authenticationfault", "authentication") or codes & _AUTH_CODES:
        return AuthExpired(f"QuickBooks refused the access token for {what}: {words}")
    if status == 403 or kind == "authorizationfault" or "120" in codes:
        return AuthExpired(f"QuickBooks refused access for {what}: {words}; connect the company again")
    if "610" in codes:
        return RemoteNotFound(f"QuickBooks has no {what}: {words}")
    if "5010" in codes:
        return _Stale(f"QuickBooks refused {what}: {words}", fault.words)
    if fault.conflict:
        return Conflict(f"QuickBooks refused {what}: {words}", fault.words)
    if kind == "systemfault" or status >= 500:
        return Transient(f"QuickBooks failed {what}: {words}")
    return Rejected(f"QuickBooks refused {what}: {words}", fault.words)


def _no_tax_code(codes: Iterable[mapping.TaxCode]) -> mapping.TaxCode | None:
    """An active tax code that charges no tax: one with no sales rate ("No VAT", "Exempt") before one whose rates
    are all 0% (zero-rated)."""
    active = [code for code in codes if code.active]
    return next((c for c in active if not c.components), None) or next((c for c in active if c.percent == 0), None)


def _is_stale(answer: Json | Fault | None) -> bool:
    return isinstance(answer, Fault) and "5010" in answer.codes


def _missing(what: str) -> Fault:
    """A refusal for a record QuickBooks no longer has, in the shape of its own."""
    return Fault("ValidationFault", (mapping.FaultError("610", "Object Not Found", f"QuickBooks has no {what}"),))


def _request_id(key: str, part: str, size: int) -> str:
    """QuickBooks' ``requestid`` for one call made for a keyed call: the same every time that call is made.

    >>> _request_id("flexbill:invoices:4f1c", "create:1of1", 36)
    '0e463e08dca8ca6dcaacb6ef0b36df2a5c46'
    """
    if not key or not key.strip():
        raise ValueError("an idempotency key is required")
    return hashlib.sha256(f"{key}|{part}".encode()).hexdigest()[:size]


def _query_time(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
