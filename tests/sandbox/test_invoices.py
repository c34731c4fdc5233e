"""Sales invoices: numbering, tax and totals to the cent, validation in Xero's words, updates, lists and PDFs."""

from __future__ import annotations

import re
import zlib
from datetime import timedelta
from decimal import Decimal
from typing import Any

from flexbill.sandbox.clock import SandboxClock
from tests.sandbox.support import Xero, dec, line, validate


def _errors(response: Any) -> list[str]:
    return [m["Message"] for element in response.json()["Elements"] for m in element["ValidationErrors"]]


def test_invoices_and_credit_notes_share_one_number_sequence(xero: Xero) -> None:
    contact_id = xero.contact()["ContactID"]
    first = xero.invoice(contact_id)
    note = xero.credit_note(contact_id)
    second = xero.invoice(contact_id)
    assert [first["InvoiceNumber"], note["CreditNoteNumber"], second["InvoiceNumber"]] == [
        "INV-0001",
        "CN-0002",
        "INV-0003",
    ]


def test_a_given_number_is_kept_and_must_be_unique(xero: Xero) -> None:
    contact_id = xero.contact()["ContactID"]
    assert xero.invoice(contact_id, InvoiceNumber="FB-2026-001")["InvoiceNumber"] == "FB-2026-001"
    again = xero.put(
        "Invoices",
        {
            "Invoices": [
                {
                    "Type": "ACCREC",
                    "Contact": {"ContactID": contact_id},
                    "InvoiceNumber": "FB-2026-001",
                    "LineItems": [line()],
                }
            ]
        },
    )
    assert again.status_code == 400
    assert _errors(again) == ["Invoice # must be unique."]
    assert xero.invoice(contact_id)["InvoiceNumber"] == "INV-0001"  # the sequence is untouched by given numbers


def test_automatic_numbers_skip_a_number_already_given(xero: Xero) -> None:
    contact_id = xero.contact()["ContactID"]
    xero.invoice(contact_id, InvoiceNumber="INV-0001")
    assert xero.invoice(contact_id)["InvoiceNumber"] == "INV-0002"


def test_tax_is_rounded_per_line_half_up(xero: Xero) -> None:
    """Xero's own example: at 15% the lines 25.06, 25.61 and 25.63 carry 3.76, 3.84 and 3.84 (11.44, not 11.45)."""
    rate = xero.put("TaxRates", {"Name": "GST 15%", "TaxComponents": [{"Name": "GST", "Rate": "15"}]})
    tax_type = rate.json()["TaxRates"][0]["TaxType"]
    contact_id = xero.contact()["ContactID"]
    invoice = xero.invoice(
        contact_id, *(line(amount=amount, TaxType=tax_type) for amount in ("25.06", "25.61", "25.63"))
    )
    assert [dec(item["TaxAmount"]) for item in invoice["LineItems"]] == [
        Decimal("3.76"),
        Decimal("3.84"),
        Decimal("3.84"),
    ]
    assert dec(invoice["SubTotal"]) == Decimal("76.30")
    assert dec(invoice["TotalTax"]) == Decimal("11.44")
    assert dec(invoice["Total"]) == Decimal("87.74")
    assert dec(invoice["AmountDue"]) == Decimal("87.74")


def test_inclusive_and_no_tax_amounts(xero: Xero) -> None:
    contact_id = xero.contact()["ContactID"]
    inclusive = xero.invoice(contact_id, line(amount="120.00"), line(amount="10.01"), LineAmountTypes="Inclusive")
    # 120.00 holds 20.00 of VAT; 10.01 holds 1.668... -> 1.67
    assert [dec(item["TaxAmount"]) for item in inclusive["LineItems"]] == [Decimal("20.00"), Decimal("1.67")]
    assert (dec(inclusive["SubTotal"]), dec(inclusive["TotalTax"]), dec(inclusive["Total"])) == (
        Decimal("108.34"),
        Decimal("21.67"),
        Decimal("130.01"),
    )
    no_tax = xero.invoice(contact_id, line(amount="99.99"), LineAmountTypes="NoTax")
    assert no_tax["LineItems"][0]["TaxType"] == "NONE"
    assert (dec(no_tax["TotalTax"]), dec(no_tax["Total"])) == (Decimal("0.00"), Decimal("99.99"))


