"""The Xero client over httpx.MockTransport: what it sends (every body checked against the spec), how it pages,
chunks and keys its requests, and how each answer Xero may give becomes a value or one error of the port."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from flexbill.accounting.connectors.xero import mapping
from flexbill.accounting.connectors.xero.client import XeroConnector, XeroSession
from flexbill.accounting.model import (
    AllocationData,
    ContactData,
    DocumentData,
    DocumentLookup,
    LineData,
    PaymentData,
    Pushed,
    Refused,
    Tenant,
    Tokens,
)
from flexbill.accounting.ports import (
    AuthExpired,
    Conflict,
    Connector,
    ConnectorError,
    OAuthClient,
    RateLimited,
    Rejected,
    RemoteNotFound,
    SessionTarget,
    Transient,
)
from flexbill.accounting.ratelimit import XERO_LIMITS, RateLimiter
from flexbill.clock import FixedClock

from .conftest import RequestCheck, golden

D = Decimal
TENANT = "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.access"
CONTACT_ID = "430fa14a-f945-44d3-9f97-5df5e28441b8"
INVOICE_ID = "ed255415-e141-4150-aab7-89c3bbbb851c"
KEY = "flexbill:invoices:4f1c2a9e0b7d4c559d431f2e3a4b5c6d"
NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
API = "https://api.xero.com/api.xro/2.0"

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


def reply(body: object = None, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    """An answer as Xero gives it: JSON, with the rate-limit headers."""
    content = b"" if body is None else mapping.dumps(body)
    sent = {"content-type": "application/json; charset=utf-8", "X-MinLimit-Remaining": "42",
            "X-DayLimit-Remaining": "4321", "X-AppMinLimit-Remaining": "9999", **(headers or {})}  # fmt: skip
    return httpx.Response(status, content=content, headers=sent)


@dataclass
class Xero:
    """A stand-in for Xero: answers with ``handler`` and keeps every request."""

    handler: Handler
    requests: list[httpx.Request] = field(default_factory=list)
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(XERO_LIMITS, Clock()))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def session(self, *, page_size: int = 100, base_url: str | None = None) -> XeroSession:
        connector = XeroConnector(limiter=self.limiter, page_size=page_size)
        http = httpx.Client(transport=httpx.MockTransport(self))
        return connector.open_session(SessionTarget(TENANT, TOKEN, base_url=base_url), http)


def query(request: httpx.Request) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(str(request.url)).query).items()}


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content, parse_float=Decimal)


def invoice(our_id: uuid.UUID, *, external_id: str | None = None, unit_price: str = "100.00") -> DocumentData:
    return DocumentData(
        our_id=our_id,
        number=None,
        contact_external_id=CONTACT_ID,
        date=dt.date(2026, 11, 1),
        due_date=dt.date(2026, 11, 15),
        currency="GBP",
        prices_include_tax=False,
        lines=(LineData("Hot desk", D(1), D(unit_price), D(0), D("100.00"), D("20.00"), "200", "OUTPUT2"),),
        subtotal=D("100.00"),
        tax_total=D("20.00"),
        total=D("120.00"),
        external_id=external_id,
    )


def echo_invoices(request: httpx.Request) -> httpx.Response:
    """Xero taking every invoice sent: each comes back with an id, a number and its total."""
    sent = body_of(request)["Invoices"]
    answered = []
    for element in sent:
        our_id = mapping.our_id_in(element["Reference"])
        answered.append(
            {**element, "InvoiceID": element.get("InvoiceID") or str(uuid.uuid5(uuid.NAMESPACE_URL, str(our_id))),
             "InvoiceNumber": f"INV-{str(our_id)[:4]}", "Total": D("120.00"), "AmountDue": D("120.00"),
             "AmountPaid": D(0), "StatusAttributeString": "OK"}
        )  # fmt: skip
    return reply(
        {"Id": str(uuid.uuid4()), "Status": "OK", "DateTimeUTC": "/Date(1795694400000)/", "Invoices": answered}
    )


# --- what is sent ------------------------------------------------------------------------------------------------


def test_every_call_names_the_token_the_organisation_and_json() -> None:
    xero = Xero(lambda r: reply(golden("accounts_response.json")))
    xero.session().list_accounts()
    [request] = xero.requests
    assert (request.method, str(request.url)) == ("GET", f"{API}/Accounts")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["xero-tenant-id"] == TENANT
    assert request.headers["accept"] == "application/json"
    assert "idempotency-key" not in request.headers


def test_new_invoices_are_put_with_the_key_and_per_item_errors(check_request: RequestCheck) -> None:
    ours = uuid.UUID("6f1c2a9e-0b7d-4c55-9d43-1f2e3a4b5c6d")
    other = uuid.UUID("2e4c6a8b-1d3f-4a5b-9c7d-8e0f1a2b3c4d")
    xero = Xero(lambda r: reply(golden("invoices_put_response.json")))
    documents = [invoice(ours), invoice(other)]
    results = xero.session().push_invoices(documents, KEY)
    [request] = xero.requests
    assert (request.method, request.url.path) == ("PUT", "/api.xro/2.0/Invoices")
    assert query(request) == {"summarizeErrors": "false", "unitdp": "4"}
    assert request.headers["idempotency-key"] == KEY
    assert request.headers["content-type"] == "application/json"
    check_request("put", "/Invoices", request.content)
    assert [mapping.our_id_in(e["Reference"]) for e in body_of(request)["Invoices"]] == [ours, other]
    assert results[0] == Pushed(ours, INVOICE_ID, number="BER-0042", total=D("306.48"))
    assert isinstance(results[1], Refused)
    assert results[1].conflict


def test_120_invoices_go_in_requests_of_50_50_and_20_each_with_its_own_key(check_request: RequestCheck) -> None:
    xero = Xero(echo_invoices)
    documents = [invoice(uuid.UUID(int=n + 1)) for n in range(120)]
    results = xero.session().push_invoices(documents, KEY)
    assert [len(body_of(r)["Invoices"]) for r in xero.requests] == [50, 50, 20]
    keys = [r.headers["idempotency-key"] for r in xero.requests]
    assert len(set(keys)) == 3
    assert all(0 < len(k) <= 128 for k in keys)
    assert [r.our_id for r in results] == [d.our_id for d in documents]
    assert all(isinstance(r, Pushed) for r in results)
    for request in xero.requests:
        check_request("put", "/Invoices", request.content)
    again = Xero(echo_invoices)
    again.session().push_invoices(documents, KEY)
    assert [r.headers["idempotency-key"] for r in again.requests] == keys  # the same batch sent again: same keys


def test_updates_are_posted_and_creates_put(check_request: RequestCheck) -> None:
    xero = Xero(echo_invoices)
    new, known = invoice(uuid.UUID(int=1)), invoice(uuid.UUID(int=2), external_id=INVOICE_ID)
    results = xero.session().push_invoices([known, new], KEY)
    assert [(r.method, len(body_of(r)["Invoices"])) for r in xero.requests] == [("PUT", 1), ("POST", 1)]
    assert body_of(xero.requests[1])["Invoices"][0]["InvoiceID"] == INVOICE_ID
    assert all(query(r) == {"summarizeErrors": "false", "unitdp": "4"} for r in xero.requests)
    assert len({r.headers["idempotency-key"] for r in xero.requests}) == 2
    check_request("post", "/Invoices", xero.requests[1].content)
    assert {r.our_id for r in results} == {new.our_id, known.our_id}


def test_an_invoice_that_cannot_be_written_is_refused_without_being_sent() -> None:
    xero = Xero(echo_invoices)
    good, bad = invoice(uuid.UUID(int=1)), invoice(uuid.UUID(int=2), unit_price="0.12345")
    results = xero.session().push_invoices([good, bad], KEY)
    assert len(body_of(xero.requests[0])["Invoices"]) == 1
    assert results[0] == Refused(bad.our_id, ("unit price 0.12345 has more than 4 decimal places",))
    assert isinstance(results[1], Pushed)


def test_contacts(check_request: RequestCheck) -> None:
    new = ContactData(uuid.UUID(int=7), "Kiezwerk GmbH", "buchhaltung@kiezwerk.example")
    known = ContactData(uuid.UUID(int=8), "Globex", "ap@globex.example", external_id=CONTACT_ID)

    def handler(request: httpx.Request) -> httpx.Response:
        sent = body_of(request)["Contacts"]
        return reply({"Contacts": [{**c, "ContactID": c.get("ContactID", str(uuid.uuid4()))} for c in sent]})

    xero = Xero(handler)
    results = xero.session().push_contacts([new, known], "flexbill:contacts:1")
    assert [r.method for r in xero.requests] == ["PUT", "POST"]
    assert all(query(r) == {"summarizeErrors": "false"} for r in xero.requests)
    check_request("put", "/Contacts", xero.requests[0].content)
    check_request("post", "/Contacts", xero.requests[1].content)
    assert results[1] == Pushed(known.our_id, CONTACT_ID)


def test_payments(check_request: RequestCheck) -> None:
    payment = PaymentData(uuid.UUID(int=9), INVOICE_ID, dt.date(2026, 11, 20), D("120.00"), "090", "pi_1")

    def handler(request: httpx.Request) -> httpx.Response:
        [sent] = body_of(request)["Payments"]
        return reply({"Payments": [{**sent, "PaymentID": "61ed71fc-01bf-4eb8-8419-8a18789ff45f"}]})

    xero = Xero(handler)
    results = xero.session().push_payments([payment], "flexbill:payments:1")
    [request] = xero.requests
    assert (request.method, request.url.path, query(request)) == ("PUT", "/api.xro/2.0/Payments",
                                                                  {"summarizeErrors": "false"})  # fmt: skip
    check_request("put", "/Payments", request.content)
    assert results == [Pushed(payment.our_id, "61ed71fc-01bf-4eb8-8419-8a18789ff45f", total=D("120.00"))]


def test_credit_notes_and_their_allocation(check_request: RequestCheck) -> None:
    note = DocumentData(
        uuid.UUID(int=10), "CN-1", CONTACT_ID, dt.date(2026, 11, 21), None, "GBP", False,
        (LineData("Refund", D(1), D("10.00"), D(0), D("10.00"), D("2.00"), "200", "OUTPUT2"),),
        D("10.00"), D("2.00"), D("12.00"), reference="Overcharged",
    )  # fmt: skip

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/Allocations"):
            [sent] = body_of(request)["Allocations"]
            return reply({"Allocations": [{**sent, "ValidationErrors": []}]})
        [sent] = body_of(request)["CreditNotes"]
        return reply({"CreditNotes": [{**sent, "CreditNoteID": "249f15fa-f2a7-4acc-8769-0984103f2225",
                                        "Total": D("12.00"), "StatusAttributeString": "OK"}]})  # fmt: skip

    xero = Xero(handler)
    session = xero.session()
    [pushed] = session.push_credit_notes([note], "flexbill:credit-note:1")
    assert pushed == Pushed(note.our_id, "249f15fa-f2a7-4acc-8769-0984103f2225", number="CN-1", total=D("12.00"))
    allocation = AllocationData(pushed.external_id, INVOICE_ID, D("12.00"), dt.date(2026, 11, 21))
    session.allocate_credit_note(allocation, "flexbill:allocate:1")
    put_note, put_allocation = xero.requests
    check_request("put", "/CreditNotes", put_note.content)
    assert query(put_note) == {"summarizeErrors": "false", "unitdp": "4"}
    assert put_allocation.url.path == f"/api.xro/2.0/CreditNotes/{pushed.external_id}/Allocations"
    assert put_allocation.headers["idempotency-key"] == "flexbill:allocate:1"
    check_request("put", "/CreditNotes/{CreditNoteID}/Allocations", put_allocation.content)


def test_an_allocation_xero_refuses() -> None:
    refused = {"Allocations": [{"Amount": D(500), "StatusAttributeString": "ERROR",
                                "ValidationErrors": [{"Message": "Amount exceeds the remaining credit"}]}]}  # fmt: skip
    xero = Xero(lambda r: reply(refused))
    allocation = AllocationData("249f15fa-f2a7-4acc-8769-0984103f2225", INVOICE_ID, D(500), dt.date(2026, 11, 21))
    with pytest.raises(Rejected) as error:
        xero.session().allocate_credit_note(allocation, "k")
    assert error.value.errors == ("Amount exceeds the remaining credit",)


def test_idempotency_keys_are_never_empty_nor_long() -> None:
    xero = Xero(echo_invoices)
    with pytest.raises(ValueError, match="idempotency key is required"):
        xero.session().push_invoices([invoice(uuid.UUID(int=1))], "")
    long_key = "k" * 200
    xero.session().push_invoices([invoice(uuid.UUID(int=1))], long_key)
    xero.session().push_invoices([invoice(uuid.UUID(int=1))], long_key)
    first, second = (r.headers["idempotency-key"] for r in xero.requests)
    assert first == second
    assert len(first) <= 128


# --- look-ups and paging -----------------------------------------------------------------------------------------


def test_contacts_are_found_by_their_number_in_where_clauses_short_enough_for_a_url() -> None:
    ours = [uuid.UUID(int=n + 1) for n in range(60)]

    def handler(request: httpx.Request) -> httpx.Response:
        numbers = [clause.split('"')[1] for clause in query(request)["where"].split(" OR ")]
        contacts = [{"ContactID": str(uuid.uuid5(uuid.NAMESPACE_URL, n)), "ContactNumber": n,
                     "ContactStatus": "ACTIVE"} for n in numbers]  # fmt: skip
        contacts.append({"ContactID": str(uuid.uuid4()), "ContactNumber": "somebody else's"})
        return reply({"Contacts": contacts})

    xero = Xero(handler)
    found = xero.session().find_contacts([ContactData(o, f"Member {o.int}", "m@example.com") for o in ours])
    assert len(xero.requests) > 1
    assert all(len(str(r.url)) < 2000 for r in xero.requests)
    assert query(xero.requests[0])["where"].startswith(f'ContactNumber=="{ours[0]}" OR ContactNumber==')
    assert found == {o: str(uuid.uuid5(uuid.NAMESPACE_URL, str(o))) for o in ours}
    assert Xero(handler).session().find_contacts([]) == {}


def test_invoices_are_found_by_our_id_in_their_reference() -> None:
    ours = uuid.UUID("6f1c2a9e-0b7d-4c55-9d43-1f2e3a4b5c6d")

    def handler(request: httpx.Request) -> httpx.Response:
        voided = {
            "InvoiceID": str(uuid.uuid4()),
            "Type": "ACCREC",
            "Reference": f"BER-0042 · {ours}",
            "Status": "VOIDED",
            "Total": D(1),
            "AmountPaid": D(0),
            "AmountDue": D(0),
        }
        bill = {**voided, "InvoiceID": str(uuid.uuid4()), "Type": "ACCPAY", "Status": "AUTHORISED"}
        live = {**voided, "InvoiceID": INVOICE_ID, "Status": "AUTHORISED"}
        return reply({"Invoices": [voided, bill, live]})  # fmt: skip

    xero = Xero(handler)
    found = xero.session().find_invoices([lookup(ours)])
    assert query(xero.requests[0])["where"] == f'Reference.Contains("{ours}")'
    assert found[ours].external_id == INVOICE_ID  # the one still in the books


def test_credit_notes_are_found_likewise() -> None:
    ours = uuid.UUID("7a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d")
    xero = Xero(lambda r: reply(golden("credit_notes_response.json")))
    found = xero.session().find_credit_notes([lookup(ours)])
    assert xero.requests[0].url.path == "/api.xro/2.0/CreditNotes"
    assert found[ours].number == "BER-CN-0007"


def lookup(our_id: uuid.UUID) -> DocumentLookup:
    """Xero finds documents by our id in their Reference: the hints are not used."""
    return DocumentLookup(our_id, contact_external_id=None, date=dt.date(2026, 11, 1))


def make_invoices(count: int) -> list[dict[str, Any]]:
    return [
        {"InvoiceID": str(uuid.UUID(int=n + 1)), "Type": "ACCREC", "Status": "AUTHORISED", "Total": D(10),
         "AmountPaid": D(0), "AmountDue": D(10), "Reference": ""}
        for n in range(count)
    ]  # fmt: skip


def paged(items: list[dict[str, Any]], *, with_pagination: bool, extra: dict[str, Any] | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        page, size = int(query(request)["page"]), int(query(request)["pageSize"])
        chunk = items[(page - 1) * size : page * size]
        envelope: dict[str, Any] = {"Invoices": chunk, **(extra or {})}
        if with_pagination:
            envelope["pagination"] = {"page": page, "pageSize": size, "pageCount": -(-len(items) // size),
                                      "itemCount": len(items)}  # fmt: skip
        return reply(envelope)

    return handler


@pytest.mark.parametrize("with_pagination", [True, False])
def test_pages_are_read_until_the_last(with_pagination: bool) -> None:
    items = make_invoices(5)
    xero = Xero(paged(items, with_pagination=with_pagination))
    documents = xero.session(page_size=2).get_invoices([i["InvoiceID"] for i in items])
    assert [d.external_id for d in documents] == [i["InvoiceID"] for i in items]
    assert [(query(r)["page"], query(r)["pageSize"]) for r in xero.requests] == [("1", "2"), ("2", "2"), ("3", "2")]
    assert query(xero.requests[0])["IDs"] == ",".join(i["InvoiceID"] for i in items)


def test_paging_stops_at_the_page_count_even_on_a_full_page() -> None:
    items = make_invoices(4)
    xero = Xero(paged(items, with_pagination=True))
    xero.session(page_size=2).get_invoices([i["InvoiceID"] for i in items])
    assert len(xero.requests) == 2


def test_many_ids_are_asked_for_in_several_urls() -> None:
    items = make_invoices(100)
    xero = Xero(lambda r: reply({"Invoices": [i for i in items if i["InvoiceID"] in query(r)["IDs"].split(",")]}))
    documents = xero.session().get_invoices([i["InvoiceID"] for i in items])
    assert len(documents) == 100
    assert len(xero.requests) > 1
    assert all(len(str(r.url)) < 2000 for r in xero.requests)


def test_changes_since_a_moment_by_xeros_clock() -> None:
    items = make_invoices(3)
    items[1]["Type"] = "ACCPAY"
    first_page_time = {"DateTimeUTC": "/Date(1795694400000)/"}
    xero = Xero(paged(items, with_pagination=False, extra=first_page_time))
    since = dt.datetime(2026, 11, 24, 9, 0, 0, 250000, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    changes = xero.session(page_size=2).invoices_changed_since(since)
    assert [d.external_id for d in changes.documents] == [items[0]["InvoiceID"], items[2]["InvoiceID"]]
    assert changes.as_of == dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
    request = xero.requests[0]
    assert request.headers["if-modified-since"] == "2026-11-24T08:00:00.250+00:00"
    assert query(request) == {"where": 'Type=="ACCREC"', "order": "UpdatedDateUTC ASC", "unitdp": "4", "page": "1",
                              "pageSize": "2"}  # fmt: skip


def test_changes_from_the_beginning_take_the_time_from_the_date_header() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return reply({"Invoices": make_invoices(1)}, headers={"Date": "Thu, 26 Nov 2026 12:00:00 GMT"})

    xero = Xero(handler)
    changes = xero.session().invoices_changed_since(None)
    assert "if-modified-since" not in xero.requests[0].headers
    assert changes.as_of == NOW


def test_changes_without_any_clock_of_xeros() -> None:
    xero = Xero(lambda r: reply({"Invoices": []}))
    with pytest.raises(Transient, match="neither DateTimeUTC nor a Date header"):
        xero.session().invoices_changed_since(None)


def test_the_payments_on_an_invoice() -> None:
    xero = Xero(lambda r: reply(golden("invoice_paid_response.json")))
    payments = xero.session().find_payments(INVOICE_ID)
    assert xero.requests[0].url.path == f"/api.xro/2.0/Invoices/{INVOICE_ID}"
    assert payments == [
        (uuid.UUID("8b3c4d5e-6f7a-4b2c-9d3e-4f5a6b7c8d9e"), "38928000-e9a0-420c-8884-f624bab2a351"),
        (None, "6b037c9b-2e5d-4905-84d3-eabfb3438242"),
    ]


# --- the PDF and voiding -----------------------------------------------------------------------------------------

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


def test_the_pdf() -> None:
    xero = Xero(lambda r: httpx.Response(200, content=PDF, headers={"content-type": "application/pdf"}))
    assert xero.session().invoice_pdf(INVOICE_ID) == PDF
    [request] = xero.requests
    assert (request.method, request.url.path) == ("GET", f"/api.xro/2.0/Invoices/{INVOICE_ID}")
    assert request.headers["accept"] == "application/pdf"


def test_a_pdf_that_is_not_one() -> None:
    xero = Xero(lambda r: reply(golden("invoice_paid_response.json")))
    with pytest.raises(Transient, match="not a PDF"):
        xero.session().invoice_pdf(INVOICE_ID)


def test_the_pdf_of_an_invoice_xero_does_not_have() -> None:
    xero = Xero(lambda r: httpx.Response(404, text="The resource you're looking for cannot be found"))
    with pytest.raises(RemoteNotFound):
        xero.session().invoice_pdf(INVOICE_ID)


def held(status: str) -> dict[str, Any]:
    answer = golden("invoice_paid_response.json")
    answer["Invoices"][0]["Status"] = status
    return answer


def test_voiding(check_request: RequestCheck) -> None:
    xero = Xero(lambda r: reply(held("VOIDED")))
    document = xero.session().void_invoice(INVOICE_ID, "flexbill:void:1")
    [request] = xero.requests
    assert (request.method, request.url.path) == ("POST", f"/api.xro/2.0/Invoices/{INVOICE_ID}")
    assert body_of(request) == {"Invoices": [{"InvoiceID": INVOICE_ID, "Status": "VOIDED"}]}
    assert request.headers["idempotency-key"] == "flexbill:void:1"
    check_request("post", "/Invoices/{InvoiceID}", request.content)
    assert document.voided


def status_refused(request: httpx.Request) -> httpx.Response:
    message = "This document cannot be edited as it has a payment or credit note allocated to it."
    return reply({"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
                  "Elements": [{"ValidationErrors": [{"Message": message}]}]}, status=400)  # fmt: skip


@pytest.mark.parametrize(("status", "calls"), [("DRAFT", 3), ("SUBMITTED", 3), ("VOIDED", 2), ("DELETED", 2)])
def test_voiding_what_cannot_be_voided(status: str, calls: int) -> None:
    """A draft is deleted instead; one already voided or deleted is taken as it is."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return reply(held(status))
        if body_of(request)["Invoices"][0]["Status"] == "VOIDED":
            return status_refused(request)
        return reply(held("DELETED"))

    xero = Xero(handler)
    document = xero.session().void_invoice(INVOICE_ID, "flexbill:void:1")
    assert document.voided
    assert len(xero.requests) == calls
    if calls == 3:
        assert body_of(xero.requests[2])["Invoices"][0]["Status"] == "DELETED"
        assert xero.requests[2].headers["idempotency-key"] not in ("", "flexbill:void:1")


