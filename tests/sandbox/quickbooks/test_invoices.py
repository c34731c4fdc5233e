"""Invoices: document numbers, amounts and tax, SyncToken and sparse updates, voids, deletes, send and PDF."""

from __future__ import annotations

import io
from decimal import Decimal

from pypdf import PdfReader

from tests.sandbox.quickbooks.support import QuickBooks, dec, fault_code, line


def test_doc_numbers_are_sequenced_when_custom_transaction_numbers_are_off(qbo: QuickBooks) -> None:
    customer = qbo.customer()
    first = qbo.invoice(customer["Id"])
    second = qbo.invoice(customer["Id"])
    note = qbo.credit_memo(customer["Id"])
    assert (first["DocNumber"], second["DocNumber"], note["DocNumber"]) == ("1001", "1002", "1003")
    custom = qbo.invoice(customer["Id"], DocNumber="INV-77")
    assert custom["DocNumber"] == "INV-77"
    assert qbo.invoice(customer["Id"], DocNumber="AUTO_GENERATE")["DocNumber"] == "1004"


def test_doc_numbers_stay_null_when_custom_transaction_numbers_are_on(qbo: QuickBooks) -> None:
    assert qbo.control("PUT", "preferences", {"custom_txn_numbers": True}).json()["custom_txn_numbers"] is True
    prefs = qbo.ok(qbo.get("preferences"), "Preferences")
    assert prefs["SalesFormsPrefs"]["CustomTxnNumbers"] is True
    customer = qbo.customer()
    assert "DocNumber" not in qbo.invoice(customer["Id"])
    assert qbo.invoice(customer["Id"], DocNumber="AUTO_GENERATE")["DocNumber"] == "1001"
    assert qbo.invoice(customer["Id"], DocNumber="FB-2026-0001")["DocNumber"] == "FB-2026-0001"


def test_a_duplicate_doc_number_is_6140_unless_duplicates_are_allowed(qbo: QuickBooks) -> None:
    customer = qbo.customer()
    first = qbo.invoice(customer["Id"], DocNumber="FB-1")
    duplicate = qbo.post("invoice", {"CustomerRef": {"value": customer["Id"]}, "DocNumber": "FB-1", "Line": [line()]})
    assert duplicate.status_code == 400
    error = duplicate.json()["Fault"]["Error"][0]
    assert error["code"] == "6140"
    assert error["Message"] == "Duplicate Document Number Error"
    assert f"TxnId={first['Id']}" in error["Detail"]
    allowed = qbo.post(
        "invoice",
        {"CustomerRef": {"value": customer["Id"]}, "DocNumber": "FB-1", "Line": [line()]},
        params={"include": "allowduplicatedocnum"},
    )
    assert allowed.status_code == 200
    too_long = qbo.post("invoice", {"CustomerRef": {"value": customer["Id"]}, "DocNumber": "X" * 22, "Line": [line()]})
    assert fault_code(too_long) == "6000"
    assert "Max:21" in too_long.json()["Fault"]["Error"][0]["Detail"]


