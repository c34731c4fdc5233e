"""The Xero connector over plain HTTP: the descriptor, the OAuth flow and a session per organisation.

Every call of a session goes through the process's rate limiter for Xero (:mod:`flexbill.accounting.ratelimit`)
before it is sent, and every answer is turned into flexbill's values (:mod:`.mapping`) or into one of the errors of
:mod:`flexbill.accounting.ports`. Nothing here sleeps or retries.

How Xero's answers become errors:

* 429 -> ``RateLimited`` after ``Retry-After`` (60 s when it is missing), naming ``X-Rate-Limit-Problem``;
* 401 -> ``AuthExpired``; 403 -> ``AuthExpired`` as well: Xero answers 403 when the organisation was disconnected
  from the app, the tenant id is not one the token may use, or the token lacks a scope. Refreshing the token does
  not change any of these, so the second ``AuthExpired`` after the engine's refresh puts the connection before the
  operator to reconnect, which is the fix for all three; treating it as ``Rejected`` would fail record after
  record for a fault that is the connection's;
* 400 -> ``Rejected`` with every message, ``Conflict`` when one is about a duplicate (an invoice number in use);
* 404 -> ``RemoteNotFound``;
* 5xx, timeouts, dropped connections and answers that are not what Xero sends -> ``Transient``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import httpx

from flexbill.accounting.connectors.http import reading, segment, send, token_refusal
from flexbill.accounting.connectors.xero import mapping
from flexbill.accounting.connectors.xero.mapping import Json, Malformed
from flexbill.accounting.model import (
    AllocationData,
    Changes,
    ContactData,
    DocumentData,
    DocumentLookup,
    PaymentData,
    PushResult,
    Refused,
    RemoteAccount,
    RemoteDocument,
    RemoteTaxRate,
    RemoteTrackingCategory,
    Tenant,
    Tokens,
    WebhookEvent,
)
from flexbill.accounting.ports import (
    AuthExpired,
    Conflict,
    OAuthClient,
    RateLimited,
    Rejected,
    RemoteNotFound,
    SessionTarget,
    Transient,
)
from flexbill.accounting.ratelimit import XERO_LIMITS, Limits, Observation, Problem, RateLimiter, shared_limiter
from flexbill.clock import Clock, SystemClock

_send = partial(send, system="Xero")
_reading = partial(reading, "Xero")

SCOPES = "offline_access accounting.transactions accounting.contacts accounting.settings"
BATCH_SIZE = 50  # Xero's advice for one request
PAGE_SIZE = 100  # Xero's default page; up to 1,000 may be asked for
WHERE_BUDGET = 1500  # characters of an encoded ``where`` or ``IDs`` filter, so the URL stays well under 2,000
DEFAULT_RETRY_AFTER = 60.0
MAX_PAGES = 10_000
IDEMPOTENCY_KEY_MAX = 128

_PROBLEMS = {"minute": Problem.WINDOW, "day": Problem.DAY, "concurrent": Problem.CONCURRENT}
_R = TypeVar("_R", ContactData, DocumentData, PaymentData)


@dataclass(frozen=True, slots=True)
class Endpoints:
    authorize: str
    token: str
    api: str
    connections: str

    @classmethod
    def at(cls, base_url: str | None) -> Endpoints:
        """Xero's own addresses, or a sandbox's under ``base_url`` (e.g. ``http://127.0.0.1:8001/xero``)."""
        if base_url is None:
            return cls(
                authorize="https://login.xero.com/identity/connect/authorize",
                token="https://identity.xero.com/connect/token",
                api="https://api.xero.com/api.xro/2.0",
                connections="https://api.xero.com/connections",
            )
        base = base_url.rstrip("/")
        return cls(
            authorize=f"{base}/identity/connect/authorize",
            token=f"{base}/identity/connect/token",
            api=f"{base}/api.xro/2.0",
            connections=f"{base}/connections",
        )


class XeroConnector:
    """Xero, as flexbill's ``xero`` connector.

    ``limits`` are Xero's per organisation; a sandbox that compresses time is given its own window length here.
    Sessions of every connector with the same limits share one limiter in the process.
    """

    key: str = "xero"
    display_name: str = "Xero"
    capabilities: frozenset[str] = frozenset(
        {"invoices", "drafts", "credit_notes", "payments", "pdf", "webhooks", "tracking"}
    )

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        limits: Limits = XERO_LIMITS,
        limiter: RateLimiter | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self._limits = limits
        self._limiter = limiter
        self.page_size = page_size

    @property
    def limiter(self) -> RateLimiter:
        """The limiter given, or the process's shared one, looked up at each use (so that forgetting the shared
        limiters reaches the connector the registry keeps)."""
        return self._limiter or shared_limiter("Xero", self._limits)

    def oauth(self, client: OAuthClient, http: httpx.Client) -> XeroOAuth:
        return XeroOAuth(client, http, clock=self.clock)

    def open_session(self, target: SessionTarget, http: httpx.Client) -> XeroSession:
        return XeroSession(target, http, limiter=self.limiter, page_size=self.page_size)

    def webhook_events(self, body: bytes, headers: dict[str, str], signing_key: str) -> list[WebhookEvent]:
        mapping.verify_signature(body, headers.get("x-xero-signature"), signing_key)
        try:
            return mapping.webhook_events(body)
        except Malformed as error:
            raise Rejected(f"the Xero webhook delivery could not be read: {error}") from None


# --- OAuth -------------------------------------------------------------------------------------------------------


class XeroOAuth:
    """Xero's OAuth 2.0 code flow; the app authenticates to the token endpoint with HTTP Basic."""

    def __init__(self, client: OAuthClient, http: httpx.Client, *, clock: Clock) -> None:
        self._client = client
        self._http = http
        self._clock = clock
        self._endpoints = Endpoints.at(client.base_url)

    def authorize_url(self, state: str, redirect_uri: str) -> str:
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self._client.client_id,
                "redirect_uri": redirect_uri,
                "scope": SCOPES,
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
        """The organisations the token may use (practices and other kinds are left out). Xero lists them at its
        connections endpoint, so the callback's parameters are not needed."""
        response = _send(
            self._http,
            "GET",
            self._endpoints.connections,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            what="the list of connected organisations",
        )
        _raise_for_status(response, "the list of connected organisations")
        with _reading("the list of connected organisations"):
            connections = mapping.loads(response.content)
            if not isinstance(connections, list):
                raise Malformed("the connections are not a list")
            tenants = []
            for connection in connections:
                if not isinstance(connection, dict):
                    raise Malformed("a connection is not an object")
                tenant_id = connection.get("tenantId")
                if not isinstance(tenant_id, str) or not tenant_id:
                    raise Malformed("a connection has no tenantId")
                if connection.get("tenantType", "ORGANISATION") != "ORGANISATION":
                    continue
                name = connection.get("tenantName")
                tenants.append(Tenant(id=tenant_id, name=name if isinstance(name, str) and name else tenant_id))
            return tenants

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
            raise token_refusal(response, "Xero", grant)
        _raise_for_status(response, f"the {grant}")
        with _reading(f"the answer to the {grant}"):
            body = mapping.loads(response.content)
            if not isinstance(body, dict):
                raise Malformed("the token answer is not an object")
            access, refresh, expires_in = body.get("access_token"), body.get("refresh_token"), body.get("expires_in")
            if not isinstance(access, str) or not access:
                raise Malformed("it has no access_token")
            if not isinstance(refresh, str) or not refresh:
                raise Malformed("it has no refresh_token (is offline_access granted?)")
            seconds = mapping.number(expires_in, "expires_in")
            return Tokens(access, refresh, self._clock.now() + dt.timedelta(seconds=int(seconds)))


# --- the session -------------------------------------------------------------------------------------------------


class XeroSession:
    """One organisation, one access token: :class:`~flexbill.accounting.ports.ConnectorSession` for Xero."""

    def __init__(
        self, target: SessionTarget, http: httpx.Client, *, limiter: RateLimiter, page_size: int = PAGE_SIZE
    ) -> None:
        self._target = target
        self._http = http
        self._limiter = limiter
        self._page_size = page_size
        self._api = Endpoints.at(target.base_url).api

    # settings

    def list_accounts(self) -> list[RemoteAccount]:
        envelope = self._get_json("/Accounts", what="the chart of accounts")
        with _reading("the chart of accounts"):
            return mapping.remote_accounts(envelope)

    def list_tax_rates(self) -> list[RemoteTaxRate]:
        envelope = self._get_json("/TaxRates", what="the tax rates")
        with _reading("the tax rates"):
            return mapping.remote_tax_rates(envelope)

    def list_tracking_categories(self) -> list[RemoteTrackingCategory]:
        envelope = self._get_json("/TrackingCategories", what="the tracking categories")
        with _reading("the tracking categories"):
            return mapping.remote_tracking_categories(envelope)

    # contacts

    def find_contacts(self, contacts: Sequence[ContactData]) -> dict[uuid.UUID, str]:
        our_ids = [contact.our_id for contact in contacts]  # Xero searches by ContactNumber: names are not needed
        wanted = set(our_ids)
        found: dict[uuid.UUID, str] = {}
        for where in mapping.contacts_where(list(dict.fromkeys(our_ids)), WHERE_BUDGET):
            for contact in self._pages("/Contacts", "Contacts", {"where": where}, what="contacts"):
                with _reading("a contact"):
                    contact_id = mapping.guid(contact, "ContactID", "a contact")
                    our_id = mapping.our_id_of_contact_number(mapping.optional_text(contact, "ContactNumber"))
                    status = mapping.optional_text(contact, "ContactStatus", "a contact") or "ACTIVE"
                if our_id is not None and our_id in wanted and status == "ACTIVE":
                    found.setdefault(our_id, contact_id)
        return found

    def push_contacts(self, contacts: Sequence[ContactData], idempotency_key: str) -> list[PushResult]:
        return self._push("/Contacts", mapping.CONTACTS, contacts, mapping.contact_body, idempotency_key, unit_dp=False)

    # invoices

    def find_invoices(self, lookups: Sequence[DocumentLookup]) -> dict[uuid.UUID, RemoteDocument]:
        return self._find_documents("/Invoices", "Invoices", "ACCREC", mapping.remote_invoice, lookups)

    def push_invoices(self, invoices: Sequence[DocumentData], idempotency_key: str) -> list[PushResult]:
        return self._push("/Invoices", mapping.INVOICES, invoices, mapping.invoice_body, idempotency_key)

    def get_invoices(self, external_ids: Sequence[str]) -> list[RemoteDocument]:
        """The invoices Xero has of these; one it does not have is left out."""
        documents: list[RemoteDocument] = []
        for ids in _id_chunks(list(dict.fromkeys(external_ids))):
            params = {"IDs": ",".join(ids), "unitdp": str(mapping.UNIT_DECIMAL_PLACES)}
            for invoice in self._pages("/Invoices", "Invoices", params, what="invoices"):
                with _reading("an invoice"):
                    documents.append(mapping.remote_invoice(invoice))
        return documents

    def invoice_pdf(self, external_id: str) -> bytes:
        what = f"the PDF of invoice {external_id}"
        response = self._request("GET", f"/Invoices/{segment(external_id)}", accept="application/pdf", what=what)
        content_type = response.headers.get("content-type", "")
        if not content_type.lower().startswith("application/pdf") and not response.content.startswith(b"%PDF"):
            raise Transient(f"Xero answered {what} with {content_type or 'no content type'}, not a PDF")
        return response.content

    def void_invoice(self, external_id: str, idempotency_key: str) -> RemoteDocument:
        """Void an approved invoice. A draft cannot be voided in Xero, so it is deleted; one already voided or
        deleted is taken as it is (a void sent again after its answer was lost)."""
        try:
            return self._set_status(external_id, "VOIDED", idempotency_key)
        except Rejected:
            current = self._get_invoice(external_id)
            if current.voided:
                return current
            if current.status in ("DRAFT", "SUBMITTED"):
                return self._set_status(external_id, "DELETED", _derived_key(idempotency_key, "delete"))
            raise

    # credit notes

    def find_credit_notes(self, lookups: Sequence[DocumentLookup]) -> dict[uuid.UUID, RemoteDocument]:
        return self._find_documents("/CreditNotes", "CreditNotes", "ACCRECCREDIT", mapping.remote_credit_note, lookups)

    def push_credit_notes(self, credit_notes: Sequence[DocumentData], idempotency_key: str) -> list[PushResult]:
        return self._push("/CreditNotes", mapping.CREDIT_NOTES, credit_notes, mapping.credit_note_body, idempotency_key)

    def allocate_credit_note(self, allocation: AllocationData, idempotency_key: str) -> None:
        what = f"the allocation of credit note {allocation.credit_note_external_id}"
        envelope = self._json(
            self._request(
                "PUT",
                f"/CreditNotes/{segment(allocation.credit_note_external_id)}/Allocations",
                params={"summarizeErrors": "false"},
                body={"Allocations": [mapping.allocation_body(allocation)]},
                idempotency_key=_checked_key(idempotency_key),
                what=what,
            ),
            what,
        )
        with _reading(what):
            allocations = mapping.collection(envelope, "Allocations")
            if not allocations:
                raise Malformed("no allocation came back")
            errors = mapping.element_errors(allocations[0])
        if errors is not None:
            raise Rejected(f"Xero refused {what}: " + "; ".join(errors), errors)

    # payments

    def find_payments(self, invoice_external_id: str) -> list[tuple[uuid.UUID | None, str]]:
        invoice = self._get_invoice(invoice_external_id)
        return [(p.our_id, p.external_id) for p in invoice.payments if not p.deleted]

    def push_payments(self, payments: Sequence[PaymentData], idempotency_key: str) -> list[PushResult]:
        return self._push("/Payments", mapping.PAYMENTS, payments, mapping.payment_body, idempotency_key, unit_dp=False)

    # changes

    def invoices_changed_since(self, since: dt.datetime | None) -> Changes:
        """Sales invoices changed since ``since`` by Xero's ``UpdatedDateUTC``; ``as_of`` is Xero's clock when
        it answered the first page, so a change made while the pages are read is found next time."""
        headers: dict[str, str] = {}
        if since is not None:
            instant = since if since.tzinfo is not None else since.replace(tzinfo=dt.UTC)
            headers["If-Modified-Since"] = instant.astimezone(dt.UTC).isoformat(timespec="milliseconds")
        params = {
            "where": 'Type=="ACCREC"',
            "order": "UpdatedDateUTC ASC",
            "unitdp": str(mapping.UNIT_DECIMAL_PLACES),
        }
        documents: list[RemoteDocument] = []
        as_of: dt.datetime | None = None
        for page, (envelope, response) in enumerate(
            self._envelopes("/Invoices", "Invoices", params, headers=headers, what="the changed invoices")
        ):
            with _reading("the changed invoices"):
                if page == 0:
                    as_of = mapping.response_time(envelope) or _date_header(response)
                for invoice in mapping.collection(envelope, "Invoices"):
                    document = mapping.remote_invoice(invoice)
                    if (mapping.optional_text(invoice, "Type") or "ACCREC") == "ACCREC":
                        documents.append(document)
        if as_of is None:
            raise Transient("Xero's answer with the changed invoices tells neither DateTimeUTC nor a Date header")
        return Changes(documents=tuple(documents), as_of=as_of)

    # the plumbing

    def _push(
        self,
        path: str,
        kind: mapping.BatchKind,
        records: Sequence[_R],
        body_of: Callable[[_R], Json],
        idempotency_key: str,
        *,
        unit_dp: bool = True,
    ) -> list[PushResult]:
        """Create the records without an external id (PUT) and update the others (POST), 50 to a request,
        each request with its own idempotency key derived from the batch's."""
        idempotency_key = _checked_key(idempotency_key)
        results: list[PushResult] = []
        bodies: list[tuple[uuid.UUID, Json, bool]] = []
        for record in records:
            try:
                bodies.append((record.our_id, body_of(record), getattr(record, "external_id", None) is None))
            except ValueError as error:
                results.append(Refused(record.our_id, (str(error),)))
        plan = [
            (method, list(chunk))
            for method, creating in (("PUT", True), ("POST", False))
            for chunk in mapping.chunked([b for b in bodies if b[2] is creating], BATCH_SIZE)
        ]
        params = {"summarizeErrors": "false"}
        if unit_dp:
            params["unitdp"] = str(mapping.UNIT_DECIMAL_PLACES)
        for index, (method, chunk) in enumerate(plan):
            key = idempotency_key if len(plan) == 1 else _derived_key(idempotency_key, f"{index + 1}of{len(plan)}")
            what = f"{kind.collection} ({len(chunk)} sent)"
            response = self._request(
                method,
                path,
                params=params,
                body={kind.collection: [body for _, body, _ in chunk]},
                idempotency_key=key,
                what=what,
            )
            envelope = self._json(response, what)
            with _reading(what):
                results.extend(mapping.push_results(kind, [our_id for our_id, _, _ in chunk], envelope))
        return results

    def _find_documents(
        self,
        path: str,
        key: str,
        doc_type: str,
        parse: Callable[[object], RemoteDocument],
        lookups: Sequence[DocumentLookup],
    ) -> dict[uuid.UUID, RemoteDocument]:
        """Documents by our id in their Reference (Xero searches by it, so the lookups' hints are not needed); of
        several, one still in the books is preferred."""
        our_ids = [lookup.our_id for lookup in lookups]
        wanted = set(our_ids)
        found: dict[uuid.UUID, RemoteDocument] = {}
        params = {"unitdp": str(mapping.UNIT_DECIMAL_PLACES)}
        for where in mapping.references_where(list(dict.fromkeys(our_ids)), WHERE_BUDGET):
            for record in self._pages(path, key, {**params, "where": where}, what=key):
                with _reading(key):
                    document = parse(record)
                    if (mapping.optional_text(record, "Type") or doc_type) != doc_type:
                        continue
                if document.our_id is None or document.our_id not in wanted:
                    continue
                earlier = found.get(document.our_id)
                if earlier is None or (earlier.voided and not document.voided):
                    found[document.our_id] = document
        return found

    def _get_invoice(self, external_id: str) -> RemoteDocument:
        what = f"invoice {external_id}"
        envelope = self._get_json(
            f"/Invoices/{segment(external_id)}", params={"unitdp": str(mapping.UNIT_DECIMAL_PLACES)}, what=what
        )
        with _reading(what):
            invoices = mapping.collection(envelope, "Invoices")
            if len(invoices) != 1:
                raise Malformed(f"{len(invoices)} invoices came back for one")
            return mapping.remote_invoice(invoices[0])

    def _set_status(self, external_id: str, status: str, idempotency_key: str) -> RemoteDocument:
        what = f"setting invoice {external_id} to {status}"
        envelope = self._json(
            self._request(
                "POST",
                f"/Invoices/{segment(external_id)}",
                params={"unitdp": str(mapping.UNIT_DECIMAL_PLACES)},
                body=mapping.status_body(external_id, status),
                idempotency_key=_checked_key(idempotency_key),
                what=what,
            ),
            what,
        )
        with _reading(what):
            invoices = mapping.collection(envelope, "Invoices")
            if len(invoices) != 1:
                raise Malformed(f"{len(invoices)} invoices came back for one")
            errors = mapping.element_errors(invoices[0])
            if errors is None:
                return mapping.remote_invoice(invoices[0])
        raise Rejected(f"Xero refused {what}: " + "; ".join(errors), errors)

    def _pages(self, path: str, key: str, params: dict[str, str], *, what: str) -> Iterator[Json]:
        for envelope, _ in self._envelopes(path, key, params, what=what):
            with _reading(what):
                items = mapping.collection(envelope, key)
            yield from items

    def _envelopes(
        self, path: str, key: str, params: dict[str, str], *, what: str, headers: dict[str, str] | None = None
    ) -> Iterator[tuple[Any, httpx.Response]]:
        """Page after page (``page``, ``pageSize``) until a short page or the last of ``pagination.pageCount``."""
        for page in range(1, MAX_PAGES + 1):
            query = {**params, "page": str(page), "pageSize": str(self._page_size)}
            response = self._request("GET", path, params=query, headers=headers, what=f"{what}, page {page}")
            envelope = self._json(response, f"{what}, page {page}")
            yield envelope, response
            with _reading(what):
                count = len(mapping.collection(envelope, key))
                pages = mapping.page_count(envelope)
            if count < self._page_size or (pages is not None and page >= pages):
                return
        raise Transient(f"Xero kept sending full pages of {what} past page {MAX_PAGES}")

    def _get_json(self, path: str, *, what: str, params: dict[str, str] | None = None) -> Any:
        return self._json(self._request("GET", path, params=params, what=what), what)

    @staticmethod
    def _json(response: httpx.Response, what: str) -> Any:
        with _reading(what):
            return mapping.loads(response.content)

    def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: dict[str, str] | None = None,
        body: Json | None = None,
        idempotency_key: str | None = None,
        accept: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One call, through the rate limiter; an answer other than 2xx raises."""
        sent_headers = {
            "Authorization": f"Bearer {self._target.access_token}",
            "xero-tenant-id": self._target.tenant_id,
            "Accept": accept,
            **(headers or {}),
        }
        content = None
        if body is not None:
            content = mapping.dumps(body)
            sent_headers["Content-Type"] = "application/json"
        if idempotency_key is not None:
            sent_headers["Idempotency-Key"] = idempotency_key
        permit = self._limiter.acquire(self._target.tenant_id)
        observation: Observation | None = None
        try:
            response = _send(
                self._http, method, self._api + path, params=params, content=content, headers=sent_headers, what=what
            )
            observation = _observation(response)
        finally:
            self._limiter.release(permit, observation)
        _raise_for_status(response, what, tenant_id=self._target.tenant_id)
        return response


# --- helpers -----------------------------------------------------------------------------------------------------


def _raise_for_status(response: httpx.Response, what: str, *, tenant_id: str | None = None) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    if status == 429:
        retry_after = _retry_after(response)
        problem = response.headers.get("x-rate-limit-problem") or "unnamed"
        wait = retry_after if retry_after is not None else DEFAULT_RETRY_AFTER
        raise RateLimited(
            f"Xero refused {what} for rate: its {problem} limit (X-Rate-Limit-Problem) is reached; "
            f"try again in {wait:g} s",
            wait,
        )
    detail = _problem_detail(response)
    if status == 401:
        raise AuthExpired(f"Xero refused the access token for {what} (HTTP 401{detail})")
    if status == 403:
        organisation = f"organisation {tenant_id}" if tenant_id else "the organisation"
        raise AuthExpired(
            f"Xero refused access to {organisation} for {what} (HTTP 403{detail}): it was disconnected or the "
            "connection lacks a permission; connect it again"
        )
    if status == 404:
        raise RemoteNotFound(f"Xero has no {what} (HTTP 404)")
    if status == 400:
        try:
            body: object = mapping.loads(response.content)
        except Malformed:
            body = None
        raise mapping.rejection(status, body, response.text)
    if status == 409:
        raise Conflict(f"Xero refused {what} (HTTP 409): {_snippet(response)}")
    if 400 <= status < 500 and status not in (408, 425):
        raise Rejected(f"Xero refused {what} (HTTP {status}): {_snippet(response)}")
    raise Transient(f"Xero answered {what} with HTTP {status}: {_snippet(response)}")


def _problem_detail(response: httpx.Response) -> str:
    """The ``Detail`` (or ``Title``) of a 401/403 problem answer, e.g. AuthenticationUnsuccessful."""
    try:
        body = mapping.loads(response.content)
    except Malformed:
        return ""
    if isinstance(body, dict):
        for key in ("Detail", "Title", "Message"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return f" {value}"
    return ""


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""


def _snippet(response: httpx.Response) -> str:
    return " ".join(response.text.split())[:300] or "no details"


def _observation(response: httpx.Response) -> Observation:
    headers = response.headers
    limited = response.status_code == 429
    problem_name = (headers.get("x-rate-limit-problem") or "").strip().lower()
    return Observation(
        window_remaining=_int_header(headers.get("x-minlimit-remaining")),
        day_remaining=_int_header(headers.get("x-daylimit-remaining")),
        limited=limited,
        problem=(_PROBLEMS.get(problem_name, Problem.OTHER) if problem_name else None) if limited else None,
        retry_after=_retry_after(response) if limited else None,
        # Sent only by flexbill's Xero sandbox, whose minute may be compressed; Xero's own is 60 s.
        window_seconds=_float_header(headers.get("x-sandbox-minute-seconds")),
    )


def _float_header(value: str | None) -> float | None:
    try:
        seconds = float(value.strip()) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 < seconds < 86400 else None


def _int_header(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds, given as a number or as an HTTP date (then measured from the ``Date``)."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        when = _http_date(value)
        sent = _date_header(response)
        if when is None or sent is None:
            return None
        seconds = (when - sent).total_seconds()
    return max(seconds, 0.0) if seconds == seconds and seconds != float("inf") else None


def _http_date(value: str) -> dt.datetime | None:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _date_header(response: httpx.Response) -> dt.datetime | None:
    value = response.headers.get("date")
    return _http_date(value) if value else None


def _checked_key(key: str) -> str:
    """Never sent empty (Xero refuses it), never over 128 characters (a longer one is hashed)."""
    if not key or not key.strip():
        raise ValueError("an idempotency key is required")
    if len(key) > IDEMPOTENCY_KEY_MAX:
        return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()
    return key


def _derived_key(key: str, part: str) -> str:
    """The key of one request of several made for one keyed call: the same every time that call is made."""
    return _checked_key(f"{_checked_key(key)}:{part}")


def _id_chunks(ids: list[str]) -> Iterator[list[str]]:
    chunk: list[str] = []
    for external_id in ids:
        if chunk and len(quote(",".join([*chunk, external_id]), safe="")) > WHERE_BUDGET:
            yield chunk
            chunk = []
        chunk.append(external_id)
    if chunk:
        yield chunk