def test_voiding_a_paid_invoice_is_refused() -> None:
    xero = Xero(lambda r: reply(held("PAID")) if r.method == "GET" else status_refused(r))
    with pytest.raises(Rejected, match="has a payment or credit note allocated"):
        xero.session().void_invoice(INVOICE_ID, "flexbill:void:1")


# --- errors ------------------------------------------------------------------------------------------------------

PROBLEM_403 = {"Type": None, "Title": "Forbidden", "Status": 403, "Detail": "AuthenticationUnsuccessful",
               "Instance": "a1b2c3d4-0000-4000-8000-000000000000", "Extensions": {}}  # fmt: skip
PROBLEM_401 = {**PROBLEM_403, "Title": "Unauthorized", "Status": 401, "Detail": "TokenExpired: token expired"}


@pytest.mark.parametrize(
    ("answer", "error", "words"),
    [
        (reply(None, 429, {"Retry-After": "17", "X-Rate-Limit-Problem": "minute"}), RateLimited, "minute limit"),
        (reply(None, 429, {"Retry-After": "3600", "X-Rate-Limit-Problem": "day"}), RateLimited, "day limit"),
        (reply(None, 429, {"X-Rate-Limit-Problem": "concurrent"}), RateLimited, "concurrent limit"),
        (reply(PROBLEM_401, 401, {"WWW-Authenticate": "Bearer error=invalid_token"}), AuthExpired, "TokenExpired"),
        (reply(PROBLEM_403, 403), AuthExpired, "AuthenticationUnsuccessful"),
        (reply({**PROBLEM_403, "Detail": "AuthorizationUnsuccessful"}, 403), AuthExpired, "connect it again"),
        (reply(golden("validation_error.json"), 400), Conflict, "Invoice # must be unique."),
        (reply({"Type": "QueryParseException", "Message": "Operator '==' incompatible"}, 400), Rejected, "Operator"),
        (httpx.Response(400, text="Your request is not filtering Invoices efficiently"), Rejected, "efficiently"),
        (httpx.Response(404, text="The resource you're looking for cannot be found"), RemoteNotFound, "HTTP 404"),
        (httpx.Response(409, text="conflict"), Conflict, "HTTP 409"),
        (httpx.Response(413, text="Request Entity Too Large"), Rejected, "HTTP 413"),
        (httpx.Response(500, text="An error occurred in Xero."), Transient, "HTTP 500"),
        (httpx.Response(503, text="Service Unavailable"), Transient, "HTTP 503"),
        (httpx.Response(504, text=""), Transient, "HTTP 504"),
        (httpx.Response(302, headers={"location": "https://login.xero.com"}), Transient, "HTTP 302"),
    ],
)
def test_answers_become_the_ports_errors(answer: httpx.Response, error: type[ConnectorError], words: str) -> None:
    xero = Xero(lambda r: answer)
    with pytest.raises(error) as raised:
        xero.session().push_invoices([invoice(uuid.UUID(int=1))], KEY)
    assert type(raised.value) is error
    assert words in raised.value.message


