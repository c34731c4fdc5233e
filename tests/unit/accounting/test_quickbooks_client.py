"""The QuickBooks Online client over httpx.MockTransport: what it sends (URLs, minorversion, requestid, bodies),
how it batches, reads back, retries a stale update once, and how each answer QuickBooks may give becomes a value
or one error of the port; and the counting limiter's windows, with a clock moved by hand."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from flexbill.accounting.connectors.quickbooks import mapping
from flexbill.accounting.connectors.quickbooks.client import Endpoints, QuickBooksConnector, QuickBooksSession
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
    TrackingChoice,
)
from flexbill.accounting.ports import (
    AuthExpired,
    BadSignature,
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
from flexbill.accounting.ratelimit import QUICKBOOKS_LIMITS, CountedLimits, CountingLimiter, Window
from flexbill.accounting.registry import connectors
from flexbill.accounting.sync import unique_name
from flexbill.clock import FixedClock

D = Decimal
REALM = "9341453008391720"
TOKEN = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2In0.access"
KEY = "flexbill:invoices:4f1c2a9e0b7d4c559d431f2e3a4b5c6d"
NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
TIME = "2026-11-26T04:00:00-08:00"  # NOW, as QuickBooks writes it
API = f"https://quickbooks.api.intuit.com/v3/company/{REALM}"
OURS = uuid.UUID("6f1c2a9e-0b7d-4c55-9d43-1f2e3a4b5c6d")
OTHER = uuid.UUID("2e4c6a8b-1d3f-4a5b-9c7d-8e0f1a2b3c4d")

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


def reply(body: object, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=mapping.dumps(body), headers={"content-type": "application/json"})


def fault(
    code: str, message: str, detail: str = "", status: int = 400, kind: str = "ValidationFault"
) -> httpx.Response:
    return reply(
        {
            "Fault": {"Error": [{"Message": message, "Detail": detail, "code": code, "element": ""}], "type": kind},
            "time": TIME,
        },
        status,
    )


def fault_item(code: str, message: str) -> dict[str, Any]:
    return {"Fault": {"Error": [{"Message": message, "Detail": "", "code": code}], "type": "ValidationFault"}}


XML_THROTTLE = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><IntuitResponse xmlns="http://schema.intuit.com/finance/v3"'
    ' time="2026-11-26T04:00:00.000-08:00"><Fault type="SERVICE"><Error code="3001"><Message>message=ThrottleExceeded;'
    " errorCode=003001; statusCode=429</Message><Detail>The request limit was reached.  Try again later</Detail>"
    "</Error></Fault></IntuitResponse>"
)

TAX_RATES: list[dict[str, Any]] = [{"Id": "3", "Name": "20.0% S", "RateValue": 20}]
TAX_CODES: list[dict[str, Any]] = [
    {"Id": "4", "Name": "20.0% S", "SalesTaxRateList": {"TaxRateDetail": [{"TaxRateRef": {"value": "3"}}]}},
    {"Id": "9", "Name": "No VAT"},
]


def query(request: httpx.Request) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(str(request.url)).query).items()}


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content, parse_float=Decimal)


@dataclass
class QuickBooks:
    """A stand-in for one QuickBooks company: queries are answered from ``rows`` (``Id IN`` filtered), the
    preferences from ``preferences``, and any other call by ``routes`` (method, path under the company)."""

    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    preferences: dict[str, Any] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    clock: Clock = field(default_factory=Clock)
    limiter: CountingLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.rows = {
            "TaxRate": TAX_RATES,
            "TaxCode": TAX_CODES,
            "Department": [{"Id": "2", "Name": "London"}],
            **self.rows,
        }
        self.limiter = CountingLimiter(QUICKBOOKS_LIMITS, self.clock)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path.split(f"/v3/company/{REALM}")[-1]
        route = self.routes.get((request.method, path))
        if route is not None:
            return route(request)
        if path == "/query":
            sent = request.content.decode() if request.method == "POST" else query(request)["query"]
            return self.answer_query(sent)
        if path == "/preferences":
            return reply({"Preferences": self.preferences, "time": TIME})
        raise AssertionError(f"unexpected {request.method} {path}")

    def answer_query(self, text: str) -> httpx.Response:
        found = re.match(r"SELECT \* FROM (\w+)", text)
        assert found is not None, text
        rows = self.rows.get(found.group(1), [])
        if ids := re.search(r"Id IN \(([^)]*)\)", text):
            wanted = re.findall(r"'([^']*)'", ids.group(1))
            rows = [row for row in rows if row["Id"] in wanted]
        return reply(
            {"QueryResponse": {found.group(1): rows, "startPosition": 1, "maxResults": len(rows)}, "time": TIME}
        )

    def session(self, *, page_size: int = 1000, base_url: str | None = None) -> QuickBooksSession:
        connector = QuickBooksConnector(limiter=self.limiter, page_size=page_size, clock=FixedClock(NOW))
        http = httpx.Client(transport=httpx.MockTransport(self))
        return connector.open_session(SessionTarget(REALM, TOKEN, base_url=base_url), http)

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if (r.method, r.url.path) == (method, f"/v3/company/{REALM}{path}")]

    def queries(self) -> list[str]:
        return [
            r.content.decode() if r.method == "POST" else query(r)["query"]
            for r in self.requests
            if r.url.path.endswith("/query")
        ]


def echo_batch(
    *, number: bool = True, total: Decimal | None = None, faults: dict[str, dict[str, Any]] | None = None
) -> Handler:
    """QuickBooks taking each operation of a batch: the entity back with an Id, a SyncToken, a DocNumber (when
    ``number``; its custom numbers are off) and its total (the lines and tax, or ``total``)."""

    def handle(request: httpx.Request) -> httpx.Response:
        answers = []
        for item in body_of(request)["BatchItemRequest"]:
            if faults and item["bId"] in faults:
                answers.append({"bId": item["bId"], **faults[item["bId"]]})
                continue
            [(name, entity)] = [(k, v) for k, v in item.items() if k not in ("bId", "operation")]
            made = {**entity, "Id": entity.get("Id", f"{name[:1]}{item['bId']}"), "SyncToken": "0"}
            if "Line" in entity and name != "Payment":
                lines = sum((line["Amount"] for line in entity["Line"]), D(0))
                tax = entity.get("TxnTaxDetail", {}).get("TotalTax", D(0))
                made["TotalAmt"] = total if total is not None else lines + tax
                made["Balance"] = made["TotalAmt"]
                if number and "DocNumber" not in entity:
                    # A new document takes the next number; an update keeps the one it had (1037 in these rows).
                    made["DocNumber"] = "1037" if "Id" in entity else f"10{item['bId']}"
            answers.append({"bId": item["bId"], name: made})
        return reply({"BatchItemResponse": answers, "time": TIME})

    return handle


def invoice(our_id: uuid.UUID = OURS, *, number: str | None = None, external_id: str | None = None) -> DocumentData:
    return DocumentData(
        our_id=our_id,
        number=number,
        contact_external_id="58",
        date=dt.date(2026, 11, 1),
        due_date=dt.date(2026, 11, 15),
        currency="GBP",
        prices_include_tax=False,
        lines=(LineData("Hot desk", D(1), D("100.00"), D(0), D("100.00"), D("20.00"), "7", "4"),),
        subtotal=D("100.00"),
        tax_total=D("20.00"),
        total=D("120.00"),
        external_id=external_id,
    )


def invoice_row(invoice_id: str = "130", our_id: uuid.UUID = OURS, **fields: Any) -> dict[str, Any]:
    return {
        "Id": invoice_id,
        "SyncToken": "2",
        "DocNumber": "1037",
        "TxnDate": "2026-11-01",
        "CustomerRef": {"value": "58"},
        "CurrencyRef": {"value": "GBP"},
        "TotalAmt": D("120.00"),
        "Balance": D("120.00"),
        "PrivateNote": f"flexbill invoice {our_id}",
        "MetaData": {"LastUpdatedTime": TIME},
        **fields,
    }


def payment_row(payment_id: str, invoice_id: str, amount: str, our_id: uuid.UUID | None = None) -> dict[str, Any]:
    return {
        "Id": payment_id,
        "TxnDate": "2026-11-20",
        "TotalAmt": D(amount),
        "PaymentRefNum": "pi_1",
        "PrivateNote": f"flexbill payment {our_id}" if our_id else "cheque",
        "Line": [{"Amount": D(amount), "LinkedTxn": [{"TxnId": invoice_id, "TxnType": "Invoice"}]}],
    }


# --- every call --------------------------------------------------------------------------------------------------


def test_every_call_names_the_company_the_token_json_and_the_minor_version() -> None:
    qbo = QuickBooks(rows={"Account": [{"Id": "35", "Name": "Business Bank Account", "AccountType": "Bank"}]})
    [account] = qbo.session().list_accounts()
    assert (account.code, account.name, account.type, account.status) == (
        "35",
        "Business Bank Account",
        "Bank",
        "ACTIVE",
    )
    request, _items = qbo.requests
    assert str(request.url).startswith(f"{API}/query?")
    assert query(request) == {"query": "SELECT * FROM Account STARTPOSITION 1 MAXRESULTS 1000", "minorversion": "75"}
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["accept"] == "application/json"


def test_a_sandbox_has_every_endpoint_under_its_root() -> None:
    base = "http://127.0.0.1:8001/quickbooks"
    assert Endpoints.at(base + "/") == Endpoints(
        authorize=f"{base}/connect/oauth2",
        token=f"{base}/oauth2/v1/tokens/bearer",
        revoke=f"{base}/oauth2/v1/tokens/revoke",
        api=base,
        discovery=f"{base}/.well-known/openid_configuration",
    )
    qbo = QuickBooks()
    qbo.session(base_url=base).list_tracking_categories()
    assert str(qbo.requests[0].url).startswith(f"{base}/v3/company/{REALM}/query?")
    assert Endpoints.at(None).token == "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"


def test_queries_are_read_page_after_page() -> None:
    rows = [{"Id": str(n), "Name": f"Account {n}"} for n in range(5)]

    def pages(request: httpx.Request) -> httpx.Response:
        start = int(re.search(r"STARTPOSITION (\d+) MAXRESULTS 2", query(request)["query"]).group(1))  # type: ignore[union-attr]
        return reply({"QueryResponse": {"Account": rows[start - 1 : start + 1]}, "time": TIME})

    qbo = QuickBooks(routes={("GET", "/query"): pages})
    assert [a.code for a in qbo.session(page_size=2).list_accounts()] == ["0", "1", "2", "3", "4"]
    assert len(qbo.requests) == 3 + 1  # the accounts' three pages, and the items' one


def test_sales_book_to_products_and_services_and_payments_to_bank_accounts() -> None:
    qbo = QuickBooks(
        rows={
            "Account": [
                {"Id": "35", "Name": "Business Bank Account", "AccountType": "Bank"},
                {"Id": "4", "Name": "Undeposited Funds", "AccountType": "Other Current Asset"},
                {"Id": "1", "Name": "Sales", "AccountType": "Income"},
            ],
            "Item": [
                {"Id": "1", "Name": "Memberships", "Type": "Service"},
                {"Id": "9", "Name": "Bundles", "Type": "Group"},
                {"Id": "7", "Name": "Old desks", "Type": "Service", "Active": False},
            ],
        }
    )
    listed = qbo.session().list_accounts()
    assert [(a.code, a.name, a.sales, a.payments, a.status) for a in listed] == [
        ("35", "Business Bank Account", False, True, "ACTIVE"),
        ("4", "Undeposited Funds", False, True, "ACTIVE"),
        ("1", "Sales", False, False, "ACTIVE"),
        ("1", "Memberships", True, False, "ACTIVE"),
        ("9", "Bundles", False, False, "ACTIVE"),
        ("7", "Old desks", True, False, "ARCHIVED"),
    ]
    assert qbo.queries()[-1] == "SELECT * FROM Item STARTPOSITION 1 MAXRESULTS 1000"


def test_tax_codes_and_locations() -> None:
    qbo = QuickBooks()
    session = qbo.session()
    assert [(r.code, r.name, r.rate) for r in session.list_tax_rates()] == [
        ("4", "20.0% S", D(20)),
        ("9", "No VAT", D(0)),
    ]
    [category] = session.list_tracking_categories()
    assert (category.name, category.options) == ("Location", ("London",))


# --- customers ---------------------------------------------------------------------------------------------------


def test_new_customers_go_in_a_batch_with_a_request_id_from_the_key() -> None:
    qbo = QuickBooks(
        routes={("POST", "/batch"): echo_batch(faults={"2": fault_item("6240", "Duplicate Name Exists Error")})}
    )
    contacts = [ContactData(OURS, "Acme Ltd", "ap@acme.test"), ContactData(OTHER, "Globex", "")]
    results = qbo.session().push_contacts(contacts, KEY)
    [request] = qbo.requests
    assert request.headers["content-type"] == "application/json"
    params = query(request)
    assert params["minorversion"] == "75"
    assert re.fullmatch(r"[0-9a-f]{36}", params["requestid"])
    items = body_of(request)["BatchItemRequest"]
    # In the order of our ids (OTHER's is the smaller), whatever order they were given in.
    assert [(i["bId"], i["operation"], i["Customer"]["DisplayName"]) for i in items] == [
        ("1", "create", "Globex"),
        ("2", "create", "Acme Ltd"),
    ]
    assert items[1]["Customer"]["Notes"] == f"flexbill customer {OURS}"
    assert sorted(results, key=lambda result: result.our_id) == [
        Pushed(OTHER, "C1"),
        Refused(OURS, ("Duplicate Name Exists Error (6240)",), conflict=True),
    ]
    qbo.session().push_contacts(list(reversed(contacts)), KEY)
    assert query(qbo.requests[1])["requestid"] == params["requestid"]  # the same call, the same request id
    qbo.session().push_contacts(contacts, KEY + "-renamed")
    assert query(qbo.requests[2])["requestid"] != params["requestid"]
    qbo.session().push_contacts(contacts[:1], KEY)  # other records under the same key: another request id
    assert query(qbo.requests[3])["requestid"] != params["requestid"]


def test_a_customer_update_is_sparse_with_the_current_sync_token_and_a_stale_one_is_sent_once_more() -> None:
    tokens = iter(["5", "6"])
    answers = iter([fault_item("5010", "Stale Object Error"), None])

    def batch(request: httpx.Request) -> httpx.Response:
        [item] = body_of(request)["BatchItemRequest"]
        answer = next(answers)
        if answer is not None:
            return reply({"BatchItemResponse": [{"bId": "1", **answer}]})
        return reply({"BatchItemResponse": [{"bId": "1", "Customer": {**item["Customer"], "SyncToken": "7"}}]})

    def customers(request: httpx.Request) -> httpx.Response:
        return reply({"QueryResponse": {"Customer": [{"Id": "58", "SyncToken": next(tokens)}]}, "time": TIME})

    qbo = QuickBooks(routes={("POST", "/batch"): batch, ("GET", "/query"): customers})
    [result] = qbo.session().push_contacts([ContactData(OURS, "Acme Ltd", "", external_id="58")], KEY)
    assert result == Pushed(OURS, "58")
    sent = [body_of(r)["BatchItemRequest"][0] for r in qbo.sent("POST", "/batch")]
    assert [
        (i["operation"], i["Customer"]["Id"], i["Customer"]["SyncToken"], i["Customer"]["sparse"]) for i in sent
    ] == [("update", "58", "5", True), ("update", "58", "6", True)]
    assert len({query(r)["requestid"] for r in qbo.sent("POST", "/batch")}) == 2


def test_a_customer_stale_twice_is_refused() -> None:
    qbo = QuickBooks(
        routes={
            ("POST", "/batch"): lambda r: reply({"BatchItemResponse": [{"bId": "1", **fault_item("5010", "Stale")}]})
        },
        rows={"Customer": [{"Id": "58", "SyncToken": "5"}]},
    )
    [result] = qbo.session().push_contacts([ContactData(OURS, "Acme Ltd", "", external_id="58")], KEY)
    assert result == Refused(OURS, ("Stale (5010)",))
    assert len(qbo.sent("POST", "/batch")) == 2


def test_customers_are_found_by_the_names_asked_for_and_kept_only_with_our_id() -> None:
    """The engine asks with each name it may have given a customer: its name and the name made unique."""
    renamed = unique_name("Acme Ltd", OTHER)
    qbo = QuickBooks(
        rows={
            "Customer": [
                {"Id": "58", "DisplayName": "Acme Ltd", "Notes": "a customer someone typed in"},
                {"Id": "59", "DisplayName": renamed, "Notes": f"flexbill customer {OTHER}"},
                {"Id": "60", "DisplayName": "O'Neil", "Notes": f"flexbill customer {OURS}"},
            ]
        }
    )
    asked = [ContactData(OURS, name, "") for name in ("O'Neil", unique_name("O'Neil", OURS))] + [
        ContactData(OTHER, name, "") for name in ("Acme Ltd", renamed)
    ]
    found = qbo.session().find_contacts(asked)
    assert found == {OURS: "60", OTHER: "59"}
    [text] = qbo.queries()
    assert text.startswith("SELECT * FROM Customer WHERE DisplayName IN (")
    assert "'O\\'Neil'" in text
    assert mapping.quoted(unique_name("O'Neil", OURS)) in text
    assert "'Acme Ltd'" in text
    assert f"'{renamed}'" in text


def test_a_long_query_goes_in_the_body_of_a_post() -> None:
    """150 customers looked up by both their names: one query, too long for a URL, sent as Intuit's clients do."""
    qbo = QuickBooks()
    asked = [
        ContactData(uuid.UUID(int=n + 1), name, "")
        for n in range(150)
        for name in (f"Member {n:05}", unique_name(f"Member {n:05}", uuid.UUID(int=n + 1)))
    ]
    assert qbo.session().find_contacts(asked) == {}
    [request] = qbo.requests
    assert (request.method, request.headers["content-type"]) == ("POST", "application/text")
    assert request.content.decode().startswith("SELECT * FROM Customer WHERE DisplayName IN ('Member 00000', ")
    assert query(request) == {"minorversion": "75"}