def test_the_answer_is_shaped_like_quickbooks(qbo: QuickBooks) -> None:
    customer = qbo.customer(PrimaryEmailAddr={"Address": "ap@acme.example"})
    invoice = qbo.invoice(
        customer["Id"],
        line("100.00", detail={"ServiceDate": "2026-11-01"}, Description="Hot desk, November"),
        DueDate="2026-11-15",
        PrivateNote="flexbill inv_1",
        CustomerMemo={"value": "Thank you"},
        DepartmentRef={"value": "1"},
        CustomField=[{"DefinitionId": "1", "Type": "StringType", "StringValue": "inv_1"}],
    )
    assert invoice["CustomerRef"] == {"value": customer["Id"], "name": "Acme Ltd"}
    assert invoice["DepartmentRef"] == {"value": "1", "name": "London"}
    assert invoice["BillEmail"] == {"Address": "ap@acme.example"}
    assert invoice["EmailStatus"] == "NotSet"
    assert invoice["GlobalTaxCalculation"] == "TaxExcluded"
    assert invoice["CustomField"] == [
        {"DefinitionId": "1", "Name": "flexbill id", "Type": "StringType", "StringValue": "inv_1"}
    ]
    sales, subtotal = invoice["Line"]
    assert sales["Id"] == "1"
    assert sales["SalesItemLineDetail"]["ItemRef"] == {"value": "2", "name": "Memberships"}
    assert sales["SalesItemLineDetail"]["ItemAccountRef"] == {"value": "1", "name": "Sales"}
    assert sales["SalesItemLineDetail"]["ServiceDate"] == "2026-11-01"
    assert subtotal == {"Amount": 100.0, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}
    assert dec(invoice["TotalAmt"]) == Decimal("120.00")
    assert dec(invoice["Balance"]) == Decimal("120.00")
    assert invoice["MetaData"]["LastUpdatedTime"] == "2026-11-02T09:30:00+00:00"
    assert qbo.ok(qbo.get(f"invoice/{invoice['Id']}"), "Invoice") == invoice


def test_amount_must_equal_quantity_times_unit_price(qbo: QuickBooks) -> None:
    customer = qbo.customer()
    wrong = qbo.post(
        "invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [line("101.00", qty="2", price="50")]}
    )
    assert fault_code(wrong) == "6070"
    assert "Amount is not equal to UnitPrice * Qty" in wrong.json()["Fault"]["Error"][0]["Detail"]
    rounded = qbo.invoice(customer["Id"], line("33.33", qty="3", price="11.11"))
    assert dec(rounded["Line"][0]["Amount"]) == Decimal("33.33")
    fractional = qbo.invoice(customer["Id"], line("10.00", qty="3", price="3.333333"))
    assert dec(fractional["Line"][0]["Amount"]) == Decimal("10.00")