def test_a_429_says_how_long_to_wait() -> None:
    xero = Xero(lambda r: reply(None, 429, {"Retry-After": "17", "X-Rate-Limit-Problem": "minute"}))
    with pytest.raises(RateLimited) as raised:
        xero.session().list_tax_rates()
    assert raised.value.retry_after == 17
    assert "X-Rate-Limit-Problem" in raised.value.message
    xero = Xero(lambda r: reply(None, 429))
    with pytest.raises(RateLimited) as raised:
        xero.session().list_tax_rates()
    assert raised.value.retry_after == 60


def test_after_a_429_nothing_is_sent_until_the_window_ends() -> None:
    clock = Clock()
    xero = Xero(lambda r: reply(None, 429, {"Retry-After": "20", "X-Rate-Limit-Problem": "minute"}),
                limiter=RateLimiter(XERO_LIMITS, clock))  # fmt: skip
    session = xero.session()
    with pytest.raises(RateLimited):
        session.list_accounts()
    with pytest.raises(RateLimited) as raised:
        session.list_accounts()
    assert len(xero.requests) == 1
    assert raised.value.retry_after == pytest.approx(20)
    clock.now += 20
    xero.handler = lambda r: reply(golden("accounts_response.json"), headers={"X-MinLimit-Remaining": "59"})
    assert len(session.list_accounts()) == 3


