"""The query language subset: filters, ordering, paging, counts, and the errors for what QuickBooks refuses."""

from __future__ import annotations

from datetime import timedelta

from flexbill.sandbox import SandboxClock
from tests.sandbox.quickbooks.support import QuickBooks, fault_code, line


def names(response_body: dict[str, object], entity: str = "Customer") -> list[str]:
    found = response_body["QueryResponse"]
    assert isinstance(found, dict)
    return [item["DisplayName"] for item in found.get(entity, [])]


def test_filters_order_and_paging(qbo: QuickBooks) -> None:
    for name in ("Acme Ltd", "Beta GmbH", "Gamma Ltd", "Delta LLP"):
        qbo.customer(name)
    assert names(qbo.query("select * from Customer where DisplayName like '%ltd' orderby DisplayName").json()) == [
        "Acme Ltd",
        "Gamma Ltd",
    ]
    assert names(qbo.query("SELECT * FROM Customer ORDERBY DisplayName DESC MAXRESULTS 2").json()) == [
        "Gamma Ltd",
        "Delta LLP",
    ]
    page = qbo.query("select * from Customer orderby DisplayName startposition 3 maxresults 2").json()
    assert names(page) == ["Delta LLP", "Gamma Ltd"]
    assert page["QueryResponse"]["startPosition"] == 3
    assert page["QueryResponse"]["maxResults"] == 2
    assert "totalCount" not in page["QueryResponse"]
    assert names(qbo.query("select * from Customer where DisplayName = 'beta gmbh'").json()) == ["Beta GmbH"]
    assert names(qbo.query("select * from Customer where DisplayName in ('Acme Ltd', 'Delta LLP')").json()) == [
        "Acme Ltd",
        "Delta LLP",
    ]
    counted = qbo.query("select count(*) from Customer where DisplayName like 'G%'").json()["QueryResponse"]
    assert counted == {"totalCount": 1}
    assert qbo.query("select * from Customer where DisplayName = 'Nobody'").json()["QueryResponse"] == {}


def test_transactions_by_customer_doc_number_amount_and_update_time(qbo: QuickBooks, clock: SandboxClock) -> None:
    acme = qbo.customer("Acme Ltd")
    beta = qbo.customer("Beta GmbH")
    first = qbo.invoice(acme["Id"], line("10.00"))
    clock.advance(timedelta(hours=1))
    second = qbo.invoice(acme["Id"], line("100.00"))
    qbo.invoice(beta["Id"], line("50.00"))
    mine = qbo.query(f"select * from Invoice where CustomerRef = '{acme['Id']}'").json()["QueryResponse"]["Invoice"]
    assert [i["Id"] for i in mine] == [first["Id"], second["Id"]]
    by_number = qbo.query(f"select * from Invoice where DocNumber = '{second['DocNumber']}'").json()
    assert [i["Id"] for i in by_number["QueryResponse"]["Invoice"]] == [second["Id"]]
    big = qbo.query("select * from Invoice where TotalAmt >= '60.00' and CustomerRef = '{}'".format(acme["Id"])).json()
    assert [i["Id"] for i in big["QueryResponse"]["Invoice"]] == [second["Id"]]
    recent = qbo.query("select * from Invoice where MetaData.LastUpdatedTime > '2026-11-02T10:00:00+00:00'").json()
    assert {i["Id"] for i in recent["QueryResponse"]["Invoice"]} == {second["Id"], str(int(second["Id"]) + 1)}
    by_id = qbo.query(f"select Id, DocNumber from Invoice where Id = '{first['Id']}'").json()["QueryResponse"]
    assert by_id["Invoice"][0]["DocNumber"] == first["DocNumber"]
    assert "Line" not in by_id["Invoice"][0]


def test_post_query_with_application_text(qbo: QuickBooks) -> None:
    qbo.customer("Acme Ltd")
    response = qbo.post(
        "query",
        raw=b"select * from Customer where DisplayName = 'Acme Ltd'",
        headers={"Content-Type": "application/text"},
    )
    assert names(response.json()) == ["Acme Ltd"]


def test_what_quickbooks_cannot_query_is_a_clear_fault(qbo: QuickBooks) -> None:
    for text, code in (
        ("select * from Customer where DisplayName = 'a' or DisplayName = 'b'", "4000"),
        ("select * from Invoice join Customer", "4000"),
        ("select * from Invoice group by CustomerRef", "4000"),
        ("select * from Invoice where (TotalAmt > '1')", "4000"),
        ("select * from Widget", "4001"),
        ("select * from Invoice where CustomField = 'inv_1'", "4001"),
        ("select from Invoice", "4000"),
        ("select * from Invoice maxresults lots", "4000"),
    ):
        response = qbo.query(text)
        assert response.status_code == 400, text
        assert fault_code(response) == code, text
    error = qbo.query("select * from Customer where Id = '1' OR Id = '2'").json()["Fault"]["Error"][0]
    assert error["Message"] == "Error parsing query"
    assert error["Detail"].startswith("QueryParserError")


def test_maxresults_is_capped_at_1000(qbo: QuickBooks) -> None:
    qbo.customer("Acme Ltd")
    capped = qbo.query("select * from Customer maxresults 5000").json()["QueryResponse"]
    assert capped["maxResults"] == 1
    items = qbo.query("select * from Item").json()["QueryResponse"]["Item"]
    assert {"Memberships", "Meeting rooms and extras", "Day passes"} <= {i["Name"] for i in items}
    codes = qbo.query("select * from TaxCode").json()["QueryResponse"]["TaxCode"]
    assert {"20.0% S", "5.0% R", "0.0% Z", "Exempt", "No VAT", "19.0% DE"} <= {c["Name"] for c in codes}
    accounts = qbo.query("select * from Account where Name = 'Undeposited Funds'").json()["QueryResponse"]
    assert accounts["Account"][0]["AccountType"] == "Other Current Asset"
    locations = qbo.query("select * from Department").json()["QueryResponse"]["Department"]
    assert [d["Name"] for d in locations] == ["London", "Berlin"]