# --- invoices ----------------------------------------------------------------------------------------------------


def test_a_long_sync_reads_the_companys_settings_once_until_they_grow_old(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tax codes and the custom field are read by the first session and trusted by the next ones for a while;
    listing tax rates for a person always reads them as they are."""
    from flexbill.accounting.connectors.quickbooks import client

    qbo = QuickBooks(routes={("POST", "/batch"): echo_batch()})
    now = [1000.0]
    monkeypatch.setattr(client.time, "monotonic", lambda: now[0])
    connector = QuickBooksConnector(limiter=qbo.limiter, clock=FixedClock(NOW))
    http = httpx.Client(transport=httpx.MockTransport(qbo))

    def session() -> QuickBooksSession:
        qbo.clock.now += 1  # a second apart, within QuickBooks' ten calls a second
        return connector.open_session(SessionTarget(REALM, TOKEN), http)

    def settings_read() -> tuple[int, int]:
        return len([q for q in qbo.queries() if "FROM TaxCode" in q]), len(qbo.sent("GET", "/preferences"))

    session().push_invoices([invoice()], KEY)
    session().push_invoices([invoice(OTHER)], KEY)
    assert settings_read() == (1, 1)
    session().list_tax_rates()
    assert settings_read() == (2, 1)
    now[0] += client.SETTINGS_TTL + 1
    session().push_invoices([invoice(OTHER)], KEY)
    assert settings_read() == (3, 2)


def test_new_invoices_carry_our_tax_and_id_and_come_back_numbered() -> None:
    qbo = QuickBooks(routes={("POST", "/batch"): echo_batch()})
    [result] = qbo.session().push_invoices([invoice()], KEY)
    assert result == Pushed(OURS, "I1", number="101", total=D("120.00"))
    assert [q.split(" STARTPOSITION")[0] for q in qbo.queries()] == ["SELECT * FROM TaxRate", "SELECT * FROM TaxCode"]
    assert len(qbo.sent("GET", "/preferences")) == 1
    [batch] = qbo.sent("POST", "/batch")
    [item] = body_of(batch)["BatchItemRequest"]
    sent = item["Invoice"]
    assert sent["TxnTaxDetail"]["TaxLine"][0]["Amount"] == D("20.00")
    assert sent["TxnTaxDetail"]["TaxLine"][0]["TaxLineDetail"]["TaxRateRef"] == {"value": "3"}
    assert sent["PrivateNote"] == f"flexbill invoice {OURS}"
    assert "DocNumber" not in sent
    assert "CustomField" not in sent


def test_the_custom_field_is_used_when_the_company_defines_it_and_the_location_by_name() -> None:
    prefs = {
        "SalesFormsPrefs": {
            "CustomField": [
                {
                    "CustomField": [
                        {"Name": "SalesFormsPrefs.UseSalesCustom1", "Type": "BooleanType", "BooleanValue": True},
                        {
                            "Name": "SalesFormsPrefs.SalesCustomName1",
                            "Type": "StringType",
                            "StringValue": "flexbill id",
                        },
                    ]
                }
            ]
        }
    }
    qbo = QuickBooks(routes={("POST", "/batch"): echo_batch()}, preferences=prefs)
    plain = invoice()
    tracked = replace(plain, lines=(replace(plain.lines[0], tracking=(TrackingChoice("Location", "London"),)),))
    session = qbo.session()
    session.push_invoices([tracked], KEY)
    session.push_invoices([tracked], KEY + "2")
    sent = next(body_of(r)["BatchItemRequest"][0]["Invoice"] for r in qbo.sent("POST", "/batch"))
    assert sent["CustomField"][0]["DefinitionId"] == "1"
    assert sent["DepartmentRef"] == {"value": "2"}
    assert len(qbo.sent("GET", "/preferences")) == 1  # read once a session
    assert sum(1 for q in qbo.queries() if "FROM Department" in q) == 1


def test_65_invoices_go_in_batches_of_30_30_and_5_each_with_its_own_request_id() -> None:
    qbo = QuickBooks(routes={("POST", "/batch"): echo_batch()})
    documents = [invoice(uuid.UUID(int=n + 1)) for n in range(65)]
    results = qbo.session().push_invoices(documents, KEY)
    batches = qbo.sent("POST", "/batch")
    assert [len(body_of(r)["BatchItemRequest"]) for r in batches] == [30, 30, 5]
    assert [body_of(r)["BatchItemRequest"][-1]["bId"] for r in batches] == ["30", "30", "5"]
    request_ids = [query(r)["requestid"] for r in batches]
    assert len(set(request_ids)) == 3
    assert all(len(rid) <= 36 for rid in request_ids)
    assert {r.our_id for r in results} == {d.our_id for d in documents}
    assert all(isinstance(r, Pushed) for r in results)


def test_a_duplicate_number_is_a_conflict_and_other_faults_are_refusals() -> None:
    faults = {
        "1": fault_item("6140", "Duplicate Document Number Error"),
        "2": fault_item("2500", "Invalid Reference Id"),
    }
    qbo = QuickBooks(routes={("POST", "/batch"): echo_batch(faults=faults)})
    results = qbo.session().push_invoices([invoice(OTHER, number="INV-2"), invoice(OURS, number="INV-1")], KEY)
    assert sorted(results, key=lambda result: result.our_id) == [  # sent in the order of our ids: OTHER's first
        Refused(OTHER, ("Duplicate Document Number Error (6140)",), conflict=True),
        Refused(OURS, ("Invalid Reference Id (2500)",), conflict=False),
    ]


def test_credit_memos_go_as_credit_memos() -> None:
    qbo = QuickBooks(routes={("POST", "/batch"): echo_batch()})
    note = replace(invoice(), due_date=None, number="CN-7")
    [result] = qbo.session().push_credit_notes([note], KEY)
    assert result == Pushed(OURS, "C1", number="CN-7", total=D("120.00"))
    [item] = body_of(qbo.sent("POST", "/batch")[0])["BatchItemRequest"]
    assert (item["operation"], item["CreditMemo"]["DocNumber"]) == ("create", "CN-7")
    assert item["CreditMemo"]["PrivateNote"] == f"flexbill credit note {OURS}"
    assert "DueDate" not in item["CreditMemo"]


def test_a_number_too_long_is_refused_without_sending() -> None:
    qbo = QuickBooks()
    [result] = qbo.session().push_invoices([invoice(number="INV-2026-11-LONDON-0042")], KEY)
    assert isinstance(result, Refused)
    assert "23 characters; QuickBooks keeps at most 21" in result.errors[0]
    assert qbo.sent("POST", "/batch") == []


def deleted(request: httpx.Request) -> httpx.Response:
    return reply({"Invoice": {"Id": body_of(request)["Id"], "status": "Deleted"}, "time": TIME})


def test_custom_transaction_numbers_on_is_refused_with_the_setting_to_change() -> None:
    qbo = QuickBooks(routes={("POST", "/batch"): echo_batch(number=False), ("POST", "/invoice"): deleted})
    [result] = qbo.session().push_invoices([invoice()], KEY)
    assert isinstance(result, Refused)
    assert "Custom transaction numbers" in result.errors[0]
    assert "Account and settings > Sales > Sales form content" in result.errors[0]
    [removal] = qbo.sent("POST", "/invoice")
    assert query(removal)["operation"] == "delete"
    assert body_of(removal) == {"Id": "I1", "SyncToken": "0"}
    assert "I1 was deleted again" in result.errors[0]
    # With our own number, QuickBooks keeps it and nothing is refused.
    assert isinstance(
        QuickBooks(routes={("POST", "/batch"): echo_batch(number=False)})
        .session()
        .push_invoices([invoice(number="INV-0042")], KEY)[0],
        Pushed,
    )


def test_a_total_other_than_ours_is_refused_and_the_invoice_removed() -> None:
    qbo = QuickBooks(routes={("POST", "/batch"): echo_batch(total=D("120.01")), ("POST", "/invoice"): deleted})
    [result] = qbo.session().push_invoices([invoice()], KEY)
    assert isinstance(result, Refused)
    assert result.errors[0].startswith("QuickBooks computed a total of 120.01 for invoice I1 where flexbill has 120.00")


def test_an_invoice_update_is_sparse_with_its_sync_token() -> None:
    qbo = QuickBooks(routes={("POST", "/batch"): echo_batch()}, rows={"Invoice": [invoice_row("130")]})
    [result] = qbo.session().push_invoices([invoice(external_id="130")], KEY)
    assert result == Pushed(OURS, "130", number="1037", total=D("120.00"))
    [item] = body_of(qbo.sent("POST", "/batch")[0])["BatchItemRequest"]
    assert (item["operation"], item["Invoice"]["Id"], item["Invoice"]["SyncToken"], item["Invoice"]["sparse"]) == (
        "update",
        "130",
        "2",
        True,
    )


def test_invoices_are_found_by_customer_and_date_and_kept_only_with_our_id() -> None:
    qbo = QuickBooks(
        rows={
            "Invoice": [
                invoice_row("130", OURS, TotalAmt=D(0), Balance=D(0), PrivateNote=f"Voided flexbill invoice {OURS}"),
                invoice_row("131", OURS),
                invoice_row("132", OTHER),
                {**invoice_row("133"), "PrivateNote": "typed by someone"},
            ]
        }
    )
    lookups = [DocumentLookup(OURS, "58", dt.date(2026, 11, 1), None)]
    found = qbo.session().find_invoices(lookups)
    assert list(found) == [OURS]
    assert found[OURS].external_id == "131"  # the one still in the books
    [text] = qbo.queries()
    assert text.startswith("SELECT * FROM Invoice WHERE TxnDate = '2026-11-01' AND CustomerRef IN ('58')")


def test_without_the_customer_the_number_narrows_the_look_up() -> None:
    qbo = QuickBooks(rows={"CreditMemo": []})
    qbo.session().find_credit_notes([DocumentLookup(OURS, None, dt.date(2026, 11, 3), "CN-7")])
    [text] = qbo.queries()
    assert text.startswith("SELECT * FROM CreditMemo WHERE TxnDate = '2026-11-03' AND DocNumber IN ('CN-7')")


def test_invoices_are_read_back_with_their_payments() -> None:
    linked = [{"TxnId": "150", "TxnType": "Payment"}, {"TxnId": "151", "TxnType": "Payment"}]
    qbo = QuickBooks(
        rows={
            "Invoice": [invoice_row("130", Balance=D("20.00"), LinkedTxn=linked)],
            "Payment": [payment_row("150", "130", "60.00", OURS), payment_row("151", "130", "40.00")],
        }
    )
    [document] = qbo.session().get_invoices(["130", "404"])
    assert (document.external_id, document.amount_paid, document.amount_due, document.status) == (
        "130",
        D("100.00"),
        D("20.00"),
        "Open",
    )
    assert [(p.external_id, p.amount, p.our_id) for p in document.payments] == [
        ("150", D("60.00"), OURS),
        ("151", D("40.00"), None),
    ]
    texts = qbo.queries()
    assert texts[0].startswith("SELECT * FROM Invoice WHERE Id IN ('130', '404')")
    assert texts[1].startswith("SELECT * FROM Payment WHERE Id IN ('150', '151')")


def test_the_pdf() -> None:
    qbo = QuickBooks(routes={("GET", "/invoice/130/pdf"): lambda r: httpx.Response(200, content=b"%PDF-1.7 ...")})
    assert qbo.session().invoice_pdf("130") == b"%PDF-1.7 ..."
    [request] = qbo.requests
    assert request.headers["accept"] == "application/pdf"
    assert query(request) == {"minorversion": "75"}
    not_pdf = QuickBooks(routes={("GET", "/invoice/130/pdf"): lambda r: httpx.Response(200, content=b"<html>")})
    with pytest.raises(Transient, match="not a PDF"):
        not_pdf.session().invoice_pdf("130")
    refused = QuickBooks(routes={("GET", "/invoice/130/pdf"): lambda r: fault("6000", "Cannot print", status=200)})
    with pytest.raises(Rejected, match="Cannot print"):
        refused.session().invoice_pdf("130")
    missing = QuickBooks(routes={("GET", "/invoice/404/pdf"): lambda r: fault("610", "Object Not Found")})
    with pytest.raises(RemoteNotFound):
        missing.session().invoice_pdf("404")


# --- voids -------------------------------------------------------------------------------------------------------


def voided_answer(request: httpx.Request) -> httpx.Response:
    return reply(
        {
            "Invoice": invoice_row("130", TotalAmt=D(0), Balance=D(0), PrivateNote=f"Voided flexbill invoice {OURS}"),
            "time": TIME,
        }
    )


def test_a_void_sends_the_current_sync_token() -> None:
    qbo = QuickBooks(
        routes={
            ("GET", "/invoice/130"): lambda r: reply({"Invoice": invoice_row("130")}),
            ("POST", "/invoice"): voided_answer,
        }
    )
    document = qbo.session().void_invoice("130", KEY)
    assert (document.voided, document.status, document.our_id) == (True, "Voided", OURS)
    [void] = qbo.sent("POST", "/invoice")
    assert query(void)["operation"] == "void"
    assert len(query(void)["requestid"]) <= 50
    assert body_of(void) == {"Id": "130", "SyncToken": "2"}


def test_a_stale_void_reads_again_and_tries_once_more() -> None:
    tokens = iter(["2", "3"])
    answers = iter([fault("5010", "Stale Object Error"), None])

    def void(request: httpx.Request) -> httpx.Response:
        answer = next(answers)
        return answer if answer is not None else voided_answer(request)

    qbo = QuickBooks(
        routes={
            ("GET", "/invoice/130"): lambda r: reply({"Invoice": invoice_row("130", SyncToken=next(tokens))}),
            ("POST", "/invoice"): void,
        }
    )
    assert qbo.session().void_invoice("130", KEY).voided
    voids = qbo.sent("POST", "/invoice")
    assert [body_of(r)["SyncToken"] for r in voids] == ["2", "3"]
    assert query(voids[0])["requestid"] != query(voids[1])["requestid"]


def test_stale_twice_is_a_conflict() -> None:
    qbo = QuickBooks(
        routes={
            ("GET", "/invoice/130"): lambda r: reply({"Invoice": invoice_row("130")}),
            ("POST", "/invoice"): lambda r: fault("5010", "Stale Object Error"),
        }
    )
    with pytest.raises(Conflict, match="Stale Object Error"):
        qbo.session().void_invoice("130", KEY)
    assert len(qbo.sent("POST", "/invoice")) == 2


def test_an_invoice_already_voided_is_taken_as_it_is() -> None:
    qbo = QuickBooks(routes={("GET", "/invoice/130"): voided_answer})
    assert qbo.session().void_invoice("130", KEY).voided
    assert qbo.sent("POST", "/invoice") == []


# --- payments, credit memos, refunds -----------------------------------------------------------------------------


def test_payments_onto_invoices() -> None:
    qbo = QuickBooks(routes={("POST", "/batch"): echo_batch()}, rows={"Invoice": [invoice_row("130")]})
    payments = [
        PaymentData(OURS, "130", dt.date(2026, 11, 20), D("120.00"), "35", reference="pi_3NqYbR2eZvKYlo2C"),
        PaymentData(OTHER, "404", dt.date(2026, 11, 20), D("10.00"), "35"),
    ]
    results = qbo.session().push_payments(payments, KEY)
    assert results == [Refused(OTHER, ("QuickBooks has no invoice 404",)), Pushed(OURS, "P1", total=D("120.00"))]
    [item] = body_of(qbo.sent("POST", "/batch")[0])["BatchItemRequest"]
    sent = item["Payment"]
    assert sent["CustomerRef"] == {"value": "58"}
    assert sent["DepositToAccountRef"] == {"value": "35"}
    assert sent["Line"] == [{"Amount": D("120.00"), "LinkedTxn": [{"TxnId": "130", "TxnType": "Invoice"}]}]
    assert sent["PrivateNote"].startswith(f"flexbill payment {OURS}")


def test_the_payments_on_an_invoice_with_our_ids() -> None:
    linked = [{"TxnId": "150", "TxnType": "Payment"}, {"TxnId": "152", "TxnType": "Payment"}]
    credit = {
        "Id": "152",
        "TxnDate": "2026-11-21",
        "TotalAmt": D(0),
        "Line": [
            {"Amount": D("30.00"), "LinkedTxn": [{"TxnId": "130", "TxnType": "Invoice"}]},
            {"Amount": D("30.00"), "LinkedTxn": [{"TxnId": "140", "TxnType": "CreditMemo"}]},
        ],
    }
    qbo = QuickBooks(
        routes={("GET", "/invoice/130"): lambda r: reply({"Invoice": invoice_row("130", LinkedTxn=linked)})},
        rows={"Payment": [payment_row("150", "130", "90.00", OURS), credit]},
    )
    assert qbo.session().find_payments("130") == [(OURS, "150")]  # a credit memo applied is no payment


def test_a_credit_memo_is_applied_by_a_payment_of_no_money() -> None:
    memo = {"Id": "140", "CustomerRef": {"value": "58"}, "TotalAmt": D("30.00"), "RemainingCredit": D("30.00")}
    qbo = QuickBooks(
        routes={
            ("GET", "/creditmemo/140"): lambda r: reply({"CreditMemo": memo}),
            ("POST", "/payment"): lambda r: reply({"Payment": {**body_of(r), "Id": "152"}}),
        }
    )
    qbo.session().allocate_credit_note(AllocationData("140", "130", D("30.00"), dt.date(2026, 11, 21)), KEY)
    [sent] = qbo.sent("POST", "/payment")
    assert body_of(sent)["TotalAmt"] == 0
    assert [line["LinkedTxn"][0]["TxnType"] for line in body_of(sent)["Line"]] == ["Invoice", "CreditMemo"]
    assert query(sent)["requestid"]


def test_a_refund_of_a_credit_memo_takes_the_income_off_only_once() -> None:
    memo = {
        "Id": "140",
        "DocNumber": "CN-7",
        "CustomerRef": {"value": "58"},
        "CurrencyRef": {"value": "GBP"},
        "TotalAmt": D("30.00"),
        "Line": [
            {
                "DetailType": "SalesItemLineDetail",
                "Amount": D("25.00"),
                "SalesItemLineDetail": {"ItemRef": {"value": "7"}},
            }
        ],
    }
    qbo = QuickBooks(
        routes={
            ("GET", "/creditmemo/140"): lambda r: reply({"CreditMemo": memo}),
            ("POST", "/invoice"): lambda r: reply(
                {"Invoice": {**body_of(r), "Id": "160", "TotalAmt": D("30.00"), "Balance": D("30.00")}}
            ),
            ("POST", "/payment"): lambda r: reply({"Payment": {**body_of(r), "Id": "161"}}),
            ("POST", "/refundreceipt"): lambda r: reply({"RefundReceipt": {**body_of(r), "Id": "162"}}),
        }
    )
    refund = PaymentData(OURS, "", dt.date(2026, 11, 22), D("30.00"), "35", "Refund", credit_note_external_id="140")
    [result] = qbo.session().push_payments([refund], KEY)
    assert result == Pushed(OURS, "162", total=D("30.00"))
    [clearing] = [body_of(r) for r in qbo.sent("POST", "/invoice")]
    [applied] = [body_of(r) for r in qbo.sent("POST", "/payment")]
    [receipt] = [body_of(r) for r in qbo.sent("POST", "/refundreceipt")]
    # The clearing invoice and the refund receipt use the same item and a tax code of no tax: they cancel out.
    assert clearing["Line"] == receipt["Line"]
    assert clearing["Line"][0]["SalesItemLineDetail"]["ItemRef"] == {"value": "7"}
    assert clearing["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "9"}
    assert clearing["DocNumber"] == "CN-7-RF"
    assert [line["LinkedTxn"][0] for line in applied["Line"]] == [
        {"TxnId": "160", "TxnType": "Invoice"},
        {"TxnId": "140", "TxnType": "CreditMemo"},
    ]
    assert applied["TotalAmt"] == 0
    assert receipt["DepositToAccountRef"] == {"value": "35"}
    assert receipt["PrivateNote"].startswith(f"flexbill refund {OURS}")
    request_ids = [query(r)["requestid"] for r in qbo.requests if "requestid" in query(r)]
    assert len(set(request_ids)) == 3
    # The money goes out before the credit is used up: a refund cut short leaves credit, and is asked again.
    order = [r.url.path.rsplit("/", 1)[1] for r in qbo.requests if r.method == "POST"]
    assert order == ["invoice", "refundreceipt", "payment"]


def test_a_refund_cut_short_makes_only_what_is_missing() -> None:
    """The clearing invoice of an earlier attempt is found by its number and our id in its note (someone else's
    record with the number is not taken); the receipt and the application are made."""
    memo = {
        "Id": "140",
        "DocNumber": "CN-7",
        "CustomerRef": {"value": "58"},
        "TotalAmt": D("30.00"),
        "Line": [{"DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "7"}}}],
    }
    made_before = {"Id": "160", "DocNumber": "CN-7-RF", "TotalAmt": D("30.00"), "Balance": D("30.00"),
                   "PrivateNote": f"flexbill refund {OURS} · Refund"}  # fmt: skip
    someone_elses = {**made_before, "Id": "150", "PrivateNote": "typed in by hand"}
    qbo = QuickBooks(
        rows={"Invoice": [someone_elses, made_before]},
        routes={
            ("GET", "/creditmemo/140"): lambda r: reply({"CreditMemo": memo}),
            ("POST", "/payment"): lambda r: reply({"Payment": {**body_of(r), "Id": "161"}}),
            ("POST", "/refundreceipt"): lambda r: reply({"RefundReceipt": {**body_of(r), "Id": "162"}}),
        },
    )
    refund = PaymentData(OURS, "", dt.date(2026, 11, 22), D("30.00"), "35", "Refund", credit_note_external_id="140")
    [result] = qbo.session().push_payments([refund], KEY)
    assert result == Pushed(OURS, "162", total=D("30.00"))
    assert qbo.sent("POST", "/invoice") == []
    [applied] = [body_of(r) for r in qbo.sent("POST", "/payment")]
    assert applied["Line"][0]["LinkedTxn"][0] == {"TxnId": "160", "TxnType": "Invoice"}
    assert "SELECT * FROM Invoice WHERE DocNumber = 'CN-7-RF' STARTPOSITION 1 MAXRESULTS 1000" in qbo.queries()


def test_a_refund_in_a_company_whose_no_tax_codes_are_zero_rates() -> None:
    memo = {
        "Id": "140",
        "CustomerRef": {"value": "58"},
        "TotalAmt": D("30.00"),
        "Line": [{"DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "7"}}}],
    }
    zero_rated = {"Id": "5", "Name": "0.0% Z", "SalesTaxRateList": {"TaxRateDetail": [{"TaxRateRef": {"value": "6"}}]}}
    qbo = QuickBooks(
        rows={"TaxRate": [*TAX_RATES, {"Id": "6", "RateValue": 0}], "TaxCode": [TAX_CODES[0], zero_rated]},
        routes={
            ("GET", "/creditmemo/140"): lambda r: reply({"CreditMemo": memo}),
            ("POST", "/invoice"): lambda r: reply(
                {"Invoice": {**body_of(r), "Id": "160", "TotalAmt": D("30.00"), "Balance": D("30.00")}}
            ),
            ("POST", "/payment"): lambda r: reply({"Payment": {**body_of(r), "Id": "161"}}),
            ("POST", "/refundreceipt"): lambda r: reply({"RefundReceipt": {**body_of(r), "Id": "162"}}),
        },
    )
    refund = PaymentData(OURS, "", dt.date(2026, 11, 22), D("30.00"), "35", credit_note_external_id="140")
    assert qbo.session().push_payments([refund], KEY) == [Pushed(OURS, "162", total=D("30.00"))]
    [receipt] = [body_of(r) for r in qbo.sent("POST", "/refundreceipt")]
    assert receipt["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "5"}
    only_taxed = QuickBooks(
        rows={"TaxCode": [TAX_CODES[0]]}, routes={("GET", "/creditmemo/140"): lambda r: reply({"CreditMemo": memo})}
    )
    [refused] = only_taxed.session().push_payments([refund], KEY)
    assert isinstance(refused, Refused)
    assert "no tax code that charges no tax" in refused.errors[0]
    assert only_taxed.sent("POST", "/invoice") == []


# --- changes -----------------------------------------------------------------------------------------------------


def cdc_answer(invoices: list[dict[str, Any]], payments: list[dict[str, Any]], count: int = 0) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        return reply({"CDCResponse": [{"QueryResponse": [{"Invoice": invoices}, {"Payment": payments}]}], "time": TIME})

    return handle


def test_changes_within_30_days_come_from_cdc_with_an_overlap() -> None:
    paid_elsewhere = invoice_row("131", OTHER, LinkedTxn=[{"TxnId": "151", "TxnType": "Payment"}])
    qbo = QuickBooks(
        routes={
            ("GET", "/cdc"): cdc_answer(
                [
                    invoice_row("130", LinkedTxn=[{"TxnId": "150", "TxnType": "Payment"}]),
                    {"Id": "129", "status": "Deleted"},
                ],
                [payment_row("150", "130", "120.00", OURS), payment_row("151", "131", "5.00")],
            )
        },
        rows={"Invoice": [paid_elsewhere]},
    )
    changes = qbo.session().invoices_changed_since(NOW - dt.timedelta(days=2))
    [cdc] = qbo.sent("GET", "/cdc")
    assert query(cdc) == {
        "entities": "Invoice,Payment,CreditMemo",
        "changedSince": "2026-11-24T11:55:00+00:00",
        "minorversion": "75",
    }
    assert changes.as_of == NOW
    by_id = {d.external_id: d for d in changes.documents}
    assert set(by_id) == {"130", "131", "129"}
    assert [(p.external_id, p.our_id) for p in by_id["130"].payments] == [("150", OURS)]
    assert [(p.external_id, p.amount) for p in by_id["131"].payments] == [("151", D("5.00"))]
    assert (by_id["129"].voided, by_id["129"].status) == (True, "Deleted")
    assert qbo.queries() == ["SELECT * FROM Invoice WHERE Id IN ('131') STARTPOSITION 1 MAXRESULTS 1000"]


@pytest.mark.parametrize("since", [None, NOW - dt.timedelta(days=40)])
def test_changes_from_longer_ago_than_cdc_reaches_come_from_a_query(since: dt.datetime | None) -> None:
    qbo = QuickBooks(rows={"Invoice": [invoice_row("130")]})
    changes = qbo.session().invoices_changed_since(since)
    assert qbo.sent("GET", "/cdc") == []
    [text] = qbo.queries()
    where = "" if since is None else " WHERE MetaData.LastUpdatedTime >= '2026-10-17T11:55:00+00:00'"
    assert text == f"SELECT * FROM Invoice{where} ORDERBY MetaData.LastUpdatedTime STARTPOSITION 1 MAXRESULTS 1000"
    assert [d.external_id for d in changes.documents] == ["130"]
    assert changes.as_of == NOW


def test_a_full_cdc_answer_may_be_cut_so_the_query_reads_instead() -> None:
    many = [invoice_row(str(n)) for n in range(1000)]
    qbo = QuickBooks(routes={("GET", "/cdc"): cdc_answer(many, [])}, rows={"Invoice": [invoice_row("130")]})
    changes = qbo.session().invoices_changed_since(NOW - dt.timedelta(hours=1))
    assert [d.external_id for d in changes.documents] == ["130"]
    assert "MetaData.LastUpdatedTime >= '2026-11-26T10:55:00+00:00'" in qbo.queries()[0]


def test_changes_without_quickbooks_time_are_transient() -> None:
    qbo = QuickBooks(routes={("GET", "/cdc"): lambda r: reply({"CDCResponse": []})})
    with pytest.raises(Transient, match="tells no time"):
        qbo.session().invoices_changed_since(NOW - dt.timedelta(hours=1))


# --- errors ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "error", "words"),
    [
        (
            httpx.Response(
                401,
                json={
                    "fault": {
                        "error": [
                            {
                                "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                                "detail": "Token expired",
                                "code": "3200",
                            }
                        ],
                        "type": "AUTHENTICATION",
                    }
                },
            ),
            AuthExpired,
            "Token expired",
        ),
        (httpx.Response(401, text="Unauthorized"), AuthExpired, "HTTP 401"),
        (httpx.Response(403, text="Forbidden"), AuthExpired, "connect it again"),
        (
            fault("120", "Authorization Failure", status=403, kind="AuthorizationFault"),
            AuthExpired,
            "connect the company",
        ),
        (httpx.Response(429, text=""), RateLimited, "HTTP 429"),
        (fault("3001", "message=ThrottleExceeded", status=429, kind="SERVICE"), RateLimited, "ThrottleExceeded"),
        (
            httpx.Response(429, text=XML_THROTTLE, headers={"content-type": "application/xml"}),
            RateLimited,
            "request limit",
        ),
        (httpx.Response(403, text=XML_THROTTLE.replace("429", "403")), RateLimited, "ThrottleExceeded"),
        (fault("2020", "Required param missing", "Need CustomerRef"), Rejected, "Need CustomerRef (2020)"),
        (fault("6240", "Duplicate Name Exists Error"), Conflict, "Duplicate Name"),
        (fault("610", "Object Not Found"), RemoteNotFound, "Object Not Found"),
        (
            fault("10000", "An application error has occurred", status=500, kind="SystemFault"),
            Transient,
            "application error",
        ),
        (fault("6000", "A business validation error", status=200), Rejected, "business validation"),
        (httpx.Response(503, text="<html>Service Unavailable</html>"), Transient, "HTTP 503"),
        (httpx.Response(200, text="<html>maintenance</html>"), Transient, "not JSON"),
        (httpx.Response(404, text="Not Found"), RemoteNotFound, "HTTP 404"),
        (httpx.Response(405, text="Method Not Allowed"), Rejected, "HTTP 405"),
    ],
)
def test_answers_become_the_ports_errors(answer: httpx.Response, error: type[ConnectorError], words: str) -> None:
    qbo = QuickBooks(routes={("GET", "/query"): lambda r: answer})
    with pytest.raises(error, match=re.escape(words)) as raised:
        qbo.session().list_accounts()
    if isinstance(raised.value, RateLimited):
        assert raised.value.retry_after == 60


@pytest.mark.parametrize(
    "answer",
    [
        {"time": TIME},
        {"QueryResponse": {"Invoice": {"Id": "130"}}},
        {"QueryResponse": {"Invoice": [{"Id": "130", "TotalAmt": "lots"}]}},
        {"QueryResponse": {"Invoice": [{"TotalAmt": D(1), "Balance": D(1)}]}},
    ],
)
def test_an_answer_not_shaped_like_quickbooks_is_transient(answer: dict[str, Any]) -> None:
    qbo = QuickBooks(routes={("GET", "/query"): lambda r: reply(answer)})
    with pytest.raises(Transient, match="could not be read"):
        qbo.session().get_invoices(["130"])


@pytest.mark.parametrize(
    "failure", [httpx.ConnectTimeout("timed out"), httpx.ReadTimeout("timed out"), httpx.ConnectError("refused")]
)
def test_a_call_that_gets_no_answer(failure: httpx.RequestError) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise failure

    qbo = QuickBooks(routes={("GET", "/query"): handle})
    with pytest.raises(Transient, match="QuickBooks"):
        qbo.session().list_accounts()
    for _ in range(9):  # the permit of the failed call was handed back: all ten may be in flight again
        qbo.limiter.acquire(REALM)
    qbo.clock.now += 1 + QUICKBOOKS_LIMITS.margin
    assert qbo.limiter.acquire(REALM)


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(500, text="boom"), Transient),
        (httpx.Response(401, text="Unauthorized"), AuthExpired),
        (fault("1040", "Batch size exceeds allowed limit"), Rejected),
        (reply({"BatchItemResponse": [{"bId": "1", **fault_item("3001", "ThrottleExceeded")}]}), RateLimited),
        (reply({"BatchItemResponse": []}), Transient),
        (reply({"BatchItemResponse": [{"bId": "1", "Customer": "nonsense"}]}), Transient),
    ],
)
def test_a_batch_that_fails_whole(answer: httpx.Response, error: type[ConnectorError]) -> None:
    qbo = QuickBooks(routes={("POST", "/batch"): lambda r: answer})
    with pytest.raises(error):
        qbo.session().push_contacts([ContactData(OURS, "Acme Ltd", "")], KEY)


def test_after_a_throttle_nothing_is_sent_for_60_seconds() -> None:
    qbo = QuickBooks(routes={("GET", "/query"): lambda r: httpx.Response(429, text=XML_THROTTLE)})
    with pytest.raises(RateLimited):
        qbo.session().list_accounts()
    with pytest.raises(RateLimited) as waited:
        qbo.session().list_accounts()
    assert waited.value.retry_after == pytest.approx(60)
    assert len(qbo.requests) == 1
    qbo.clock.now += 60
    qbo.routes[("GET", "/query")] = lambda r: reply({"QueryResponse": {}, "time": TIME})
    assert qbo.session().list_accounts() == []


# --- OAuth -------------------------------------------------------------------------------------------------------

CLIENT = OAuthClient("ABqc5rRvGx", "s3cr3t")


def oauth(handler: Handler, client: OAuthClient = CLIENT) -> tuple[Any, list[httpx.Request]]:
    requests: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return handler(request)

    connector = QuickBooksConnector(clock=FixedClock(NOW), limiter=CountingLimiter(QUICKBOOKS_LIMITS, Clock()))
    return connector.oauth(client, httpx.Client(transport=httpx.MockTransport(record))), requests


def test_the_authorize_url() -> None:
    flow, _ = oauth(lambda r: httpx.Response(500))
    url = flow.authorize_url("st4te", "https://flexbill.example/accounting/callback")
    assert url.startswith("https://appcenter.intuit.com/connect/oauth2?")
    assert query(httpx.Request("GET", url)) == {
        "client_id": "ABqc5rRvGx",
        "response_type": "code",
        "scope": "com.intuit.quickbooks.accounting",
        "redirect_uri": "https://flexbill.example/accounting/callback",
        "state": "st4te",
    }


def tokens_answer(request: httpx.Request) -> httpx.Response:
    return reply(
        {
            "access_token": "new-access",
            "token_type": "bearer",
            "expires_in": 3600,
            "refresh_token": "new-refresh",
            "x_refresh_token_expires_in": 8726400,
        }
    )


def test_a_code_and_a_refresh_with_basic_client_auth() -> None:
    flow, requests = oauth(tokens_answer)
    tokens = flow.exchange_code("c0de", "https://flexbill.example/cb")
    assert (tokens.access_token, tokens.refresh_token) == ("new-access", "new-refresh")
    assert tokens.expires_at == NOW + dt.timedelta(seconds=3600)
    flow.refresh("old-refresh")
    exchange, refresh = requests
    assert str(exchange.url) == "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
    assert exchange.headers["authorization"] == "Basic " + base64.b64encode(b"ABqc5rRvGx:s3cr3t").decode()
    assert parse_qs(exchange.content.decode()) == {
        "grant_type": ["authorization_code"],
        "code": ["c0de"],
        "redirect_uri": ["https://flexbill.example/cb"],
    }
    assert parse_qs(refresh.content.decode()) == {"grant_type": ["refresh_token"], "refresh_token": ["old-refresh"]}


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(400, json={"error": "invalid_grant"}), AuthExpired),
        (httpx.Response(401, json={"error": "invalid_client"}), AuthExpired),
        (httpx.Response(400, json={"error": "invalid_request"}), Rejected),
        (httpx.Response(502, text="Bad gateway"), Transient),
        (reply({"access_token": "a", "expires_in": 3600}), Transient),
    ],
)
def test_token_refusals(answer: httpx.Response, error: type[ConnectorError]) -> None:
    flow, _ = oauth(lambda r: answer)
    with pytest.raises(error):
        flow.refresh("old-refresh")


def test_the_company_is_the_realm_of_the_callback_named_by_its_company_info() -> None:
    flow, requests = oauth(
        lambda r: reply({"CompanyInfo": {"Id": "1", "CompanyName": "Demo Coworking Ltd"}}),
        OAuthClient("any", "any", "http://127.0.0.1:8001/quickbooks"),
    )
    assert flow.tenants("access", {"code": "c", "state": "s", "realmId": REALM}) == [
        Tenant(REALM, "Demo Coworking Ltd")
    ]
    [request] = requests
    assert str(request.url) == (
        f"http://127.0.0.1:8001/quickbooks/v3/company/{REALM}/companyinfo/{REALM}?minorversion=75"
    )
    assert request.headers["authorization"] == "Bearer access"
    with pytest.raises(Rejected, match="no realmId"):
        flow.tenants("access", {"code": "c"})


def test_the_company_of_a_refused_token() -> None:
    flow, _ = oauth(lambda r: httpx.Response(401, text="Unauthorized"))
    with pytest.raises(AuthExpired):
        flow.tenants("access", {"realmId": REALM})


# --- the descriptor and webhooks ---------------------------------------------------------------------------------


def test_the_descriptor_is_registered_beside_xero() -> None:
    connector = connectors()["quickbooks"]
    assert isinstance(connector, Connector)
    assert (connector.key, connector.display_name) == ("quickbooks", "QuickBooks Online")
    assert {"invoices", "credit_notes", "payments", "pdf", "webhooks"} <= connector.capabilities


def test_webhooks_through_the_connector() -> None:
    body = json.dumps(
        [
            {
                "specversion": "1.0",
                "id": "e1",
                "type": "qbo.payment.created.v1",
                "intuitentityid": "150",
                "intuitaccountid": REALM,
            }
        ]
    ).encode()
    signature = base64.b64encode(hmac.new(b"verifier", body, hashlib.sha256).digest()).decode()
    connector = QuickBooksConnector(limiter=CountingLimiter(QUICKBOOKS_LIMITS, Clock()))
    [event] = connector.webhook_events(body, {"intuit-signature": signature}, "verifier")
    assert (event.event_id, event.tenant_id, event.category, event.resource_id) == ("e1", REALM, "payment", "150")
    with pytest.raises(BadSignature):
        connector.webhook_events(body, {"intuit-signature": signature}, "another token")
    unreadable = b"[1]"
    good = base64.b64encode(hmac.new(b"verifier", unreadable, hashlib.sha256).digest()).decode()
    with pytest.raises(Rejected, match="could not be read"):
        connector.webhook_events(unreadable, {"intuit-signature": good}, "verifier")


# --- the counting limiter ----------------------------------------------------------------------------------------


def test_ten_calls_a_second() -> None:
    clock = Clock()
    limiter = CountingLimiter(QUICKBOOKS_LIMITS, clock)
    for n in range(10):
        clock.now = n / 16
        limiter.release(limiter.acquire(REALM))
    with pytest.raises(RateLimited, match="10 calls in 1 s") as waited:
        limiter.acquire(REALM)
    # The first call, sent at 0, leaves the second at 1, and the margin for its way to QuickBooks after that.
    margin = QUICKBOOKS_LIMITS.margin
    assert waited.value.retry_after == pytest.approx(1 + margin - 9 / 16)
    limiter.acquire("another company")  # each company counts its own
    clock.now = 1.0
    with pytest.raises(RateLimited):
        limiter.acquire(REALM)
    clock.now = 1.0 + margin + 0.001
    limiter.acquire(REALM)


def test_a_call_a_window_apart_here_may_land_in_one_window_there() -> None:
    """Calls are counted when let through; QuickBooks counts them when they arrive, later by a varying amount. The
    margin keeps a call that arrived late and one sent a window after it out of one QuickBooks window."""
    clock = Clock()
    limiter = CountingLimiter(CountedLimits(windows=(Window(2, 1.0),), margin=0.25), clock)
    limiter.release(limiter.acquire(REALM))  # let through at 0, arrives at 0.2 (a big batch to write)
    clock.now = 0.5
    limiter.release(limiter.acquire(REALM))
    clock.now = 1.1  # a window after the first here, but only 0.9 s after it arrived there
    with pytest.raises(RateLimited):
        limiter.acquire(REALM)
    clock.now = 1.26
    limiter.acquire(REALM)


def test_500_calls_a_minute() -> None:
    clock = Clock()
    limiter = CountingLimiter(replace(QUICKBOOKS_LIMITS, margin=0.0), clock)  # the windows' arithmetic alone
    for second in range(50):
        for n in range(10):  # 10 in each second, the most a second allows: only the minute's count stops them
            clock.now = second + n / 64
            limiter.release(limiter.acquire(REALM))
    clock.now = 50.0
    with pytest.raises(RateLimited, match="500 calls in 60 s") as waited:
        limiter.acquire(REALM)
    assert waited.value.retry_after == pytest.approx(10.0)
    clock.now = 60.0
    limiter.acquire(REALM)


def test_40_batch_calls_a_minute_and_other_calls_go_on() -> None:
    clock = Clock()
    limiter = CountingLimiter(QUICKBOOKS_LIMITS, clock)
    for n in range(40):
        clock.now = n / 2
        limiter.release(limiter.acquire(REALM, batch=True))
    with pytest.raises(RateLimited, match="40 batch calls") as waited:
        limiter.acquire(REALM, batch=True)
    assert waited.value.retry_after == pytest.approx(60 + QUICKBOOKS_LIMITS.margin - 19.5)
    limiter.release(limiter.acquire(REALM))


def test_ten_at_once() -> None:
    clock = Clock()
    limiter = CountingLimiter(CountedLimits(windows=(Window(500, 60.0),), concurrent=10, busy_wait=1.5), clock)
    permits = [limiter.acquire(REALM) for _ in range(10)]
    with pytest.raises(RateLimited, match="10 calls are in flight") as waited:
        limiter.acquire(REALM)
    assert waited.value.retry_after == 1.5
    limiter.release(permits[0])
    limiter.acquire(REALM)


def test_limits_must_allow_something() -> None:
    with pytest.raises(ValueError, match="at least one call"):
        Window(0, 60.0)