def test_the_limiter_hears_the_remaining_calls() -> None:
    clock = Clock()
    limiter = RateLimiter(XERO_LIMITS, clock)
    xero = Xero(lambda r: reply(golden("accounts_response.json"), headers={"X-MinLimit-Remaining": "0"}),
                limiter=limiter)  # fmt: skip
    session = xero.session()
    session.list_accounts()
    xero.handler = lambda r: reply(None, 429, {"Retry-After": "9", "X-Rate-Limit-Problem": "minute"})
    with pytest.raises(RateLimited):
        session.list_accounts()  # the one call that learns when the window ends
    with pytest.raises(RateLimited):
        session.list_accounts()
    assert len(xero.requests) == 2


NO_ANSWER = [
    httpx.ReadTimeout("timed out"),
    httpx.ConnectTimeout("timed out"),
    httpx.ConnectError("refused"),
    httpx.RemoteProtocolError("peer closed connection"),
    httpx.ReadError("reset by peer"),
]


@pytest.mark.parametrize("failure", NO_ANSWER)
def test_a_call_that_gets_no_answer(failure: httpx.RequestError) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure

    xero = Xero(handler)
    with pytest.raises(Transient) as raised:
        xero.session().push_invoices([invoice(uuid.UUID(int=1))], KEY)
    assert "Xero" in raised.value.message
    xero.handler = echo_invoices
    xero.session().push_invoices([invoice(uuid.UUID(int=1))], KEY)  # the permit was given back