def test_references_must_exist(qbo: QuickBooks) -> None:
    customer = qbo.customer()
    no_customer = qbo.post("invoice", {"CustomerRef": {"value": "9999"}, "Line": [line()]})
    assert fault_code(no_customer) == "2500"
    assert fault_code(qbo.post("invoice", {"Line": [line()]})) == "2020"
    assert (
        fault_code(qbo.post("invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [line(item="99")]})) == "2500"
    )
    assert (
        fault_code(qbo.post("invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [line(tax="99")]})) == "2500"
    )
    no_vat = qbo.post("invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [line(tax=None)]})
    assert fault_code(no_vat) == "6000"
    assert "VAT rate" in no_vat.json()["Fault"]["Error"][0]["Detail"]
    assert fault_code(qbo.post("invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": []})) == "6000"
    usd = qbo.post(
        "invoice", {"CustomerRef": {"value": customer["Id"]}, "CurrencyRef": {"value": "USD"}, "Line": [line()]}
    )
    assert fault_code(usd) == "6000"


def test_tax_is_computed_per_tax_code_on_summed_lines_rounded_half_up(qbo: QuickBooks) -> None:
    customer = qbo.customer()
    invoice = qbo.invoice(customer["Id"], line("10.03"), line("10.03"), line("40.00", tax="7"))
    tax = invoice["TxnTaxDetail"]
    # 20.06 at 20% is 4.012 -> 4.01, where rounding each line (2.006 -> 2.01) would give 4.02
    by_rate = {t["TaxLineDetail"]["TaxRateRef"]["value"]: dec(t["Amount"]) for t in tax["TaxLine"]}
    assert by_rate == {"1": Decimal("4.01"), "6": Decimal("7.60")}
    assert dec(tax["TotalTax"]) == Decimal("11.61")
    assert dec(invoice["TotalAmt"]) == Decimal("71.67")
    assert dec(tax["TaxLine"][0]["TaxLineDetail"]["NetAmountTaxable"]) == Decimal("20.06")


def test_tax_lines_the_client_sends_are_kept(qbo: QuickBooks) -> None:
    customer = qbo.customer()
    given = {
        "TotalTax": "4.02",
        "TaxLine": [
            {
                "Amount": "4.02",
                "DetailType": "TaxLineDetail",
                "TaxLineDetail": {
                    "TaxRateRef": {"value": "1"},
                    "PercentBased": True,
                    "TaxPercent": 20,
                    "NetAmountTaxable": "20.06",
                },
            }
        ],
    }
    invoice = qbo.invoice(customer["Id"], line("10.03"), line("10.03"), TxnTaxDetail=given)
    assert dec(invoice["TxnTaxDetail"]["TotalTax"]) == Decimal("4.02")
    assert dec(invoice["TotalAmt"]) == Decimal("24.08")


def test_tax_inclusive_and_not_applicable(qbo: QuickBooks) -> None:
    customer = qbo.customer()
    # Amount is the net amount, TaxInclusiveAmt the gross: 2 x 10.00 gross at 20% is 3.33 VAT on 20.00
    inclusive = qbo.invoice(
        customer["Id"],
        line("8.33", detail={"TaxInclusiveAmt": "10.00"}),
        line("8.33", detail={"TaxInclusiveAmt": "10.00"}),
        GlobalTaxCalculation="TaxInclusive",
    )
    assert dec(inclusive["TxnTaxDetail"]["TotalTax"]) == Decimal("3.33")
    assert dec(inclusive["TotalAmt"]) == Decimal("19.99")  # the nets and the tax: a penny short of the gross
    assert dec(inclusive["Line"][0]["SalesItemLineDetail"]["TaxInclusiveAmt"]) == Decimal("10.00")
    net_only = qbo.invoice(customer["Id"], line("100.00"), GlobalTaxCalculation="TaxInclusive")
    assert dec(net_only["TotalAmt"]) == Decimal("120.00")
    none = qbo.invoice(customer["Id"], line("50.00", tax=None), GlobalTaxCalculation="NotApplicable")
    assert dec(none["TotalAmt"]) == Decimal("50.00")
    bad = qbo.post(
        "invoice", {"CustomerRef": {"value": customer["Id"]}, "GlobalTaxCalculation": "Gross", "Line": [line()]}
    )
    assert fault_code(bad) == "2170"


def test_foreign_currency_invoices_carry_home_amounts(qbo: QuickBooks) -> None:
    customer = qbo.customer("Berlin GmbH", CurrencyRef={"value": "EUR"})
    invoice = qbo.invoice(customer["Id"], line("100.00", tax="7"), DepartmentRef={"value": "2"}, ExchangeRate="0.85")
    assert invoice["CurrencyRef"]["value"] == "EUR"
    assert dec(invoice["TotalAmt"]) == Decimal("119.00")
    assert dec(invoice["HomeTotalAmt"]) == Decimal("101.15")


def test_sync_token_goes_up_and_a_stale_one_is_5010(qbo: QuickBooks) -> None:
    customer = qbo.customer()
    invoice = qbo.invoice(customer["Id"], PrivateNote="first")
    updated = qbo.ok(
        qbo.post("invoice", {"Id": invoice["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "second"}), "Invoice"
    )
    assert updated["SyncToken"] == "1"
    assert updated["PrivateNote"] == "second"
    assert updated["DocNumber"] == invoice["DocNumber"]
    stale = qbo.post("invoice", {"Id": invoice["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "third"})
    assert stale.status_code == 400
    assert fault_code(stale) == "5010"
    assert stale.json()["Fault"]["Error"][0]["Message"] == "Stale Object Error"
    assert fault_code(qbo.post("invoice", {"Id": "9999", "SyncToken": "0", "sparse": True})) == "610"
    assert fault_code(qbo.get("invoice/9999")) == "610"


def test_a_sparse_update_replaces_lines_wholesale_and_a_full_update_clears_omitted_fields(qbo: QuickBooks) -> None:
    customer = qbo.customer()
    invoice = qbo.invoice(customer["Id"], line("10.00"), line("20.00"), PrivateNote="keep me", DocNumber="A-1")
    sparse = qbo.ok(
        qbo.post("invoice", {"Id": invoice["Id"], "SyncToken": "0", "sparse": True, "Line": [line("5.00")]}), "Invoice"
    )
    assert len(sparse["Line"]) == 2  # the one line and the subtotal
    assert dec(sparse["TotalAmt"]) == Decimal("6.00")
    assert sparse["PrivateNote"] == "keep me"
    full = qbo.ok(
        qbo.post(
            "invoice",
            {"Id": invoice["Id"], "SyncToken": "1", "CustomerRef": {"value": customer["Id"]}, "Line": [line("7.00")]},
        ),
        "Invoice",
    )
    assert "PrivateNote" not in full
    assert "DocNumber" not in full
    assert full["SyncToken"] == "2"


def test_void_zeroes_the_invoice_and_delete_removes_it(qbo: QuickBooks) -> None:
    customer = qbo.customer()
    invoice = qbo.invoice(customer["Id"])
    stale = qbo.post("invoice", {"Id": invoice["Id"], "SyncToken": "5"}, params={"operation": "void"})
    assert fault_code(stale) == "5010"
    voided = qbo.ok(
        qbo.post("invoice", {"Id": invoice["Id"], "SyncToken": "0"}, params={"operation": "void"}), "Invoice"
    )
    assert dec(voided["TotalAmt"]) == 0
    assert dec(voided["Balance"]) == 0
    assert voided["PrivateNote"].startswith("Voided")
    assert voided["SyncToken"] == "1"
    other = qbo.invoice(customer["Id"])
    deleted = qbo.post("invoice", {"Id": other["Id"], "SyncToken": "0"}, params={"operation": "delete"})
    assert deleted.status_code == 200
    assert deleted.json()["Invoice"] == {"status": "Deleted", "domain": "QBO", "Id": other["Id"]}
    assert fault_code(qbo.get(f"invoice/{other['Id']}")) == "610"


def test_an_invoice_with_a_payment_cannot_be_voided_or_deleted(qbo: QuickBooks) -> None:
    customer = qbo.customer()
    invoice = qbo.invoice(customer["Id"])
    assert qbo.payment(customer["Id"], "10.00", ("Invoice", invoice["Id"], "10.00")).status_code == 200
    current = qbo.ok(qbo.get(f"invoice/{invoice['Id']}"), "Invoice")
    token = current["SyncToken"]
    assert (
        fault_code(qbo.post("invoice", {"Id": invoice["Id"], "SyncToken": token}, params={"operation": "void"}))
        == "6000"
    )
    assert (
        fault_code(qbo.post("invoice", {"Id": invoice["Id"], "SyncToken": token}, params={"operation": "delete"}))
        == "6000"
    )


def test_send_marks_the_invoice_emailed(qbo: QuickBooks) -> None:
    customer = qbo.customer()
    invoice = qbo.invoice(customer["Id"])
    assert fault_code(qbo.post(f"invoice/{invoice['Id']}/send")) == "6000"
    sent = qbo.ok(
        qbo.post(
            f"invoice/{invoice['Id']}/send",
            params={"sendTo": "ap@acme.example"},
            headers={"Content-Type": "application/octet-stream"},
        ),
        "Invoice",
    )
    assert sent["EmailStatus"] == "EmailSent"
    assert sent["BillEmail"] == {"Address": "ap@acme.example"}


def test_the_pdf_is_a_real_pdf_with_the_number_and_total(qbo: QuickBooks) -> None:
    customer = qbo.customer("Acme Ltd")
    invoice = qbo.invoice(customer["Id"], line("1234.50", Description="Private office, November"), DocNumber="FB-0042")
    response = qbo.get(f"invoice/{invoice['Id']}/pdf", headers={"Accept": "application/pdf"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    assert "FB-0042" in text
    assert "1,481.40" in text
    assert "Demo Coworking Ltd" in text
    note = qbo.credit_memo(customer["Id"], line("10.00"))
    memo_pdf = qbo.get(f"creditmemo/{note['Id']}/pdf", headers={"Accept": "application/pdf"})
    assert memo_pdf.content.startswith(b"%PDF")
    assert fault_code(qbo.get("invoice/9999/pdf")) == "610"


def test_the_custom_field_is_printed_on_the_pdf_only_when_the_company_prints_it(qbo: QuickBooks) -> None:
    customer = qbo.customer("Acme Ltd")
    our_id = {"DefinitionId": "1", "Type": "StringType", "StringValue": "inv-7f3a"}
    invoice = qbo.invoice(customer["Id"], line("100.00"), CustomField=[our_id])

    def printed() -> str:
        content = qbo.get(f"invoice/{invoice['Id']}/pdf", headers={"Accept": "application/pdf"}).content
        return "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)

    assert "inv-7f3a" not in printed()
    qbo.control("PUT", "preferences", {"print_custom_field": True})
    assert "inv-7f3a" in printed()


def test_minorversion_must_be_a_number(qbo: QuickBooks) -> None:
    customer = qbo.customer()
    assert qbo.get(f"customer/{customer['Id']}", params={"minorversion": "4"}).status_code == 200
    bad = qbo.get(f"customer/{customer['Id']}", params={"minorversion": "latest"})
    assert bad.status_code == 400
    assert bad.json()["Fault"]["Error"][0]["element"] == "minorversion"


def test_custom_field_values_are_dropped_when_the_company_has_no_definition(qbo: QuickBooks) -> None:
    qbo.control("PUT", "preferences", {"custom_field": False})
    prefs = qbo.ok(qbo.get("preferences"), "Preferences")["SalesFormsPrefs"]["CustomField"]
    assert prefs[0]["CustomField"][0] == {
        "Name": "SalesFormsPrefs.UseSalesCustom1",
        "Type": "BooleanType",
        "BooleanValue": False,
    }
    customer = qbo.customer()
    invoice = qbo.invoice(customer["Id"], CustomField=[{"DefinitionId": "1", "Type": "StringType", "StringValue": "x"}])
    assert invoice["CustomField"] == []


def test_empty_fields_a_client_library_sends_count_as_not_given(qbo: QuickBooks) -> None:
    customer = qbo.customer()
    document = {
        "CustomerRef": {"value": customer["Id"]},
        "TxnDate": "",
        "DueDate": "",
        "PrivateNote": "",
        "TotalAmt": "",
        "Balance": 0,
        "LinkedTxn": [],
        "SyncToken": 0,
        "Line": [
            {
                "Amount": 100,
                "DetailType": "SalesItemLineDetail",
                "LineNum": 0,
                "LinkedTxn": [],
                "CustomField": [],
                "SalesItemLineDetail": {
                    "ItemRef": {"value": "2"},
                    "TaxCodeRef": {"value": "2"},
                    "Qty": 0,
                    "UnitPrice": 0,
                    "ServiceDate": "",
                },
            }
        ],
    }
    invoice = qbo.ok(qbo.post("invoice", document), "Invoice")
    assert invoice["TxnDate"] == "2026-11-02"
    assert invoice["DueDate"] == "2026-12-02"
    detail = invoice["Line"][0]["SalesItemLineDetail"]
    assert (dec(detail["Qty"]), dec(detail["UnitPrice"])) == (1, 100)
    assert dec(invoice["TotalAmt"]) == Decimal("120.00")


def test_an_xml_only_client_is_told_the_sandbox_speaks_json(qbo: QuickBooks) -> None:
    refused = qbo.get(f"companyinfo/{qbo.realm_id}", headers={"Accept": "application/xml"})
    assert refused.status_code == 406
    assert "JSON only" in refused.json()["Fault"]["Error"][0]["Detail"]