def test_an_explicit_tax_amount_is_kept(xero: Xero) -> None:
    contact_id = xero.contact()["ContactID"]
    invoice = xero.invoice(contact_id, line(amount="10.03", TaxAmount="2.00"))
    assert dec(invoice["LineItems"][0]["TaxAmount"]) == Decimal("2.00")  # Xero would compute 2.01
    assert dec(invoice["Total"]) == Decimal("12.03")


def test_quantities_discounts_and_unit_amount_places(xero: Xero) -> None:
    contact_id = xero.contact()["ContactID"]
    invoice = xero.invoice(
        contact_id,
        line(amount="12.345", Quantity="3"),
        line(description="Meeting room", amount="40.00", Quantity="2.5", DiscountRate="10", AccountCode="260"),
    )
    first, second = invoice["LineItems"]
    assert (dec(first["UnitAmount"]), dec(first["LineAmount"])) == (Decimal("12.35"), Decimal("37.05"))
    assert (dec(second["LineAmount"]), dec(second["TaxAmount"])) == (Decimal("90.00"), Decimal("18.00"))
    assert dec(invoice["TotalDiscount"]) == Decimal("10.00")
    precise = xero.put(
        "Invoices",
        {
            "Invoices": [
                {
                    "Type": "ACCREC",
                    "Contact": {"ContactID": contact_id},
                    "LineItems": [line(amount="0.1234", Quantity="100")],
                }
            ]
        },
        params={"unitdp": 4},
    ).json()["Invoices"][0]
    assert dec(precise["LineItems"][0]["UnitAmount"]) == Decimal("0.1234")
    assert dec(precise["LineItems"][0]["LineAmount"]) == Decimal("12.34")
    two_places = xero.get(f"Invoices/{precise['InvoiceID']}").json()["Invoices"][0]
    assert dec(two_places["LineItems"][0]["UnitAmount"]) == Decimal("0.12")
    four_places = xero.get(f"Invoices/{precise['InvoiceID']}", params={"unitdp": 4}).json()["Invoices"][0]
    assert dec(four_places["LineItems"][0]["UnitAmount"]) == Decimal("0.1234")


def test_validation_errors_in_xeros_words(xero: Xero) -> None:
    contact_id = xero.contact()["ContactID"]
    cases: dict[str, dict[str, Any]] = {
        "Account code '999' is not a valid code for this document.": {"LineItems": [line(AccountCode="999")]},
        "Account code '090' is not a valid code for this document.": {"LineItems": [line(AccountCode="090")]},
        "The TaxType code 'BOGUS' does not exist or cannot be used for this type of transaction.": {
            "LineItems": [line(TaxType="BOGUS")]
        },
        "The TaxType code 'INPUT2' does not exist or cannot be used for this type of transaction.": {
            "LineItems": [line(TaxType="INPUT2")]
        },
        "A Contact must be specified for this type of transaction": {"Contact": None},
        "The contact with ContactID 11111111-2222-4333-8444-555555555555 could not be found": {
            "Contact": {"ContactID": "11111111-2222-4333-8444-555555555555"}
        },
        "The description field is mandatory for each line item.": {"LineItems": [line(description="")]},
        "One or more line items must be specified": {"LineItems": []},
        "Invoice not of valid status for creation": {"Status": "PAID"},
        "Organisation is not subscribed to currency USD": {"CurrencyCode": "USD"},
        "DueDate must be specified for an approved invoice": {"DueDate": None},
    }
    for message, change in cases.items():
        invoice: dict[str, Any] = {
            "Type": "ACCREC",
            "Contact": {"ContactID": contact_id},
            "Status": "AUTHORISED",
            "DueDate": "2026-11-30",
            "LineItems": [line()],
            **change,
        }
        invoice = {key: value for key, value in invoice.items() if value is not None}
        response = xero.put("Invoices", {"Invoices": [invoice]})
        assert response.status_code == 400, message
        validate(response, "/Invoices", "put")
        assert message in _errors(response), (message, _errors(response))
    assert xero.get("Invoices").json()["Invoices"] == []


