"""Payments, credit memos applied through payments, refund receipts, and payment voids and deletes."""

from __future__ import annotations

from decimal import Decimal

from tests.sandbox.quickbooks.support import QuickBooks, dec, fault_code, line


def test_a_payment_reduces_the_invoice_balance_and_links_both_ways(qbo: QuickBooks) -> None:
    customer = qbo.customer()
    invoice = qbo.invoice(customer["Id"], line("100.00"))
    payment = qbo.ok(
        qbo.payment(
            customer["Id"],
            "50.00",
            ("Invoice", invoice["Id"], "50.00"),
            DepositToAccountRef={"value": "36"},
            PaymentRefNum="pi_123",
            PrivateNote="flexbill pay_1",
            TxnDate="2026-11-02",
        ),
        "Payment",
    )
    assert dec(payment["TotalAmt"]) == Decimal("50.00")
    assert dec(payment["UnappliedAmt"]) == 0
    assert payment["DepositToAccountRef"] == {"value": "36", "name": "Stripe Clearing"}
    assert payment["PaymentRefNum"] == "pi_123"
    assert payment["Line"][0]["LinkedTxn"] == [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]
    after = qbo.ok(qbo.get(f"invoice/{invoice['Id']}"), "Invoice")
    assert dec(after["Balance"]) == Decimal("70.00")
    assert after["LinkedTxn"] == [{"TxnId": payment["Id"], "TxnType": "Payment"}]
    assert after["SyncToken"] == "1"  # the payment changed the invoice


def test_an_unapplied_remainder_and_the_default_deposit_account(qbo: QuickBooks) -> None:
    customer = qbo.customer()
    invoice = qbo.invoice(customer["Id"], line("10.00"))
    payment = qbo.ok(qbo.payment(customer["Id"], "20.00", ("Invoice", invoice["Id"], "12.00")), "Payment")
    assert dec(payment["UnappliedAmt"]) == Decimal("8.00")
    assert payment["DepositToAccountRef"]["name"] == "Undeposited Funds"
    assert dec(qbo.ok(qbo.get(f"invoice/{invoice['Id']}"), "Invoice")["Balance"]) == 0


def test_over_applying_is_refused(qbo: QuickBooks) -> None:
    customer = qbo.customer()
    invoice = qbo.invoice(customer["Id"], line("10.00"))
    too_much = qbo.payment(customer["Id"], "20.00", ("Invoice", invoice["Id"], "12.01"))
    assert fault_code(too_much) == "6000"
    assert "more than its open balance (12.00)" in too_much.json()["Fault"]["Error"][0]["Detail"]
    short = qbo.payment(customer["Id"], "5.00", ("Invoice", invoice["Id"], "6.00"))
    assert fault_code(short) == "6000"
    other = qbo.customer("Other Ltd")
    assert fault_code(qbo.payment(other["Id"], "1.00", ("Invoice", invoice["Id"], "1.00"))) == "6000"
    assert fault_code(qbo.payment(customer["Id"], "1.00", ("Invoice", "9999", "1.00"))) == "2500"
    assert fault_code(qbo.post("payment", {"CustomerRef": {"value": customer["Id"]}})) == "2020"
    assert dec(qbo.ok(qbo.get(f"invoice/{invoice['Id']}"), "Invoice")["Balance"]) == Decimal("12.00")


def test_a_credit_memo_is_applied_by_a_payment_linking_both(qbo: QuickBooks) -> None:
    customer = qbo.customer()
    invoice = qbo.invoice(customer["Id"], line("100.00"))
    note = qbo.credit_memo(customer["Id"], line("50.00"), PrivateNote="flexbill cn_1")
    assert dec(note["RemainingCredit"]) == Decimal("60.00")
    assert dec(note["Balance"]) == Decimal("60.00")
    applied = qbo.ok(
        qbo.payment(customer["Id"], "0", ("Invoice", invoice["Id"], "60.00"), ("CreditMemo", note["Id"], "60.00")),
        "Payment",
    )
    assert dec(applied["TotalAmt"]) == 0
    assert dec(qbo.ok(qbo.get(f"invoice/{invoice['Id']}"), "Invoice")["Balance"]) == Decimal("60.00")
    note_after = qbo.ok(qbo.get(f"creditmemo/{note['Id']}"), "CreditMemo")
    assert dec(note_after["RemainingCredit"]) == 0
    assert note_after["LinkedTxn"] == [{"TxnId": applied["Id"], "TxnType": "Payment"}]
    again = qbo.payment(customer["Id"], "0", ("Invoice", invoice["Id"], "1.00"), ("CreditMemo", note["Id"], "1.00"))
    assert fault_code(again) == "6000"
    assert "remaining credit" in again.json()["Fault"]["Error"][0]["Detail"]


def test_voiding_or_deleting_a_payment_reopens_the_invoice(qbo: QuickBooks) -> None:
    customer = qbo.customer()
    invoice = qbo.invoice(customer["Id"], line("100.00"))
    payment = qbo.ok(qbo.payment(customer["Id"], "120.00", ("Invoice", invoice["Id"], "120.00")), "Payment")
    assert dec(qbo.ok(qbo.get(f"invoice/{invoice['Id']}"), "Invoice")["Balance"]) == 0
    voided = qbo.ok(
        qbo.post(
            "payment",
            {"Id": payment["Id"], "SyncToken": "0", "sparse": True},
            params={"operation": "update", "include": "void"},
        ),
        "Payment",
    )
    assert dec(voided["TotalAmt"]) == 0
    assert voided["PrivateNote"] == "Voided"
    reopened = qbo.ok(qbo.get(f"invoice/{invoice['Id']}"), "Invoice")
    assert dec(reopened["Balance"]) == Decimal("120.00")
    assert reopened["LinkedTxn"] == []
    second = qbo.ok(qbo.payment(customer["Id"], "120.00", ("Invoice", invoice["Id"], "120.00")), "Payment")
    deleted = qbo.post("payment", {"Id": second["Id"], "SyncToken": "0"}, params={"operation": "delete"})
    assert deleted.json()["Payment"]["status"] == "Deleted"
    assert dec(qbo.ok(qbo.get(f"invoice/{invoice['Id']}"), "Invoice")["Balance"]) == Decimal("120.00")


def test_a_refund_receipt_records_money_paid_back(qbo: QuickBooks) -> None:
    customer = qbo.customer()
    refund = qbo.ok(
        qbo.post(
            "refundreceipt",
            {
                "CustomerRef": {"value": customer["Id"]},
                "DepositToAccountRef": {"value": "36"},
                "PaymentRefNum": "re_1",
                "PrivateNote": "flexbill refund_1",
                "Line": [line("25.00")],
                "CustomField": [{"DefinitionId": "1", "Type": "StringType", "StringValue": "refund_1"}],
            },
        ),
        "RefundReceipt",
    )
    assert dec(refund["TotalAmt"]) == Decimal("30.00")
    assert dec(refund["Balance"]) == 0
    assert refund["DepositToAccountRef"] == {"value": "36", "name": "Stripe Clearing"}
    assert refund["PaymentRefNum"] == "re_1"
    assert refund["CustomField"][0]["StringValue"] == "refund_1"
    assert refund["DocNumber"] == "1001"
    missing = qbo.post("refundreceipt", {"CustomerRef": {"value": customer["Id"]}, "Line": [line()]})
    assert fault_code(missing) == "2020"
    deleted = qbo.post("refundreceipt", {"Id": refund["Id"], "SyncToken": "0"}, params={"operation": "delete"})
    assert deleted.json()["RefundReceipt"]["status"] == "Deleted"