SESSION_CALLS: dict[str, Callable[[XeroSession], object]] = {
    "list_accounts": lambda s: s.list_accounts(),
    "list_tax_rates": lambda s: s.list_tax_rates(),
    "list_tracking_categories": lambda s: s.list_tracking_categories(),
    "find_contacts": lambda s: s.find_contacts([ContactData(uuid.UUID(int=1), "A", "a@example.com")]),
    "push_contacts": lambda s: s.push_contacts([ContactData(uuid.UUID(int=1), "A", "a@example.com")], KEY),
    "find_invoices": lambda s: s.find_invoices([lookup(uuid.UUID(int=1))]),
    "push_invoices": lambda s: s.push_invoices([invoice(uuid.UUID(int=1))], KEY),
    "get_invoices": lambda s: s.get_invoices([INVOICE_ID]),
    "void_invoice": lambda s: s.void_invoice(INVOICE_ID, KEY),
    "find_credit_notes": lambda s: s.find_credit_notes([lookup(uuid.UUID(int=1))]),
    "push_credit_notes": lambda s: s.push_credit_notes([invoice(uuid.UUID(int=1))], KEY),
    "allocate_credit_note": lambda s: s.allocate_credit_note(
        AllocationData("249f15fa-f2a7-4acc-8769-0984103f2225", INVOICE_ID, D(1), dt.date(2026, 11, 1)), KEY
    ),
    "find_payments": lambda s: s.find_payments(INVOICE_ID),
    "push_payments": lambda s: s.push_payments(
        [PaymentData(uuid.UUID(int=1), INVOICE_ID, dt.date(2026, 11, 1), D(1), "090")], KEY
    ),
    "invoices_changed_since": lambda s: s.invoices_changed_since(NOW),
}
COLLECTIONS = ("Accounts", "TaxRates", "TrackingCategories", "Contacts", "Invoices", "CreditNotes", "Payments",
               "Allocations")  # fmt: skip
