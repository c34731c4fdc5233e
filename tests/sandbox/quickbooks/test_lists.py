"""Items, and the lists the API only reads: accounts, tax codes and rates, locations, vendors, employees."""

from __future__ import annotations

from decimal import Decimal

from tests.sandbox.quickbooks.support import QuickBooks, dec, fault_code


def test_items_need_a_unique_name_and_an_income_account(qbo: QuickBooks) -> None:
    item = qbo.ok(
        qbo.post(
            "item",
            {
                "Name": "Virtual office",
                "Type": "Service",
                "IncomeAccountRef": {"value": "2"},
                "UnitPrice": "49.00",
                "SalesTaxCodeRef": {"value": "2"},
            },
        ),
        "Item",
    )
    assert item["IncomeAccountRef"] == {"value": "2", "name": "Other Revenue"}
    assert dec(item["UnitPrice"]) == Decimal("49.00")
    assert fault_code(qbo.post("item", {"Name": "virtual OFFICE", "IncomeAccountRef": {"value": "2"}})) == "6240"
    assert fault_code(qbo.post("item", {"Name": "Lockers", "Type": "Service"})) == "2020"
    assert fault_code(qbo.post("item", {"Name": "Lockers", "IncomeAccountRef": {"value": "999"}})) == "2500"
    assert (
        fault_code(qbo.post("item", {"Name": "Lockers", "Type": "Gadget", "IncomeAccountRef": {"value": "1"}}))
        == "2170"
    )
    deleted = qbo.post("item", {"Id": item["Id"], "SyncToken": "0"}, params={"operation": "delete"})
    assert fault_code(deleted) == "500"


def test_read_only_lists(qbo: QuickBooks) -> None:
    account = qbo.ok(qbo.get("account/35"), "Account")
    assert account["Name"] == "Business Bank Account"
    assert account["AccountType"] == "Bank"
    assert fault_code(qbo.post("account", {"Name": "New bank"})) == "500"
    code = qbo.ok(qbo.get("taxcode/7"), "TaxCode")
    assert code["Name"] == "19.0% DE"
    rate_id = code["SalesTaxRateList"]["TaxRateDetail"][0]["TaxRateRef"]["value"]
    assert dec(qbo.ok(qbo.get(f"taxrate/{rate_id}"), "TaxRate")["RateValue"]) == 19
    assert fault_code(qbo.post("taxcode", {"Name": "25%"})) == "500"
    assert qbo.ok(qbo.get("department/2"), "Department")["Name"] == "Berlin"
    assert qbo.ok(qbo.get("vendor/56"), "Vendor")["DisplayName"] == "Office Supplies Direct"
    assert qbo.ok(qbo.get("employee/57"), "Employee")["DisplayName"] == "Sam Manager"
    assert fault_code(qbo.get("widget/1")) == "500"
    unknown = qbo.query("select * from Invoice where Colour = 'red'")
    assert fault_code(unknown) == "4001"


def test_a_body_that_is_not_json_is_a_fault(qbo: QuickBooks) -> None:
    broken = qbo.post("customer", raw=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400
    assert fault_code(broken) == "2010"
    assert fault_code(qbo.post("customer", [1, 2])) == "2010"