def test_summarized_errors_still_save_the_valid_invoices(xero: Xero) -> None:
    contact_id = xero.contact()["ContactID"]
    good = {"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "LineItems": [line()], "Reference": "good"}
    bad = {**good, "Reference": "bad", "LineItems": [line(AccountCode="999")]}
    summarized = xero.put("Invoices", {"Invoices": [good, bad, good]})
    assert summarized.status_code == 400
    elements = summarized.json()["Elements"]
    assert len(elements) == 1
    assert elements[0]["Reference"] == "bad"
    assert len(xero.get("Invoices").json()["Invoices"]) == 2  # no transaction across elements, as in Xero

    detailed = xero.put("Invoices", {"Invoices": [good, bad]}, params={"summarizeErrors": "false"})
    assert detailed.status_code == 200
    ok, error = detailed.json()["Invoices"]
    assert ok["StatusAttributeString"] == "OK"
    assert ok["InvoiceNumber"] == "INV-0003"
    assert error["StatusAttributeString"] == "ERROR"
    assert error["HasErrors"] is True
    assert error["ValidationErrors"] == [{"Message": "Account code '999' is not a valid code for this document."}]
    assert len(xero.get("Invoices").json()["Invoices"]) == 3


def test_a_contact_named_on_an_invoice_is_found_or_created(xero: Xero) -> None:
    existing = xero.contact("Acme Ltd")
    invoice = {"Type": "ACCREC", "Contact": {"Name": "acme  ltd"}, "LineItems": [line()]}
    found = xero.put("Invoices", {"Invoices": [invoice]}).json()["Invoices"][0]
    assert found["Contact"]["ContactID"] == existing["ContactID"]
    new = xero.put(
        "Invoices", {"Invoices": [{**invoice, "Contact": {"Name": "Newco", "EmailAddress": "a@newco.example"}}]}
    )
    contact = new.json()["Invoices"][0]["Contact"]
    assert contact["ContactID"] != existing["ContactID"]
    assert xero.get(f"Contacts/{contact['ContactID']}").json()["Contacts"][0]["EmailAddress"] == "a@newco.example"


def test_eur_invoices_tracking_and_reference(xero: Xero) -> None:
    contact_id = xero.contact("Berlin Startup GmbH")["ContactID"]
    invoice = xero.invoice(
        contact_id,
        line(amount="250.00", TaxType="TAX001", Tracking=[{"Name": "Location", "Option": "Berlin"}]),
        CurrencyCode="EUR",
        Reference="Membership 2026-11",
    )
    assert invoice["CurrencyCode"] == "EUR"
    assert dec(invoice["CurrencyRate"]) == Decimal("1.15")
    assert invoice["Reference"] == "Membership 2026-11"
    assert dec(invoice["TotalTax"]) == Decimal("47.50")
    assert invoice["LineItems"][0]["Tracking"][0]["Option"] == "Berlin"
    paris = line(Tracking=[{"Name": "Location", "Option": "Paris"}])
    bad = xero.put("Invoices", {"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "LineItems": [paris]})
    assert _errors(bad) == ["Tracking option 'Paris' is not an option of the category 'Location'"]


def test_updates_follow_the_status_rules(xero: Xero) -> None:
    contact_id = xero.contact()["ContactID"]
    draft = xero.put(
        "Invoices", {"Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "LineItems": [line()]}]}
    ).json()["Invoices"][0]
    assert draft["Status"] == "DRAFT"
    assert draft["InvoiceNumber"] == "INV-0001"
    line_id = draft["LineItems"][0]["LineItemID"]
    edited = xero.post(
        f"Invoices/{draft['InvoiceID']}",
        {
            "Invoices": [
                {
                    "LineItems": [
                        {"LineItemID": line_id, "UnitAmount": "150.00"},
                        line(description="Locker", amount="10.00"),
                    ],
                    "DueDate": "2026-11-30",
                    "Status": "AUTHORISED",
                }
            ]
        },
    ).json()["Invoices"][0]
    assert edited["Status"] == "AUTHORISED"
    assert edited["LineItems"][0]["LineItemID"] == line_id
    assert edited["LineItems"][0]["Description"] == "Hot desk, November"
    assert dec(edited["Total"]) == Decimal("192.00")

    back = xero.post(f"Invoices/{draft['InvoiceID']}", {"Status": "DRAFT"})
    assert _errors(back) == ["Invoice not of valid status for modification"]
    by_number = xero.post("Invoices", {"Invoices": [{"InvoiceNumber": "INV-0001", "Reference": "PO 77"}]})
    assert by_number.json()["Invoices"][0]["InvoiceID"] == draft["InvoiceID"]
    assert by_number.json()["Invoices"][0]["Reference"] == "PO 77"

    xero.control("POST", "invoices/INV-0001/pay", {"amount": "10.00"})
    with_payment = xero.post(f"Invoices/{draft['InvoiceID']}", {"Status": "VOIDED"})
    assert _errors(with_payment) == [
        "This document cannot be edited as it has a payment or credit note allocated to it."
    ]
    lines_locked = xero.post(f"Invoices/{draft['InvoiceID']}", {"LineItems": [line()]})
    assert lines_locked.status_code == 400

    other = xero.invoice(contact_id)
    voided = xero.post(f"Invoices/{other['InvoiceID']}", {"Status": "VOIDED"}).json()["Invoices"][0]
    assert voided["Status"] == "VOIDED"
    assert dec(voided["AmountDue"]) == Decimal("0.00")
    assert _errors(xero.post(f"Invoices/{other['InvoiceID']}", {"Reference": "x"})) == [
        "Invoice not of valid status for modification"
    ]
    deleted_draft = xero.put(
        "Invoices", {"Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "LineItems": [line()]}]}
    ).json()["Invoices"][0]
    gone = xero.post(f"Invoices/{deleted_draft['InvoiceID']}", {"Status": "DELETED"}).json()["Invoices"][0]
    assert gone["Status"] == "DELETED"


def test_list_filters_paging_and_if_modified_since(xero: Xero, clock: SandboxClock) -> None:
    acme = xero.contact("Acme Ltd")["ContactID"]
    beta = xero.contact("Beta GmbH")["ContactID"]
    first = xero.invoice(acme)
    clock.advance(timedelta(hours=1))
    second = xero.invoice(beta, Status="DRAFT")
    clock.advance(timedelta(hours=1))
    third = xero.invoice(beta, Reference="Special")

    def numbers(**params: Any) -> list[str]:
        response = xero.get("Invoices", params=params)
        assert response.status_code == 200, response.text
        return [i["InvoiceNumber"] for i in response.json()["Invoices"]]

    assert numbers() == ["INV-0001", "INV-0002", "INV-0003"]
    assert numbers(IDs=f"{first['InvoiceID']},{third['InvoiceID']}") == ["INV-0001", "INV-0003"]
    assert numbers(InvoiceNumbers="INV-0002") == ["INV-0002"]
    assert numbers(Statuses="DRAFT") == ["INV-0002"]
    assert numbers(ContactIDs=beta) == ["INV-0002", "INV-0003"]
    assert numbers(where='Status=="AUTHORISED"') == ["INV-0001", "INV-0003"]
    assert numbers(where=f'Contact.ContactID==Guid("{beta}") AND Status!="DRAFT"') == ["INV-0003"]
    assert numbers(where=f'(Contact.ContactID==Guid("{acme}") OR Reference=="Special")') == ["INV-0001", "INV-0003"]
    assert numbers(where="Date >= DateTime(2026, 11, 01) AND Total > 100") == ["INV-0001", "INV-0002", "INV-0003"]
    assert numbers(order="InvoiceNumber DESC") == ["INV-0003", "INV-0002", "INV-0001"]

    unpaged = xero.get("Invoices").json()
    assert "pagination" not in unpaged
    assert unpaged["Invoices"][0]["LineItems"] == []
    page = xero.get("Invoices", params={"page": 2, "pageSize": 2}).json()
    assert page["pagination"] == {"page": 2, "pageSize": 2, "pageCount": 2, "itemCount": 3}
    assert [i["InvoiceNumber"] for i in page["Invoices"]] == ["INV-0003"]
    assert page["Invoices"][0]["LineItems"]

    since = second["UpdatedDateUTC"]  # an MS-JSON date echoed back, as a poller does
    changed = xero.get("Invoices", headers={"If-Modified-Since": since}).json()["Invoices"]
    assert [i["InvoiceNumber"] for i in changed] == ["INV-0002", "INV-0003"]
    http_date = xero.get("Invoices", headers={"If-Modified-Since": "Mon, 02 Nov 2026 11:00:00 GMT"}).json()
    assert [i["InvoiceNumber"] for i in http_date["Invoices"]] == ["INV-0003"]
    clock.advance(timedelta(minutes=5))
    xero.control("POST", "invoices/INV-0001/pay", {})
    iso = xero.get("Invoices", headers={"If-Modified-Since": "2026-11-02T11:31:00Z"}).json()["Invoices"]
    assert [(i["InvoiceNumber"], i["Status"]) for i in iso] == [("INV-0001", "PAID")]


def test_bad_filters_are_refused_with_a_clear_message(xero: Xero) -> None:
    cases = {
        'Status IN ("PAID")': "Expected an operator",
        'Foo=="x"': "No property or field 'Foo' exists",
        'Status=="PAID" AND': "The filter ends too early",
        "Contact.ContactID==Guid(42)": "Guid(...) needs a quoted GUID",
        'Status=="PAID" ; DROP': "Unexpected character ';'",
    }
    for where, message in cases.items():
        response = xero.get("Invoices", params={"where": where})
        assert response.status_code == 400, where
        body = validate(response, "/Invoices", "put")  # the spec's Error shape (GET has no 400 in the spec)
        assert body["Type"] == "QueryParseException"
        assert message in body["Message"], (where, body["Message"])
    assert xero.get("Invoices", params={"order": "Nope"}).status_code == 400
    assert xero.get("Invoices", params={"IDs": "not-a-guid"}).status_code == 400
    assert xero.get("Invoices", headers={"If-Modified-Since": "yesterday"}).status_code == 400


def _pdf_text(pdf: bytes) -> str:
    """The text drawn on a PDF's pages (fpdf2 writes ``(text) Tj`` into deflated content streams)."""
    text = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.DOTALL):
        try:
            content = zlib.decompress(stream)
        except zlib.error:
            continue
        text += [m.decode("latin-1") for m in re.findall(rb"\((.*?)\) Tj", content)]
    return "\n".join(text)


def test_pdfs_of_approved_documents(xero: Xero) -> None:
    contact_id = xero.contact(
        "Acme Ltd", Addresses=[{"AddressType": "POBOX", "AddressLine1": "1 Main St", "City": "London"}]
    )["ContactID"]
    invoice = xero.invoice(contact_id, line(amount="120.00"), Reference="PO 1234")
    by_accept = xero.get(f"Invoices/{invoice['InvoiceID']}", headers={"Accept": "application/pdf"})
    assert by_accept.status_code == 200
    assert by_accept.headers["content-type"] == "application/pdf"
    assert by_accept.content.startswith(b"%PDF-")
    assert by_accept.content.rstrip().endswith(b"%%EOF")
    assert xero.get(f"Invoices/{invoice['InvoiceID']}/pdf").content == by_accept.content  # deterministic
    text = _pdf_text(by_accept.content)
    for expected in (
        "TAX INVOICE",
        "Demo Coworking Ltd",
        "INV-0001",
        "Acme Ltd",
        "1 Main St",
        "Hot desk, November",
        "144.00",
        "24.00",
        "15 Nov 2026",
        "PO 1234",
    ):
        assert expected in text, expected
    note = xero.credit_note(contact_id)
    assert "CREDIT NOTE" in _pdf_text(xero.get(f"CreditNotes/{note['CreditNoteID']}/pdf").content)

    draft = xero.put(
        "Invoices", {"Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "LineItems": [line()]}]}
    ).json()["Invoices"][0]
    refused = xero.get(f"Invoices/{draft['InvoiceID']}/pdf")
    assert refused.status_code == 400
    assert "only available" in _errors(refused)[0]
    assert xero.get("Invoices/INV-9999/pdf").status_code == 404


def test_email_marks_an_approved_invoice_sent(xero: Xero) -> None:
    contact_id = xero.contact("Acme Ltd", EmailAddress="ap@acme.example")["ContactID"]
    invoice = xero.invoice(contact_id)
    response = xero.post(f"Invoices/{invoice['InvoiceID']}/Email", {})
    assert response.status_code == 204
    assert xero.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]["SentToContact"] is True


def test_unknown_records_are_404(xero: Xero) -> None:
    for resource in (
        "Invoices/INV-0404",
        "Invoices/11111111-2222-4333-8444-555555555555",
        "CreditNotes/CN-1",
        "Contacts/nobody",
        "Payments/11111111-2222-4333-8444-555555555555",
    ):
        response = xero.get(resource)
        assert response.status_code == 404, resource
        assert response.json()["Title"] == "NotFound"


def test_json_unless_only_xml_is_accepted(xero: Xero) -> None:
    assert xero.get("Organisation", headers={"Accept": "*/*"}).status_code == 200
    assert xero.http.get("/xero/api.xro/2.0/Organisation", headers={**xero.headers(), "Accept": ""}).status_code == 200
    xml = xero.get("Organisation", headers={"Accept": "application/xml"})
    assert xml.status_code == 406
    assert "JSON only" in xml.json()["Detail"]


def test_a_bad_parameter_is_refused_before_anything_is_saved(xero: Xero) -> None:
    contact_id = xero.contact()["ContactID"]
    invoice = {"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "LineItems": [line()]}
    for params in ({"summarizeErrors": "maybe"}, {"unitdp": "four"}):
        response = xero.put("Invoices", invoice, params=params)
        assert response.status_code == 400, params
    assert xero.get("Invoices").json()["Invoices"] == []
