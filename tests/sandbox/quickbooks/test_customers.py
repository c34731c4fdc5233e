"""Customers: DisplayName unique across customers, vendors and employees; the fields a connector relies on."""

from __future__ import annotations

from tests.sandbox.quickbooks.support import QuickBooks, dec, fault_code, line


def test_a_customer_keeps_the_fields_a_connector_writes(qbo: QuickBooks) -> None:
    customer = qbo.customer(
        "Acme Ltd",
        CompanyName="Acme Limited",
        GivenName="Ada",
        FamilyName="Lovelace",
        PrimaryEmailAddr={"Address": "billing@acme.example"},
        BillAddr={"Line1": "1 Main St", "City": "London", "PostalCode": "N1 1AA", "Country": "GB"},
        Notes="flexbill:cus_42",
        PrimaryTaxIdentifier="GB999999973",
        CurrencyRef={"value": "EUR"},
    )
    assert customer["Id"]
    assert customer["SyncToken"] == "0"
    assert customer["domain"] == "QBO"
    assert customer["sparse"] is False
    assert customer["Notes"] == "flexbill:cus_42"
    assert customer["CompanyName"] == "Acme Limited"
    assert customer["PrimaryEmailAddr"] == {"Address": "billing@acme.example"}
    assert customer["BillAddr"]["City"] == "London"
    assert customer["PrimaryTaxIdentifier"] == "GB999999973"
    assert customer["CurrencyRef"] == {"value": "EUR", "name": "Euro"}
    assert customer["Active"] is True
    assert dec(customer["Balance"]) == 0
    assert customer["MetaData"]["CreateTime"] == "2026-11-02T09:30:00+00:00"
    read = qbo.ok(qbo.get(f"customer/{customer['Id']}"), "Customer")
    assert read == customer


def test_display_name_is_unique_across_customers_vendors_and_employees(qbo: QuickBooks) -> None:
    first = qbo.customer("Acme Ltd")
    for taken in ("acme ltd", "ACME LTD", "Office Supplies Direct", "sam manager"):
        response = qbo.post("customer", {"DisplayName": taken})
        assert response.status_code == 400, taken
        error = response.json()["Fault"]["Error"][0]
        assert error["code"] == "6240"
        assert error["Message"] == "Duplicate Name Exists Error"
        assert error["Detail"].startswith("The name supplied already exists. : Another customer, vendor or employee")
        assert "Id=" in error["Detail"]
    assert (
        f"Id={first['Id']}" in qbo.post("customer", {"DisplayName": "acme ltd"}).json()["Fault"]["Error"][0]["Detail"]
    )
    count = qbo.query("select count(*) from Customer").json()["QueryResponse"]["totalCount"]
    assert count == 1


def test_renaming_onto_a_taken_name_is_refused_and_keeping_ones_own_name_is_not(qbo: QuickBooks) -> None:
    acme = qbo.customer("Acme Ltd")
    other = qbo.customer("Beta GmbH")
    clash = qbo.post(
        "customer", {"Id": other["Id"], "SyncToken": other["SyncToken"], "sparse": True, "DisplayName": "ACME Ltd"}
    )
    assert fault_code(clash) == "6240"
    same = qbo.post(
        "customer",
        {"Id": acme["Id"], "SyncToken": acme["SyncToken"], "sparse": True, "DisplayName": "Acme Ltd", "Notes": "x"},
    )
    assert same.status_code == 200


def test_display_name_is_derived_from_the_names_when_left_out(qbo: QuickBooks) -> None:
    person = qbo.ok(qbo.post("customer", {"GivenName": "Grace", "FamilyName": "Hopper"}), "Customer")
    assert person["DisplayName"] == "Grace Hopper"
    missing = qbo.post("customer", {"Notes": "no name"})
    assert fault_code(missing) == "2020"


def test_unknown_fields_and_currencies_are_refused(qbo: QuickBooks) -> None:
    assert fault_code(qbo.post("customer", {"DisplayName": "X", "CustomField": []})) == "2010"
    assert fault_code(qbo.post("customer", {"DisplayName": "X", "CurrencyRef": {"value": "USD"}})) == "2500"


def test_balance_follows_invoices_payments_and_credit_memos(qbo: QuickBooks) -> None:
    customer = qbo.customer()
    invoice = qbo.invoice(customer["Id"], line("100.00"))
    assert dec(qbo.ok(qbo.get(f"customer/{customer['Id']}"), "Customer")["Balance"]) == 120
    assert qbo.payment(customer["Id"], "50.00", ("Invoice", invoice["Id"], "50.00")).status_code == 200
    assert dec(qbo.ok(qbo.get(f"customer/{customer['Id']}"), "Customer")["Balance"]) == 70
    qbo.credit_memo(customer["Id"], line("10.00"))
    assert dec(qbo.ok(qbo.get(f"customer/{customer['Id']}"), "Customer")["Balance"]) == 58


def test_inactive_customers_are_left_out_of_queries_unless_asked_for(qbo: QuickBooks) -> None:
    customer = qbo.customer("Gone Ltd")
    qbo.ok(qbo.post("customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Active": False}), "Customer")
    assert qbo.query("select * from Customer").json()["QueryResponse"] == {}
    found = qbo.query("select * from Customer where Active = false").json()["QueryResponse"]["Customer"]
    assert [c["Id"] for c in found] == [customer["Id"]]
    assert (
        fault_code(qbo.post("customer", {"Id": customer["Id"], "SyncToken": "1"}, params={"operation": "delete"}))
        == "500"
    )