WRONG_TYPES = {"InvoiceID": 5, "ContactID": [], "Code": 3, "Name": None, "TaxType": {}, "Total": "lots", "Status": 1,
               "Reference": 7, "ContactNumber": 9, "Options": "x", "PaymentID": None, "EffectiveRate": "high",
               "DateTimeUTC": 5, "Type": 5, "CreditNoteID": 4}  # fmt: skip
MALFORMED = {
    "xml": httpx.Response(200, text="<Response><Status>OK</Status></Response>", headers={"content-type": "text/xml"}),
    "empty": httpx.Response(200, content=b""),
    "a list": reply([]),
    "no records": reply({"Id": "x", "Status": "OK"}),
    "records not a list": reply(dict.fromkeys(COLLECTIONS, "x")),
    "records not objects": reply({name: [1, "x"] for name in COLLECTIONS}),
    "fields of the wrong type": reply({name: [WRONG_TYPES] for name in COLLECTIONS}),
}


@pytest.mark.parametrize("answer", sorted(MALFORMED))
@pytest.mark.parametrize("call", sorted(set(SESSION_CALLS) - {"allocate_credit_note"}))
def test_an_answer_not_shaped_like_xeros_is_transient(call: str, answer: str) -> None:
    """Never a KeyError or TypeError: a Transient that says what could not be read."""
    xero = Xero(lambda r: MALFORMED[answer])
    with pytest.raises(Transient, match=r"could not be read|tells neither"):
        SESSION_CALLS[call](xero.session())


