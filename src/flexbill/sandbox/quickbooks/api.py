"""The Accounting API's routes under ``/v3/company/{realmId}``: entities, query, batch, change data capture, PDFs.

The gateway has checked the token, the realm, ``minorversion`` (missing or below 75 is answered as 75, since
QuickBooks ignores older minor versions), the throttles and ``requestid`` before a route runs. Bodies are JSON
objects, the entity itself (``POST /invoice`` with ``{"CustomerRef": ..., "Line": [...]}``); answers wrap it
(``{"Invoice": {...}, "time": ...}``). A broken rule is a :class:`~flexbill.sandbox.quickbooks.wire.QboError`,
answered by the app as a Fault envelope.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from flexbill.sandbox.quickbooks import pdf, query
from flexbill.sandbox.quickbooks.company import ENTITY_PATHS, WRITABLE, Company, unsupported
from flexbill.sandbox.quickbooks.sandbox import QuickBooksSandbox
from flexbill.sandbox.quickbooks.wire import (
    QboError,
    QboJSONResponse,
    answer_time,
    error,
    fault_object,
    loads,
    parse_instant,
)

router = APIRouter(prefix="/v3/company/{realm_id}")
MAX_BATCH_ITEMS = 30
MAX_BATCH_ID_WITH_REQUESTID = 10
CDC_WINDOW = timedelta(days=30)
CDC_MAX_OBJECTS = 1000
CDC_ENTITIES = (
    "Customer",
    "Invoice",
    "CreditMemo",
    "Payment",
    "RefundReceipt",
    "Item",
    "Account",
    "Department",
    "Vendor",
    "Employee",
)
PDF_ENTITIES = ("invoice", "creditmemo")


def _sandbox(request: Request) -> QuickBooksSandbox:
    sandbox: QuickBooksSandbox = request.app.state.sandbox
    return sandbox


def _answer(request: Request, name: str, entity: Mapping[str, Any]) -> Response:
    now = _sandbox(request).clock.now()
    return QboJSONResponse({name: entity, "time": answer_time(now)})


def _entity_name(path_name: str) -> str:
    name = ENTITY_PATHS.get(path_name)
    if name is None:
        raise error("500", "Unsupported Operation", f"Operation on entity {path_name!r} is not supported.")
    return name


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return loads(raw)
    except ValueError as problem:
        raise error(
            "2010",
            "Request has invalid or unsupported property",
            f"The request body is not valid JSON: {problem}",
        ) from None


@router.get("/companyinfo/{company_id}")
def company_info(request: Request, company_id: str) -> Response:
    sandbox = _sandbox(request)
    if company_id != sandbox.realm_id:
        raise error("610", "Object Not Found", f"Object Not Found : CompanyInfo Id={company_id} does not exist")
    return _answer(request, "CompanyInfo", sandbox.company.info())


@router.get("/preferences")
def preferences(request: Request) -> Response:
    return _answer(request, "Preferences", _sandbox(request).company.preferences())


def run_query(company: Company, text: str) -> dict[str, Any]:
    parsed = query.parse(text)
    if parsed.entity == "CompanyInfo":
        return query.run(parsed, [company.info()])
    if parsed.entity == "Preferences":
        return query.run(parsed, [company.preferences()])
    entities = company.all(parsed.entity)
    return query.run(parsed, entities, known=company.field_names(parsed.entity, entities))


@router.get("/query")
def get_query(request: Request) -> Response:
    text = request.query_params.get("query")
    if text is None:
        raise error("4000", "Error parsing query", "QueryParserError: the query parameter is missing")
    return _query_answer(request, text)


@router.post("/query")
async def post_query(request: Request) -> Response:
    text = (await request.body()).decode("utf-8", "replace")
    return _query_answer(request, text)


def _query_answer(request: Request, text: str) -> Response:
    sandbox = _sandbox(request)
    result = run_query(sandbox.company, text)
    return QboJSONResponse({"QueryResponse": result, "time": answer_time(sandbox.clock.now())})


@router.get("/cdc")
def change_data_capture(request: Request) -> Response:
    """Everything of the named entities changed since ``changedSince`` (at most 30 days back), oldest first, at
    most 1,000 objects in all: the rest is cut, and a client asks again from the last ``LastUpdatedTime`` it got
    (or with a shorter window), as QuickBooks advises."""
    sandbox = _sandbox(request)
    params = request.query_params
    wanted = params.get("entities")
    since_text = params.get("changedSince")
    if not wanted:
        raise error(
            "2020",
            "Required param missing, need to supply the required value for the API",
            "Required parameter entities is missing in the request",
            "entities",
        )
    if not since_text:
        raise error(
            "2020",
            "Required param missing, need to supply the required value for the API",
            "Required parameter changedSince is missing in the request",
            "changedSince",
        )
    names: list[str] = []
    for raw in wanted.split(","):
        name = next((n for n in CDC_ENTITIES if n.lower() == raw.strip().lower()), None)
        if name is None:
            raise error(
                "2010",
                "Request has invalid or unsupported property",
                f"Change data capture does not support entity {raw.strip()!r}",
                "entities",
            )
        if name not in names:
            names.append(name)
    try:
        since = parse_instant(since_text)
    except ValueError as problem:
        raise error("2010", "Request has invalid or unsupported property", str(problem), "changedSince") from None
    now = sandbox.clock.now()
    if since < now - CDC_WINDOW:
        raise error(
            "6000",
            "A business validation error has occurred while processing your request",
            "Business Validation Error: changedSince must be within the last 30 days; use a query for older changes.",
            "changedSince",
        )
    changes = sandbox.company.changes(names, since)[:CDC_MAX_OBJECTS]
    responses: list[dict[str, Any]] = []
    for name in names:
        found = [change.entity for change in changes if change.name == name]
        if found:
            responses.append({name: found, "startPosition": 1, "maxResults": len(found), "totalCount": len(found)})
        else:
            responses.append({})
    return QboJSONResponse({"CDCResponse": [{"QueryResponse": responses}], "time": answer_time(now)})


@router.post("/batch")
async def batch(request: Request) -> Response:
    sandbox = _sandbox(request)
    body = await _json_body(request)
    items = body.get("BatchItemRequest") if isinstance(body, Mapping) else None
    if not isinstance(items, list) or not items:
        raise error(
            "2020",
            "Required param missing, need to supply the required value for the API",
            "Required parameter BatchItemRequest is missing in the request",
            "BatchItemRequest",
        )
    if len(items) > MAX_BATCH_ITEMS:
        raise error(
            "1040",
            "Batch size exceeds allowed limit",
            f"Batch size {len(items)} exceeds the maximum of {MAX_BATCH_ITEMS} items per batch request",
        )
    with_request_id = request.query_params.get("requestid") is not None
    answers: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in items:
        bid = str(item.get("bId", "")) if isinstance(item, Mapping) else ""
        try:
            if not bid:
                raise error(
                    "2020",
                    "Required param missing, need to supply the required value for the API",
                    "Required parameter bId is missing in the batch item",
                    "bId",
                )
            if with_request_id and len(bid) > MAX_BATCH_ID_WITH_REQUESTID:
                raise error(
                    "2010",
                    "Request has invalid or unsupported property",
                    f"bId {bid!r} is longer than {MAX_BATCH_ID_WITH_REQUESTID} characters (requestid is used)",
                    "bId",
                )
            if bid in seen:
                raise error("2010", "Request has invalid or unsupported property", f"bId {bid!r} is used twice", "bId")
            seen.add(bid)
            answers.append({"bId": bid, **_batch_item(sandbox, request, item)})
        except QboError as failure:
            sandbox.stats.fault(failure.errors[0].code)
            answers.append({"bId": bid, "Fault": fault_object(failure)})
    return QboJSONResponse({"BatchItemResponse": answers, "time": answer_time(sandbox.clock.now())})


def _batch_item(sandbox: QuickBooksSandbox, request: Request, item: Mapping[str, Any]) -> dict[str, Any]:
    company = sandbox.company
    if "Query" in item:
        return {"QueryResponse": run_query(company, str(item["Query"]))}
    names = [key for key in item if key in ENTITY_PATHS.values()]
    if len(names) != 1:
        raise error(
            "2020",
            "Required param missing, need to supply the required value for the API",
            'A batch item needs exactly one entity (e.g. "Invoice") or a "Query"',
        )
    name = names[0]
    operation = str(item.get("operation", "")).lower()
    entity = item[name]
    if not isinstance(entity, Mapping):
        raise error("2010", "Request has invalid or unsupported property", f"{name} must be an object")
    allow_duplicate = "allowduplicatedocnum" in request.query_params.get("include", "").lower()
    if operation == "create":
        if entity.get("Id"):
            raise error("2010", "Request has invalid or unsupported property", "a create must not carry an Id", "Id")
        return {name: company.save(name, entity, allow_duplicate_docnum=allow_duplicate)}
    if operation == "update":
        if item.get("optionsData") == "void":
            return {name: company.void(name, entity)}
        if not entity.get("Id"):
            raise error(
                "2020",
                "Required param missing, need to supply the required value for the API",
                "Required parameter Id is missing in the request",
                "Id",
            )
        return {name: company.save(name, entity, allow_duplicate_docnum=allow_duplicate)}
    if operation == "delete":
        return {name: company.delete(name, entity)}
    raise error("2170", "Invalid Enumeration", f"operation {operation!r} must be create, update or delete", "operation")


@router.get("/{entity}/{entity_id}/pdf", response_model=None)
async def document_pdf(request: Request, entity: str, entity_id: str) -> Response:
    if entity not in PDF_ENTITIES:
        raise unsupported(f"PDF of {entity}")
    sandbox = _sandbox(request)
    name = _entity_name(entity)
    content = await run_in_threadpool(_render_pdf, sandbox.company, name, entity_id)
    return Response(content, media_type="application/pdf")


def _render_pdf(company: Company, name: str, entity_id: str) -> bytes:
    with company.lock:
        document = company.read(name, entity_id)
        customer = company.read("Customer", document["CustomerRef"]["value"])
        tax_rates = {stored.id: stored.data for stored in company.records["TaxRate"].values()}
        printed_fields = company.print_custom_field
    return pdf.render(name, document, customer, tax_rates, printed_fields=printed_fields)


@router.post("/{entity}/{entity_id}/send")
def send(request: Request, entity: str, entity_id: str) -> Response:
    if entity not in PDF_ENTITIES:
        raise unsupported(f"Send of {entity}")
    name = _entity_name(entity)
    sent = _sandbox(request).company.send(name, entity_id, request.query_params.get("sendTo"))
    return _answer(request, name, sent)


@router.get("/{entity}/{entity_id}")
def read(request: Request, entity: str, entity_id: str) -> Response:
    name = _entity_name(entity)
    return _answer(request, name, _sandbox(request).company.read(name, entity_id))


@router.post("/{entity}")
async def write(request: Request, entity: str) -> Response:
    """Create, update (``Id`` in the body), ``operation=delete``, ``operation=void`` (invoices), and
    ``operation=update&include=void`` (payments)."""
    name = _entity_name(entity)
    body = await _json_body(request)
    if not isinstance(body, Mapping):
        raise error("2010", "Request has invalid or unsupported property", f"the body must be a {name} object")
    company = _sandbox(request).company
    params = request.query_params
    operation = params.get("operation", "").lower()
    include = {part.strip().lower() for part in params.get("include", "").split(",") if part.strip()}
    if name not in WRITABLE:
        raise unsupported(f"Create/Update of {name}")
    if operation == "delete":
        return _answer(request, name, company.delete(name, body))
    if operation == "void" or (operation == "update" and "void" in include):
        if name == "Invoice" and operation != "void":
            raise unsupported("update&include=void of Invoice (use operation=void)")
        if name == "Payment" and operation == "void":
            raise unsupported("void of Payment (use operation=update&include=void)")
        return _answer(request, name, company.void(name, body))
    if operation not in ("", "create", "update"):
        raise error("2170", "Invalid Enumeration", f"operation {operation!r} is not supported", "operation")
    saved = company.save(name, body, allow_duplicate_docnum="allowduplicatedocnum" in include)
    return _answer(request, name, saved)
