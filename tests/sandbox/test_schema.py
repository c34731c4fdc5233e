"""Every endpoint the sandbox implements answers in the shape of Xero's official OpenAPI specs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.support import Xero, line, validate


def test_settings_endpoints_match_the_spec(xero: Xero) -> None:
    organisation = validate(xero.get("Organisation"), "/Organisation", "get")["Organisations"][0]
    assert organisation["Name"] == "Demo Coworking Ltd"
    assert organisation["BaseCurrency"] == "GBP"
    assert organisation["OrganisationID"] == xero.tenant_id
    currencies = validate(xero.get("Currencies"), "/Currencies", "get")["Currencies"]
    assert [c["Code"] for c in currencies] == ["GBP", "EUR"]

    accounts = validate(xero.get("Accounts"), "/Accounts", "get")["Accounts"]
    by_code = {a["Code"]: a for a in accounts}
    assert {"090", "091", "200", "260", "610", "820", "860"} <= set(by_code)
    assert by_code["091"]["EnablePaymentsToAccount"] is True
    assert by_code["090"]["Type"] == "BANK"
    one = validate(xero.get(f"Accounts/{by_code['200']['AccountID']}"), "/Accounts/{AccountID}", "get")
    assert one["Accounts"][0]["Name"] == "Sales"

    rates = validate(xero.get("TaxRates"), "/TaxRates", "get")["TaxRates"]
    names = {r["TaxType"]: r["Name"] for r in rates}
    assert names["OUTPUT2"] == "20% (VAT on Income)"
    assert names["ZERORATEDOUTPUT"] == "Zero Rated Income"
    assert names["EXEMPTOUTPUT"] == "Exempt Income"
    assert names["NONE"] == "No VAT"
    assert names["TAX001"] == "19% German VAT"
    german = validate(xero.get("TaxRates/TAX001"), "/TaxRates/{TaxType}", "get")["TaxRates"][0]
    assert german["EffectiveRate"] == 19
    assert german["TaxComponents"][0]["Rate"] == 19

    created = xero.put("TaxRates", {"TaxRates": [{"Name": "15% Test", "TaxComponents": [{"Name": "GST", "Rate": 15}]}]})
    assert validate(created, "/TaxRates", "put")["TaxRates"][0]["TaxType"] == "TAX002"

    tracking = validate(xero.get("TrackingCategories"), "/TrackingCategories", "get")["TrackingCategories"]
    assert tracking[0]["Name"] == "Location"
    assert [o["Name"] for o in tracking[0]["Options"]] == ["London", "Berlin"]
    one_category = xero.get(f"TrackingCategories/{tracking[0]['TrackingCategoryID']}")
    validate(one_category, "/TrackingCategories/{TrackingCategoryID}", "get")


def test_contact_endpoints_match_the_spec(xero: Xero) -> None:
    address = {"AddressType": "POBOX", "AddressLine1": "1 Main St", "City": "London", "PostalCode": "N1 1AA"}
    created = xero.put(
        "Contacts",
        {
            "Contacts": [
                {
                    "Name": "Acme Ltd",
                    "ContactNumber": "C-1",
                    "EmailAddress": "ap@acme.example",
                    "TaxNumber": "GB999999973",
                    "Addresses": [address],
                }
            ]
        },
    )
    contact = validate(created, "/Contacts", "put")["Contacts"][0]
    contact_id = contact["ContactID"]
    validate(xero.post("Contacts", {"Contacts": [{"Name": "Beta GmbH"}]}), "/Contacts", "post")
    validate(xero.get("Contacts"), "/Contacts", "get")
    paged = validate(xero.get("Contacts", params={"page": 1, "pageSize": 1}), "/Contacts", "get")
    assert paged["pagination"] == {"page": 1, "pageSize": 1, "pageCount": 2, "itemCount": 2}
    validate(xero.get(f"Contacts/{contact_id}"), "/Contacts/{ContactID}", "get")
    validate(xero.get("Contacts/C-1"), "/Contacts/{ContactNumber}", "get")
    updated = xero.post(f"Contacts/{contact_id}", {"Contacts": [{"EmailAddress": "billing@acme.example"}]})
    assert validate(updated, "/Contacts/{ContactID}", "post")["Contacts"][0]["EmailAddress"] == "billing@acme.example"

    duplicate = xero.put("Contacts", {"Contacts": [{"Name": "Acme Ltd"}]})
    assert duplicate.status_code == 400
    error = validate(duplicate, "/Contacts", "put")
    assert error["Type"] == "ValidationException"
    bad_update = xero.post(f"Contacts/{contact_id}", {"Contacts": [{"Name": "Beta GmbH"}]})
    assert bad_update.status_code == 400
    validate(bad_update, "/Contacts/{ContactID}", "post")


def _documents(xero: Xero) -> tuple[str, dict[str, Any], dict[str, Any]]:
    contact_id = xero.contact()["ContactID"]
    invoice = xero.invoice(contact_id, line(amount="120.00"))
    note = xero.credit_note(contact_id, line(description="Refund of one day", amount="20.00"))
    return contact_id, invoice, note


def test_invoice_endpoints_match_the_spec(xero: Xero) -> None:
    contact_id = xero.contact()["ContactID"]
    draft = {"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "LineItems": [line()], "Reference": "Nov"}
    invoice = validate(xero.put("Invoices", {"Invoices": [draft]}), "/Invoices", "put")["Invoices"][0]
    invoice_id = invoice["InvoiceID"]
    posted = xero.post("Invoices", {"Invoices": [{**draft, "Reference": "second"}]})
    validate(posted, "/Invoices", "post")
    validate(xero.get("Invoices"), "/Invoices", "get")
    paged = validate(xero.get("Invoices", params={"page": 1}), "/Invoices", "get")
    assert paged["pagination"]["itemCount"] == 2
    assert paged["Invoices"][0]["LineItems"]
    validate(xero.get(f"Invoices/{invoice_id}"), "/Invoices/{InvoiceID}", "get")
    approve = {"Status": "AUTHORISED", "DueDate": "2026-11-30"}
    validate(xero.post(f"Invoices/{invoice_id}", {"Invoices": [approve]}), "/Invoices/{InvoiceID}", "post")

    bad = {**draft, "LineItems": [line(AccountCode="999")]}
    rejected = xero.put("Invoices", {"Invoices": [bad]})
    assert rejected.status_code == 400
    validate(rejected, "/Invoices", "put")
    mixed = xero.post("Invoices", {"Invoices": [draft, bad]}, params={"summarizeErrors": "false"})
    assert mixed.status_code == 200
    elements = validate(mixed, "/Invoices", "post")["Invoices"]
    assert [e["StatusAttributeString"] for e in elements] == ["OK", "ERROR"]
    bad_update = xero.post(f"Invoices/{invoice_id}", {"Invoices": [{"Status": "DRAFT"}]})
    assert bad_update.status_code == 400
    validate(bad_update, "/Invoices/{InvoiceID}", "post")
    pdf = xero.get(f"Invoices/{invoice_id}/pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"


def test_credit_note_and_allocation_endpoints_match_the_spec(xero: Xero) -> None:
    contact_id, invoice, note = _documents(xero)
    note_id = note["CreditNoteID"]
    draft = {"Type": "ACCRECCREDIT", "Contact": {"ContactID": contact_id}, "LineItems": [line()]}
    validate(xero.put("CreditNotes", {"CreditNotes": [draft]}), "/CreditNotes", "put")
    validate(xero.post("CreditNotes", {"CreditNotes": [draft]}), "/CreditNotes", "post")
    validate(xero.get("CreditNotes"), "/CreditNotes", "get")
    validate(xero.get("CreditNotes", params={"page": 1}), "/CreditNotes", "get")
    validate(xero.get(f"CreditNotes/{note_id}"), "/CreditNotes/{CreditNoteID}", "get")
    changed = xero.post(f"CreditNotes/{note_id}", {"CreditNotes": [{"Reference": "Goodwill"}]})
    validate(changed, "/CreditNotes/{CreditNoteID}", "post")
    rejected = xero.put("CreditNotes", {"CreditNotes": [{**draft, "Contact": {}}]})
    assert rejected.status_code == 400
    validate(rejected, "/CreditNotes", "put")

    allocation = {
        "Allocations": [{"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Amount": "24.00", "Date": "2026-11-04"}]
    }
    allocated = xero.put(f"CreditNotes/{note_id}/Allocations", allocation)
    body = validate(allocated, "/CreditNotes/{CreditNoteID}/Allocations", "put")
    allocation_id = body["Allocations"][0]["AllocationID"]
    too_much = xero.put(f"CreditNotes/{note_id}/Allocations", allocation)
    assert too_much.status_code == 400
    validate(too_much, "/CreditNotes/{CreditNoteID}/Allocations", "put")
    deleted = xero.call("DELETE", f"CreditNotes/{note_id}/Allocations/{allocation_id}")
    assert validate(deleted, "/CreditNotes/{CreditNoteID}/Allocations/{AllocationID}", "delete")["IsDeleted"] is True
    assert xero.get(f"CreditNotes/{note_id}/pdf").headers["content-type"] == "application/pdf"


def test_payment_endpoints_match_the_spec(xero: Xero) -> None:
    _, invoice, _ = _documents(xero)
    payment = {
        "Invoice": {"InvoiceID": invoice["InvoiceID"]},
        "Account": {"Code": "090"},
        "Date": "2026-11-05",
        "Amount": "50.00",
        "Reference": "BACS 1",
    }
    created = validate(xero.put("Payments", {"Payments": [payment]}), "/Payments", "put")["Payments"][0]
    validate(xero.post("Payments", {**payment, "Amount": "10.00"}), "/Payments", "post")
    validate(xero.get("Payments"), "/Payments", "get")
    validate(xero.get("Payments", params={"page": 1}), "/Payments", "get")
    validate(xero.get(f"Payments/{created['PaymentID']}"), "/Payments/{PaymentID}", "get")
    too_much = xero.put("Payments", {"Payments": [{**payment, "Amount": "1000.00"}]})
    assert too_much.status_code == 400
    validate(too_much, "/Payments", "put")
    post_too_much = xero.post("Payments", {**payment, "Amount": "1000.00"})
    assert post_too_much.status_code == 400
    validate(post_too_much, "/Payments", "post")
    deleted = xero.post(f"Payments/{created['PaymentID']}", {"Payments": [{"Status": "DELETED"}]})
    assert validate(deleted, "/Payments/{PaymentID}", "post")["Payments"][0]["Status"] == "DELETED"
    again = xero.post(f"Payments/{created['PaymentID']}", {"Status": "DELETED"})
    assert again.status_code == 400
    validate(again, "/Payments/{PaymentID}", "post")


@pytest.mark.parametrize(
    ("resource", "path"),
    [("Invoices", "/Invoices"), ("Contacts", "/Contacts"), ("CreditNotes", "/CreditNotes"), ("Payments", "/Payments")],
)
def test_malformed_json_is_a_400_in_the_error_shape(xero: Xero, resource: str, path: str) -> None:
    response = xero.http.request(
        "PUT",
        f"/xero/api.xro/2.0/{resource}",
        content=b"{not json",
        headers=xero.headers({"Content-Type": "application/json"}),
    )
    assert response.status_code == 400
    assert validate(response, path, "put")["Type"] == "PostDataInvalidException"