@pytest.mark.parametrize("answer", sorted(set(MALFORMED) - {"fields of the wrong type"}))
def test_an_allocation_answer_not_shaped_like_xeros(answer: str) -> None:
    xero = Xero(lambda r: MALFORMED[answer])
    with pytest.raises(Transient, match="could not be read"):
        SESSION_CALLS["allocate_credit_note"](xero.session())


def test_an_allocation_answer_is_read_only_for_whether_it_was_taken() -> None:
    xero = Xero(lambda r: reply({"Allocations": [{**WRONG_TYPES, "StatusAttributeString": "OK"}]}))
    SESSION_CALLS["allocate_credit_note"](xero.session())


def test_a_sandbox_has_every_endpoint_under_its_root() -> None:
    xero = Xero(lambda r: reply(golden("tax_rates_response.json")))
    xero.session(base_url="http://127.0.0.1:8001/xero/").list_tax_rates()
    assert str(xero.requests[0].url) == "http://127.0.0.1:8001/xero/api.xro/2.0/TaxRates"


# --- OAuth -------------------------------------------------------------------------------------------------------

CLIENT = OAuthClient("A1B2C3D4E5F6", "s3cr3t-v@lue")


def oauth(handler: Handler, *, base_url: str | None = None) -> tuple[Any, list[httpx.Request]]:
    requests: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return handler(request)

    connector = XeroConnector(clock=FixedClock(NOW), limiter=RateLimiter(XERO_LIMITS, Clock()))
    client = OAuthClient(CLIENT.client_id, CLIENT.client_secret, base_url)
    return connector.oauth(client, httpx.Client(transport=httpx.MockTransport(record))), requests


def token_answer(**changes: object) -> httpx.Response:
    body = {"id_token": "id", "access_token": "new-access", "expires_in": 1800, "token_type": "Bearer",
            "refresh_token": "new-refresh", "scope": "offline_access accounting.transactions", **changes}  # fmt: skip
    return httpx.Response(200, json=body)


def test_the_authorize_url() -> None:
    flow, _ = oauth(token_answer)
    url = urlsplit(flow.authorize_url("st@te/1", "https://spaces.example/oauth/xero/callback"))
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://login.xero.com/identity/connect/authorize"
    assert parse_qs(url.query) == {
        "response_type": ["code"],
        "client_id": ["A1B2C3D4E5F6"],
        "redirect_uri": ["https://spaces.example/oauth/xero/callback"],
        "scope": ["offline_access accounting.transactions accounting.contacts accounting.settings"],
        "state": ["st@te/1"],
    }


