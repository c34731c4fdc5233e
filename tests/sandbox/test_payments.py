"""Payments and credit note allocations: what is due, when an invoice is paid, and taking money back."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from flexbill.sandbox.xero.wire import ms_date
from tests.sandbox.support import Xero, dec, line


def _errors(response: Any) -> list[str]:
    return [m["Message"] for element in response.json()["Elements"] for m in element["ValidationErrors"]]


def _payment(invoice_id: str, amount: str, **fields: Any) -> dict[str, Any]:
    return {
        "Invoice": {"InvoiceID": invoice_id},
        "Account": {"Code": "090"},
        "Date": "2026-11-10",
        "Amount": amount,
        **fields,
    }


def test_part_then_full_payment(xero: Xero) -> None:
    contact_id = xero.contact()["ContactID"]
    invoice = xero.invoice(contact_id, line(amount="100.00"))  # 120.00 with VAT
    first = xero.put("Payments", {"Payments": [_payment(invoice["InvoiceID"], "20.00", Reference="Card 1")]})
    assert first.status_code == 200
    payment = first.json()["Payments"][0]
    assert payment["PaymentType"] == "ACCRECPAYMENT"
    assert payment["Status"] == "AUTHORISED"
    assert payment["Invoice"]["InvoiceNumber"] == "INV-0001"
    part = xero.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert (part["Status"], dec(part["AmountPaid"]), dec(part["AmountDue"])) == (
        "AUTHORISED",
        Decimal("20.00"),
        Decimal("100.00"),
    )
    assert [(p["Amount"], p["Reference"]) for p in part["Payments"]] == [(20, "Card 1")]
    stripe = xero.get("Accounts", params={"where": 'Code=="091"'}).json()["Accounts"][0]
    rest = _payment(invoice["InvoiceID"], "100.00", Account={"AccountID": stripe["AccountID"]}, Date="2026-11-12")
    xero.post("Payments", rest)
    paid = xero.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert paid["Status"] == "PAID"
    assert dec(paid["AmountDue"]) == Decimal("0.00")
    assert paid["FullyPaidOnDate"] == ms_date(date(2026, 11, 12))
    assert len(paid["Payments"]) == 2


def test_payment_rules(xero: Xero) -> None:
    contact_id = xero.contact()["ContactID"]
    invoice = xero.invoice(contact_id, line(amount="100.00"))
    draft = xero.put(
        "Invoices", {"Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "LineItems": [line()]}]}
    ).json()["Invoices"][0]
    cases = {
        "Payment amount exceeds the amount outstanding on this document": _payment(invoice["InvoiceID"], "120.01"),
        "Payments can only be made against Authorised documents": _payment(draft["InvoiceID"], "1.00"),
        "Account type is invalid for making a payment to/from": _payment(
            invoice["InvoiceID"], "1", Account={"Code": "200"}
        ),
        "Account could not be found": _payment(invoice["InvoiceID"], "1", Account={"Code": "999"}),
        "Payment amount must be greater than zero": _payment(invoice["InvoiceID"], "0"),
        "Invoice could not be found": _payment("11111111-2222-4333-8444-555555555555", "1"),
    }
    for message, payment in cases.items():
        response = xero.put("Payments", {"Payments": [payment]})
        assert response.status_code == 400, message
        assert message in _errors(response), (message, _errors(response))
    by_number_payment = {"Invoice": {"InvoiceNumber": "INV-0001"}, "Account": {"Code": "090"}, "Amount": "120.00"}
    by_number = xero.put("Payments", {"Payments": [by_number_payment]})
    assert by_number.status_code == 200
    assert xero.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]["Status"] == "PAID"


def test_batch_payments_summarize_errors_both_ways(xero: Xero) -> None:
    contact_id = xero.contact()["ContactID"]
    one = xero.invoice(contact_id)
    two = xero.invoice(contact_id)
    batch = {"Payments": [_payment(one["InvoiceID"], "120.00"), _payment(two["InvoiceID"], "500.00")]}
    summarized = xero.put("Payments", batch)
    assert summarized.status_code == 400
    assert len(summarized.json()["Elements"]) == 1
    assert xero.get(f"Invoices/{one['InvoiceID']}").json()["Invoices"][0]["Status"] == "PAID"
    pair = {"Payments": [_payment(two["InvoiceID"], "20.00"), _payment(two["InvoiceID"], "500.00")]}
    detailed = xero.put("Payments", pair, params={"summarizeErrors": "false"})
    assert detailed.status_code == 200
    assert [p["StatusAttributeString"] for p in detailed.json()["Payments"]] == ["OK", "ERROR"]
    assert detailed.json()["Payments"][1]["HasValidationErrors"] is True


def test_deleting_a_payment_reopens_the_invoice(xero: Xero) -> None:
    contact_id = xero.contact()["ContactID"]
    invoice = xero.invoice(contact_id)
    payment = xero.put("Payments", {"Payments": [_payment(invoice["InvoiceID"], "120.00")]}).json()["Payments"][0]
    assert xero.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]["Status"] == "PAID"
    not_delete = xero.post(f"Payments/{payment['PaymentID']}", {"Payments": [{"Status": "AUTHORISED"}]})
    assert not_delete.status_code == 400
    deleted = xero.post(f"Payments/{payment['PaymentID']}", {"Status": "DELETED"}).json()["Payments"][0]
    assert deleted["Status"] == "DELETED"
    reopened = xero.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert reopened["Status"] == "AUTHORISED"
    assert "FullyPaidOnDate" not in reopened
    assert reopened["Payments"] == []
    assert dec(reopened["AmountDue"]) == Decimal("120.00")
    listed = xero.get("Payments", params={"where": 'Status=="DELETED"'}).json()["Payments"]
    assert [p["PaymentID"] for p in listed] == [payment["PaymentID"]]
    reconciled = xero.put("Payments", {"Payments": [_payment(invoice["InvoiceID"], "1.00", IsReconciled=True)]})
    reconciled_id = reconciled.json()["Payments"][0]["PaymentID"]
    refused = xero.post(f"Payments/{reconciled_id}", {"Status": "DELETED"})
    assert _errors(refused) == ["This payment has been reconciled and cannot be deleted"]


def test_credit_note_allocation_pays_off_an_invoice(xero: Xero) -> None:
    contact_id = xero.contact()["ContactID"]
    invoice = xero.invoice(contact_id, line(amount="100.00"))  # 120.00
    note = xero.credit_note(contact_id, line(description="Credit", amount="150.00"))  # 180.00
    assert dec(note["RemainingCredit"]) == Decimal("180.00")
    allocation = {"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Amount": "50.00", "Date": "2026-11-04"}
    response = xero.put(f"CreditNotes/{note['CreditNoteID']}/Allocations", {"Allocations": [allocation]})
    assert response.status_code == 200, response.text
    after = xero.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert (dec(after["AmountCredited"]), dec(after["AmountDue"]), after["Status"]) == (
        Decimal("50.00"),
        Decimal("70.00"),
        "AUTHORISED",
    )
    assert after["CreditNotes"][0]["CreditNoteNumber"] == "CN-0002"
    too_much = xero.put(
        f"CreditNotes/{note['CreditNoteID']}/Allocations", {"Allocations": [{**allocation, "Amount": "70.01"}]}
    )
    assert _errors(too_much) == ["Credit Note cannot be allocated as amount is greater than amount outstanding"]
    rest = xero.put(
        f"CreditNotes/{note['CreditNoteID']}/Allocations", {"Allocations": [{**allocation, "Amount": "70.00"}]}
    )
    assert rest.json()["Allocations"][0]["Invoice"]["Status"] == "PAID"
    paid = xero.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert paid["Status"] == "PAID"
    assert paid["FullyPaidOnDate"] == ms_date(date(2026, 11, 4))
    remaining = xero.get(f"CreditNotes/{note['CreditNoteID']}").json()["CreditNotes"][0]
    assert dec(remaining["RemainingCredit"]) == Decimal("60.00")
    assert len(remaining["Allocations"]) == 2
    again = xero.put(
        f"CreditNotes/{note['CreditNoteID']}/Allocations", {"Allocations": [{**allocation, "Amount": "1"}]}
    )
    assert _errors(again) == ["The invoice you are trying to allocate to has already been paid off"]

    refund = {"CreditNote": {"CreditNoteID": note["CreditNoteID"]}, "Account": {"Code": "090"}, "Amount": "60.00"}
    refunded = xero.put("Payments", {"Payments": [refund]}).json()["Payments"][0]
    assert refunded["PaymentType"] == "ARCREDITPAYMENT"
    used_up = xero.get(f"CreditNotes/{note['CreditNoteID']}").json()["CreditNotes"][0]
    assert used_up["Status"] == "PAID"
    assert dec(used_up["RemainingCredit"]) == Decimal("0.00")

    first_allocation = remaining["Allocations"][0]["AllocationID"]
    removed = xero.call("DELETE", f"CreditNotes/{note['CreditNoteID']}/Allocations/{first_allocation}")
    assert removed.status_code == 200
    assert removed.json()["IsDeleted"] is True
    reopened = xero.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert reopened["Status"] == "AUTHORISED"
    assert dec(reopened["AmountDue"]) == Decimal("50.00")


def test_allocation_rules(xero: Xero) -> None:
    acme = xero.contact("Acme Ltd")["ContactID"]
    beta = xero.contact("Beta GmbH")["ContactID"]
    invoice = xero.invoice(acme)
    foreign = xero.credit_note(beta)
    draft = xero.put(
        "CreditNotes",
        {"CreditNotes": [{"Type": "ACCRECCREDIT", "Contact": {"ContactID": acme}, "LineItems": [line()]}]},
    ).json()["CreditNotes"][0]
    allocation = {
        "Allocations": [{"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Amount": "10", "Date": "2026-11-04"}]
    }
    assert _errors(xero.put(f"CreditNotes/{foreign['CreditNoteID']}/Allocations", allocation)) == [
        "A credit note can only be allocated to an invoice of the same contact"
    ]
    assert _errors(xero.put(f"CreditNotes/{draft['CreditNoteID']}/Allocations", allocation)) == [
        "Only an authorised credit note with credit remaining can be allocated"
    ]
    assert xero.put("CreditNotes/11111111-2222-4333-8444-555555555555/Allocations", allocation).status_code == 404
    paid_invoice = xero.invoice(acme)
    xero.control("POST", f"invoices/{paid_invoice['InvoiceID']}/pay", {})
    note = xero.credit_note(acme)
    void_with_allocation = xero.put(f"CreditNotes/{note['CreditNoteID']}/Allocations", allocation)
    assert void_with_allocation.status_code == 200
    voiding = xero.post(f"CreditNotes/{note['CreditNoteID']}", {"Status": "VOIDED"})
    assert _errors(voiding) == ["This document cannot be edited as it has a payment or credit note allocated to it."]
