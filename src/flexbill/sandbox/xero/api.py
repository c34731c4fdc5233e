"""The Accounting API routes, under ``/api.xro/2.0`` (the gateway in front has already checked the caller).

Handlers are plain functions run in the thread pool; each reads and changes the organisation under its lock,
and renders while still holding it, so an answer is one consistent snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from flexbill.sandbox.xero import listing, pdf, query, render
from flexbill.sandbox.xero.model import Document, DocumentKind
from flexbill.sandbox.xero.oauth import Caller
from flexbill.sandbox.xero.reader import is_guid, normal_id
from flexbill.sandbox.xero.sandbox import XeroSandbox
from flexbill.sandbox.xero.state import Invalid, Missing, Outcome
from flexbill.sandbox.xero.wire import (
    Json,
    XeroJSONResponse,
    api_error,
    envelope,
    loads,
    messages,
    parse_instant,
    problem,
    validation_error,
)

T = TypeVar("T")
router = APIRouter()


class ApiProblem(Exception):
    """Answer with this status and body (the app's handler turns it into a response)."""

    def __init__(self, status: int, body: dict[str, object]) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body


def not_found() -> ApiProblem:
    return ApiProblem(404, problem(404, "NotFound", "The resource you're looking for cannot be found"))


def bad_request(message: str, *, number: int = 10, kind: str = "ValidationException") -> ApiProblem:
    return ApiProblem(400, api_error(number, kind, message))


async def raw_body(request: Request) -> bytes:
    return await request.body()


Body = Annotated[bytes, Depends(raw_body)]


def _sandbox(request: Request) -> XeroSandbox:
    sandbox: XeroSandbox = request.app.state.sandbox
    return sandbox


def _client_id(request: Request) -> str | None:
    caller: Caller | None = getattr(request.state, "caller", None)
    return caller.client_id if caller is not None else None


def _ok(
    request: Request, key: str, items: Sequence[dict[str, Any]], pagination: dict[str, int] | None = None
) -> Response:
    sandbox = _sandbox(request)
    body = envelope(key, items, now=sandbox.clock.now(), provider=sandbox.provider_name, pagination=pagination)
    return XeroJSONResponse(body)


# -- request parameters ----------------------------------------------------------------------------------------


def _items(body: bytes, key: str) -> list[Json]:
    """The elements of a PUT/POST: ``{"Invoices": [...]}``, a single object, or a bare list."""
    try:
        data = loads(body) if body.strip() else None
    except ValueError as error:
        raise bad_request(
            f"JSON for post data was invalid, {error}", number=14, kind="PostDataInvalidException"
        ) from None
    if isinstance(data, dict):
        wrapped = next((value for name, value in data.items() if name.lower() == key.lower()), None)
        if wrapped is None:
            return [data]
        if isinstance(wrapped, list):
            return wrapped
        return [wrapped]
    if isinstance(data, list):
        return data
    raise bad_request(f"The request body must be a JSON object with {key}", number=14, kind="PostDataInvalidException")


def _flag(request: Request, name: str, default: bool = False) -> bool:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    if value.lower() not in ("true", "false"):
        raise bad_request(f"{name} must be true or false")
    return value.lower() == "true"


def _summarize(request: Request) -> bool:
    """Xero summarises errors unless told ``summarizeErrors=false`` (the SDKs' default of false is their own)."""
    return _flag(request, "summarizeErrors", default=True)


def _unitdp(request: Request) -> int:
    value = request.query_params.get("unitdp")
    if not value:
        return 2
    if not value.isdigit():
        raise bad_request("unitdp must be a whole number (4 for four decimal places)")
    return 4 if int(value) == 4 else 2


# Parsed as dependencies, so a bad parameter is refused before anything is saved.
Summarize = Annotated[bool, Depends(_summarize)]
UnitDp = Annotated[int, Depends(_unitdp)]


def _int(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise bad_request(f"{name} must be a whole number") from None


def _csv(request: Request, name: str) -> list[str]:
    values: list[str] = []
    for key, value in request.query_params.multi_items():
        if key.lower() == name.lower():
            values += [part.strip() for part in value.split(",") if part.strip()]
    return values


def _guids(request: Request, name: str) -> set[str] | None:
    values = _csv(request, name)
    if not values:
        return None
    bad = [value for value in values if not is_guid(value)]
    if bad:
        raise bad_request(f"{name} must be a comma-separated list of GUIDs; '{bad[0]}' is not one")
    return {normal_id(value) for value in values}


def _modified_since(request: Request) -> datetime | None:
    text = request.headers.get("if-modified-since")
    if not text:
        return None
    try:
        return parse_instant(text)
    except ValueError:
        raise bad_request(f"If-Modified-Since '{text}' is not a date and time") from None


def _query(
    request: Request,
    records: Iterable[T],
    values: Callable[[T], dict[str, object]],
    known: set[str],
    *,
    updated: Callable[[T], datetime] | None = None,
) -> list[T]:
    """``If-Modified-Since`` (records changed at or after it), then ``where`` and ``order``."""
    since = _modified_since(request) if updated is not None else None
    result = [r for r in records if since is None or (updated is not None and updated(r) >= since)]
    try:
        return query.apply(
            result,
            values,
            where=request.query_params.get("where") or None,
            order=request.query_params.get("order") or None,
            known=known,
        )
    except query.QueryError as error:
        raise bad_request(str(error), number=16, kind="QueryParseException") from None


def _paged(request: Request, records: list[T]) -> tuple[list[T], dict[str, int] | None]:
    page = _int(request, "page")
    page_size = _int(request, "pageSize")
    if page is None and page_size is None:
        return records, None
    try:
        return query.paginate(records, page or 1, page_size)
    except query.QueryError as error:
        raise bad_request(str(error)) from None


def _batch(
    request: Request,
    key: str,
    shape: str,
    outcomes: list[Outcome],
    render_one: Callable[[Any], dict[str, Any]],
    *,
    summarize: bool = True,
) -> Response:
    """Xero's answer to a batch: summarised (400 listing only the failures, the rest saved all the same) or,
    with ``summarizeErrors=false``, 200 with every element marked OK or ERROR."""
    failed = [o for o in outcomes if o.record is None]
    if failed and summarize:
        return XeroJSONResponse(validation_error(render.echo(shape, o.data, o.errors) for o in failed), status_code=400)
    org = _sandbox(request).org
    items = []
    with org.lock:
        for outcome in outcomes:
            if outcome.record is None:
                items.append(render.echo(shape, outcome.data, outcome.errors))
            else:
                body = render_one(outcome.record)
                body["StatusAttributeString"] = "OK"
                items.append(body)
    return _ok(request, key, items)


def _invalid(element: dict[str, Any], error: Invalid) -> ApiProblem:
    return ApiProblem(400, validation_error([{**element, "ValidationErrors": messages(error.messages)}]))


# -- organisation settings -------------------------------------------------------------------------------------


@router.get("/Organisation")
def get_organisation(request: Request) -> Response:
    org = _sandbox(request).org
    with org.lock:
        return _ok(request, "Organisations", [render.organisation(org)])


@router.get("/Currencies")
def get_currencies(request: Request) -> Response:
    org = _sandbox(request).org
    with org.lock:
        codes = _query(request, list(org.currencies), listing.currency_values, listing.CURRENCY_FIELDS)
        return _ok(request, "Currencies", [render.currency(code) for code in codes])


@router.get("/Accounts")
def get_accounts(request: Request) -> Response:
    org = _sandbox(request).org
    with org.lock:
        accounts = _query(
            request, org.accounts.values(), listing.account_values, listing.ACCOUNT_FIELDS, updated=lambda a: a.updated
        )
        return _ok(request, "Accounts", [render.account(a) for a in accounts])


@router.get("/Accounts/{account_id}")
def get_account(request: Request, account_id: str) -> Response:
    org = _sandbox(request).org
    with org.lock:
        account = org.account_by_id(account_id)
        if account is None:
            raise not_found()
        return _ok(request, "Accounts", [render.account(account)])


@router.get("/TaxRates")
def get_tax_rates(request: Request) -> Response:
    org = _sandbox(request).org
    wanted = request.query_params.get("TaxType")
    with org.lock:
        rates = [r for r in org.tax_rates.values() if not wanted or r.tax_type.upper() == wanted.upper()]
        rates = _query(request, rates, listing.tax_rate_values, listing.TAX_RATE_FIELDS)
        return _ok(request, "TaxRates", [render.tax_rate(r) for r in rates])


@router.get("/TaxRates/{tax_type}")
def get_tax_rate(request: Request, tax_type: str) -> Response:
    org = _sandbox(request).org
    with org.lock:
        rate = org.tax_rate(tax_type)
        if rate is None:
            raise not_found()
        return _ok(request, "TaxRates", [render.tax_rate(rate)])


@router.put("/TaxRates")
def put_tax_rates(request: Request, body: Body, summarize: Summarize) -> Response:
    outcomes = _sandbox(request).org.create_tax_rates(_items(body, "TaxRates"))
    return _batch(request, "TaxRates", "TaxRate", outcomes, render.tax_rate, summarize=summarize)


@router.get("/TrackingCategories")
def get_tracking_categories(request: Request) -> Response:
    org = _sandbox(request).org
    include_archived = _flag(request, "includeArchived")
    with org.lock:
        categories = [c for c in org.tracking.values() if include_archived or c.status == "ACTIVE"]
        categories = _query(request, categories, listing.tracking_values, listing.TRACKING_FIELDS)
        return _ok(request, "TrackingCategories", [render.tracking_category(c) for c in categories])


@router.get("/TrackingCategories/{category_id}")
def get_tracking_category(request: Request, category_id: str) -> Response:
    org = _sandbox(request).org
    with org.lock:
        category = org.tracking.get(normal_id(category_id)) if is_guid(category_id) else None
        if category is None:
            raise not_found()
        return _ok(request, "TrackingCategories", [render.tracking_category(category)])


# -- contacts --------------------------------------------------------------------------------------------------


@router.get("/Contacts")
def get_contacts(request: Request) -> Response:
    org = _sandbox(request).org
    ids = _guids(request, "IDs")
    include_archived = _flag(request, "includeArchived")
    search = (request.query_params.get("searchTerm") or "").casefold()
    with org.lock:
        contacts = [
            c
            for c in org.contacts.values()
            if (include_archived or c.status == "ACTIVE" or ids is not None)
            and (ids is None or c.contact_id in ids)
            and (not search or _contact_matches(c, search))
        ]
        contacts = _query(
            request, contacts, listing.contact_values, listing.CONTACT_FIELDS, updated=lambda c: c.updated
        )
        page, pagination = _paged(request, contacts)
        return _ok(request, "Contacts", [render.contact(c) for c in page], pagination)


def _contact_matches(contact: Any, search: str) -> bool:
    fields = (contact.name, contact.first_name, contact.last_name, contact.contact_number, contact.email)
    return any(search in (value or "").casefold() for value in fields)


@router.get("/Contacts/{identifier}")
def get_contact(request: Request, identifier: str) -> Response:
    org = _sandbox(request).org
    with org.lock:
        contact = org.contact(identifier)
        if contact is None:
            raise not_found()
        return _ok(request, "Contacts", [render.contact(contact)])


@router.put("/Contacts")
def put_contacts(request: Request, body: Body, summarize: Summarize) -> Response:
    outcomes = _sandbox(request).org.save_contacts(_items(body, "Contacts"), create_only=True)
    return _batch(request, "Contacts", "Contact", outcomes, render.contact, summarize=summarize)


@router.post("/Contacts")
def post_contacts(request: Request, body: Body, summarize: Summarize) -> Response:
    outcomes = _sandbox(request).org.save_contacts(_items(body, "Contacts"), create_only=False)
    return _batch(request, "Contacts", "Contact", outcomes, render.contact, summarize=summarize)


@router.post("/Contacts/{identifier}")
def post_contact(request: Request, identifier: str, body: Body, summarize: Summarize) -> Response:
    items = _items(body, "Contacts")
    try:
        outcome = _sandbox(request).org.update_contact(identifier, items[0] if items else {})
    except Missing:
        raise not_found() from None
    return _batch(request, "Contacts", "Contact", [outcome], render.contact, summarize=summarize)


# -- invoices and credit notes ---------------------------------------------------------------------------------


def _documents(request: Request, kind: DocumentKind) -> Response:
    org = _sandbox(request).org
    ids = _guids(request, "IDs")
    contact_ids = _guids(request, "ContactIDs")
    numbers = {n.casefold() for n in _csv(request, "InvoiceNumbers")} if kind == "invoice" else set()
    statuses = {s.upper() for s in _csv(request, "Statuses")}
    mine = _flag(request, "createdByMyApp")
    summary_only = _flag(request, "summaryOnly")
    search = (request.query_params.get("searchTerm") or "").casefold()
    unitdp = _unitdp(request)
    client_id = _client_id(request)
    key = "Invoices" if kind == "invoice" else "CreditNotes"
    known = listing.INVOICE_FIELDS if kind == "invoice" else listing.CREDIT_NOTE_FIELDS
    with org.lock:
        docs = [
            d
            for d in org.documents(kind).values()
            if (ids is None or d.doc_id in ids)
            and (contact_ids is None or d.contact_id in contact_ids)
            and (not numbers or d.number.casefold() in numbers)
            and (not statuses or d.status in statuses)
            and (not mine or d.created_by == client_id)
            and (not search or search in d.number.casefold() or search in (d.reference or "").casefold())
        ]
        docs = _query(request, docs, lambda d: listing.document_values(org, d), known, updated=lambda d: d.updated)
        page, pagination = _paged(request, docs)
        lines = pagination is not None and not summary_only  # as in Xero: line items come with paging only
        return _ok(request, key, [render.document(org, d, lines=lines, unitdp=unitdp) for d in page], pagination)


def _document(request: Request, kind: DocumentKind, identifier: str) -> Response:
    org = _sandbox(request).org
    unitdp = _unitdp(request)
    with org.lock:
        doc = org.document(kind, identifier)
        if doc is None:
            raise not_found()
        if "application/pdf" in request.headers.get("accept", "").lower():
            return _pdf(org, doc)
        return _ok(
            request, "Invoices" if kind == "invoice" else "CreditNotes", [render.document(org, doc, unitdp=unitdp)]
        )


def _document_pdf(request: Request, kind: DocumentKind, identifier: str) -> Response:
    org = _sandbox(request).org
    with org.lock:
        doc = org.document(kind, identifier)
        if doc is None:
            raise not_found()
        return _pdf(org, doc)


def _pdf(org: Any, doc: Document) -> Response:
    """Xero renders approved documents only; a draft (or a deleted one) has no PDF."""
    if doc.status in ("DRAFT", "DELETED"):
        id_field = "InvoiceID" if doc.kind == "invoice" else "CreditNoteID"
        label = "an invoice" if doc.kind == "invoice" else "a credit note"
        raise _invalid(
            {id_field: doc.doc_id},
            Invalid(
                [f"A PDF is only available for {label} that has been submitted or approved (this one is {doc.status})"]
            ),
        )
    title = "Invoice" if doc.kind == "invoice" else "Credit Note"
    return Response(
        content=pdf.render(org, doc),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{title} {doc.number}.pdf"'},
    )


def _save_documents(
    request: Request, kind: DocumentKind, body: bytes, *, create_only: bool, unitdp: int, summarize: bool
) -> Response:
    sandbox = _sandbox(request)
    key, shape = ("Invoices", "Invoice") if kind == "invoice" else ("CreditNotes", "CreditNote")
    outcomes = sandbox.org.save_documents(
        kind, _items(body, key), create_only=create_only, unitdp=unitdp, client_id=_client_id(request)
    )
    return _batch(
        request, key, shape, outcomes, lambda d: render.document(sandbox.org, d, unitdp=unitdp), summarize=summarize
    )


def _update_document(
    request: Request, kind: DocumentKind, identifier: str, body: bytes, *, unitdp: int, summarize: bool
) -> Response:
    sandbox = _sandbox(request)
    key, shape = ("Invoices", "Invoice") if kind == "invoice" else ("CreditNotes", "CreditNote")
    items = _items(body, key)
    try:
        outcome = sandbox.org.update_document(kind, identifier, items[0] if items else {}, unitdp=unitdp)
    except Missing:
        raise not_found() from None
    return _batch(
        request, key, shape, [outcome], lambda d: render.document(sandbox.org, d, unitdp=unitdp), summarize=summarize
    )


@router.get("/Invoices")
def get_invoices(request: Request) -> Response:
    return _documents(request, "invoice")


@router.put("/Invoices")
def put_invoices(request: Request, body: Body, unitdp: UnitDp, summarize: Summarize) -> Response:
    return _save_documents(request, "invoice", body, create_only=True, unitdp=unitdp, summarize=summarize)


@router.post("/Invoices")
def post_invoices(request: Request, body: Body, unitdp: UnitDp, summarize: Summarize) -> Response:
    return _save_documents(request, "invoice", body, create_only=False, unitdp=unitdp, summarize=summarize)


@router.get("/Invoices/{identifier}")
def get_invoice(request: Request, identifier: str) -> Response:
    return _document(request, "invoice", identifier)


@router.post("/Invoices/{identifier}")
def post_invoice(request: Request, identifier: str, body: Body, unitdp: UnitDp, summarize: Summarize) -> Response:
    return _update_document(request, "invoice", identifier, body, unitdp=unitdp, summarize=summarize)


@router.get("/Invoices/{identifier}/pdf")
def get_invoice_pdf(request: Request, identifier: str) -> Response:
    return _document_pdf(request, "invoice", identifier)


@router.post("/Invoices/{identifier}/Email")
def email_invoice(request: Request, identifier: str) -> Response:
    try:
        _sandbox(request).org.mark_sent(identifier)
    except Missing:
        raise not_found() from None
    except Invalid as error:
        raise _invalid({"InvoiceID": normal_id(identifier)} if is_guid(identifier) else {}, error) from None
    return Response(status_code=204)


@router.get("/CreditNotes")
def get_credit_notes(request: Request) -> Response:
    return _documents(request, "credit_note")


@router.put("/CreditNotes")
def put_credit_notes(request: Request, body: Body, unitdp: UnitDp, summarize: Summarize) -> Response:
    return _save_documents(request, "credit_note", body, create_only=True, unitdp=unitdp, summarize=summarize)


@router.post("/CreditNotes")
def post_credit_notes(request: Request, body: Body, unitdp: UnitDp, summarize: Summarize) -> Response:
    return _save_documents(request, "credit_note", body, create_only=False, unitdp=unitdp, summarize=summarize)


@router.get("/CreditNotes/{identifier}")
def get_credit_note(request: Request, identifier: str) -> Response:
    return _document(request, "credit_note", identifier)


@router.post("/CreditNotes/{identifier}")
def post_credit_note(request: Request, identifier: str, body: Body, unitdp: UnitDp, summarize: Summarize) -> Response:
    return _update_document(request, "credit_note", identifier, body, unitdp=unitdp, summarize=summarize)


@router.get("/CreditNotes/{identifier}/pdf")
def get_credit_note_pdf(request: Request, identifier: str) -> Response:
    return _document_pdf(request, "credit_note", identifier)


@router.put("/CreditNotes/{identifier}/Allocations")
def put_allocations(request: Request, identifier: str, body: Body, summarize: Summarize) -> Response:
    org = _sandbox(request).org
    try:
        outcomes = org.allocate(identifier, _items(body, "Allocations"))
    except Missing:
        raise not_found() from None
    return _batch(
        request, "Allocations", "Allocation", outcomes, lambda a: render.allocation(org, a), summarize=summarize
    )


@router.delete("/CreditNotes/{identifier}/Allocations/{allocation_id}")
def delete_allocation(request: Request, identifier: str, allocation_id: str) -> Response:
    org = _sandbox(request).org
    try:
        allocation = org.delete_allocation(identifier, allocation_id)
    except Missing:
        raise not_found() from None
    except Invalid as error:
        raise _invalid({"AllocationID": allocation_id}, error) from None
    with org.lock:
        return XeroJSONResponse(render.allocation(org, allocation))


# -- payments --------------------------------------------------------------------------------------------------


@router.get("/Payments")
def get_payments(request: Request) -> Response:
    org = _sandbox(request).org
    with org.lock:
        payments = _query(
            request,
            org.payments.values(),
            lambda p: listing.payment_values(org, p),
            listing.PAYMENT_FIELDS,
            updated=lambda p: p.updated,
        )
        page, pagination = _paged(request, payments)
        return _ok(request, "Payments", [render.payment(org, p) for p in page], pagination)


@router.get("/Payments/{payment_id}")
def get_payment(request: Request, payment_id: str) -> Response:
    org = _sandbox(request).org
    with org.lock:
        payment = org.payments.get(normal_id(payment_id)) if is_guid(payment_id) else None
        if payment is None:
            raise not_found()
        return _ok(request, "Payments", [render.payment(org, payment)])


@router.put("/Payments")
def put_payments(request: Request, body: Body, summarize: Summarize) -> Response:
    org = _sandbox(request).org
    outcomes = org.create_payments(_items(body, "Payments"), client_id=_client_id(request))
    return _batch(request, "Payments", "Payment", outcomes, lambda p: render.payment(org, p), summarize=summarize)


@router.post("/Payments")
def post_payment(request: Request, body: Body) -> Response:
    """A single payment (Xero's createPayment has no summarizeErrors: a failure is a 400)."""
    org = _sandbox(request).org
    outcomes = org.create_payments(_items(body, "Payments")[:1], client_id=_client_id(request))
    return _batch(request, "Payments", "Payment", outcomes, lambda p: render.payment(org, p))


@router.post("/Payments/{payment_id}")
def delete_payment(request: Request, payment_id: str, body: Body) -> Response:
    """Xero deletes a payment by POSTing ``{"Status": "DELETED"}`` to it (payments cannot be edited)."""
    org = _sandbox(request).org
    items = _items(body, "Payments")
    status = None
    if items and isinstance(items[0], dict):
        status = next((value for name, value in items[0].items() if name.lower() == "status"), None)
    element: dict[str, Any] = {"PaymentID": normal_id(payment_id)} if is_guid(payment_id) else {}
    if not isinstance(status, str) or status.upper() != "DELETED":
        raise _invalid(element, Invalid(["A payment can only be deleted: send Status DELETED"]))
    try:
        payment = org.delete_payment(payment_id)
    except Missing:
        raise not_found() from None
    except Invalid as error:
        raise _invalid(element, error) from None
    with org.lock:
        return _ok(request, "Payments", [render.payment(org, payment)])