def test_a_code_is_exchanged_for_tokens_with_basic_client_auth() -> None:
    flow, requests = oauth(lambda r: token_answer())
    tokens = flow.exchange_code("the-code", "https://spaces.example/cb")
    assert tokens == Tokens("new-access", "new-refresh", NOW + dt.timedelta(seconds=1800))
    [request] = requests
    assert (request.method, str(request.url)) == ("POST", "https://identity.xero.com/connect/token")
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"A1B2C3D4E5F6:s3cr3t-v@lue").decode()
    assert parse_qs(request.content.decode()) == {
        "grant_type": ["authorization_code"],
        "code": ["the-code"],
        "redirect_uri": ["https://spaces.example/cb"],
    }


def test_a_refresh() -> None:
    flow, requests = oauth(lambda r: token_answer(refresh_token="rotated"))
    assert flow.refresh("old-refresh").refresh_token == "rotated"
    assert parse_qs(requests[0].content.decode()) == {"grant_type": ["refresh_token"], "refresh_token": ["old-refresh"]}


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(400, json={"error": "invalid_grant"}), AuthExpired),
        (httpx.Response(400, json={"error": "invalid_client"}), AuthExpired),
        (httpx.Response(401, json={"error": "invalid_client"}), AuthExpired),
        (httpx.Response(400, json={"error": "unsupported_grant_type"}), Rejected),
        (httpx.Response(400, text="<html>bad</html>"), Rejected),
        (httpx.Response(500, text="oops"), Transient),
        (httpx.Response(429, headers={"Retry-After": "5"}), RateLimited),
        (token_answer(refresh_token=None), Transient),
        (token_answer(access_token=""), Transient),
        (token_answer(expires_in="soon"), Transient),
        (httpx.Response(200, text="<html/>"), Transient),
    ],
)
def test_token_refusals(answer: httpx.Response, error: type[ConnectorError]) -> None:
    flow, _ = oauth(lambda r: answer)
    with pytest.raises(error):
        flow.refresh("old-refresh")


def test_the_organisations_a_token_may_use() -> None:
    connections = [
        {"id": "7cb59f93-2964-421d-bb5e-a0f7a4572a44", "authEventId": "d99ecdfe-0000-4000-8000-000000000001",
         "tenantId": TENANT, "tenantType": "ORGANISATION", "tenantName": "Kiezwerk Spaces GmbH",
         "createdDateUtc": "2026-11-01T18:46:19.5165400", "updatedDateUtc": "2026-11-01T18:46:19.5187840"},
        {"id": "8db59f93-2964-421d-bb5e-a0f7a4572a45", "tenantId": "fe79f7dd-b6d4-4a92-ba7b-538af6289c58",
         "tenantType": "PRACTICE", "tenantName": "Our accountants"},
    ]  # fmt: skip
    flow, requests = oauth(lambda r: httpx.Response(200, json=connections))
    assert flow.tenants("the-access", {}) == [Tenant(TENANT, "Kiezwerk Spaces GmbH")]
    assert str(requests[0].url) == "https://api.xero.com/connections"
    assert requests[0].headers["authorization"] == "Bearer the-access"


def test_the_organisations_of_a_refused_token() -> None:
    flow, _ = oauth(lambda r: httpx.Response(401, json=PROBLEM_401))
    with pytest.raises(AuthExpired):
        flow.tenants("the-access", {})
    flow, _ = oauth(lambda r: httpx.Response(200, json={"tenants": []}))
    with pytest.raises(Transient):
        flow.tenants("the-access", {})


def test_a_sandbox_for_oauth() -> None:
    flow, requests = oauth(lambda r: token_answer() if r.method == "POST" else httpx.Response(200, json=[]),
                           base_url="http://127.0.0.1:8001/xero")  # fmt: skip
    assert flow.authorize_url("s", "http://x/cb").startswith("http://127.0.0.1:8001/xero/identity/connect/authorize?")
    flow.exchange_code("c", "http://x/cb")
    flow.tenants("a", {})
    assert [str(r.url) for r in requests] == [
        "http://127.0.0.1:8001/xero/identity/connect/token",
        "http://127.0.0.1:8001/xero/connections",
    ]


# --- the descriptor ----------------------------------------------------------------------------------------------


def test_the_descriptor() -> None:
    connector = XeroConnector()
    assert isinstance(connector, Connector)
    assert (connector.key, connector.display_name) == ("xero", "Xero")
    assert {"invoices", "credit_notes", "payments", "pdf", "webhooks", "tracking"} <= connector.capabilities


def test_webhooks_through_the_connector() -> None:
    import hashlib
    import hmac

    body = json.dumps({"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": "x"}).encode()
    signature = base64.b64encode(hmac.new(b"key", body, hashlib.sha256).digest()).decode()
    connector = XeroConnector()
    assert connector.webhook_events(body, {"x-xero-signature": signature}, "key") == []
    bad = b"not json"
    bad_signature = base64.b64encode(hmac.new(b"key", bad, hashlib.sha256).digest()).decode()
    with pytest.raises(Rejected, match="could not be read"):
        connector.webhook_events(bad, {"x-xero-signature": bad_signature}, "key")
