"""QuickBooks Online mapping: our values to QuickBooks' JSON and back, with numbers a person can check by hand,
and properties of the money (the lines and the tax lines always make our totals)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flexbill.accounting.connectors.quickbooks import mapping
from flexbill.accounting.connectors.quickbooks.mapping import CREDIT_NOTE, INVOICE, Malformed, TaxCode, TaxComponent
from flexbill.accounting.model import (
    Address,
    AllocationData,
    ContactData,
    DocumentData,
    LineData,
    PaymentData,
    TrackingChoice,
)
from flexbill.accounting.ports import BadSignature
from flexbill.money import round_money

D = Decimal
OURS = uuid.UUID("6f1c2a9e-0b7d-4c55-9d43-1f2e3a4b5c6d")
VAT = TaxCode("4", "20.0% S", True, (TaxComponent("3", D(20)),))
NO_VAT = TaxCode("9", "No VAT", True, ())
SPLIT = TaxCode("12", "GST+PST", True, (TaxComponent("21", D(5)), TaxComponent("22", D(7))))
CODES = {code.id: code for code in (VAT, NO_VAT, SPLIT)}


def line(
    amount: str = "100.00",
    tax: str = "20.00",
    *,
    quantity: str = "1",
    price: str | None = None,
    discount: str = "0",
    code: str = "4",
    tracking: tuple[TrackingChoice, ...] = (),
) -> LineData:
    return LineData("Hot desk", D(quantity), D(price or amount), D(discount), D(amount), D(tax), "7", code, tracking)


def document(*lines: LineData, inclusive: bool = False, number: str | None = None) -> DocumentData:
    tax = sum((item.tax_amount for item in lines), D(0))
    gross = sum((item.line_amount for item in lines), D(0))
    return DocumentData(
        our_id=OURS,
        number=number,
        contact_external_id="58",
        date=dt.date(2026, 11, 1),
        due_date=dt.date(2026, 11, 15),
        currency="GBP",
        prices_include_tax=inclusive,
        lines=lines,
        subtotal=gross - tax if inclusive else gross,
        tax_total=tax,
        total=gross if inclusive else gross + tax,
        reference="November membership",
    )


# --- our ids -----------------------------------------------------------------------------------------------------


def test_our_id_is_found_in_a_note_that_quickbooks_marked_voided() -> None:
    note = mapping.tagged_note(INVOICE, OURS, "November membership")
    assert note == f"flexbill invoice {OURS} · November membership"
    assert mapping.our_id_in(f"Voided - {note}", INVOICE) == OURS
    assert mapping.our_id_in(note, CREDIT_NOTE) is None
    assert mapping.our_id_in("written by a person", INVOICE) is None
    assert mapping.our_id_in(None, INVOICE) is None


def test_the_compact_id_fits_a_custom_field_and_reads_back() -> None:
    compact = mapping.compact_id(OURS)
    assert len(compact) == 22 <= 31
    assert mapping.our_id_of_compact(compact) == OURS
    assert mapping.our_id_of_compact(str(OURS)) == OURS
    assert mapping.our_id_of_compact("PO 4711") is None
    assert mapping.our_id_of_compact(7) is None


# --- customers ---------------------------------------------------------------------------------------------------


def test_a_customer_keeps_our_id_in_its_notes() -> None:
    contact = ContactData(
        OURS, "  Acme   Ltd ", "ap@acme.test", address=Address("1 High St", city="Leeds", country="GB")
    )
    body = mapping.customer_body(contact)
    assert body == {
        "DisplayName": "Acme Ltd",
        "CompanyName": "Acme Ltd",
        "Notes": f"flexbill customer {OURS}",
        "PrimaryEmailAddr": {"Address": "ap@acme.test"},
        "BillAddr": {"Line1": "1 High St", "City": "Leeds", "Country": "GB"},
    }
    assert mapping.customer_our_id(body) == OURS
    update = mapping.customer_update(contact, "58", "3")
    assert (update["Id"], update["SyncToken"], update["sparse"]) == ("58", "3", True)


def test_a_customer_made_for_euro_invoices_is_a_euro_customer() -> None:
    """A QuickBooks customer has one currency, the company's unless told: invoices in another are refused."""
    body = mapping.customer_body(ContactData(OURS, "Acme GmbH", "", currency="EUR"))
    assert body["CurrencyRef"] == {"value": "EUR"}
    assert "CurrencyRef" not in mapping.customer_body(ContactData(OURS, "Acme Ltd", ""))


@pytest.mark.parametrize(("name", "words"), [(" ", "has no name"), ("x" * 501, "501 characters")])
def test_a_customer_quickbooks_cannot_hold(name: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        mapping.customer_body(ContactData(OURS, name, ""))


# --- lines and tax -----------------------------------------------------------------------------------------------


def test_a_tax_exclusive_document() -> None:
    body = mapping.document_body(
        document(line("30.00", "6.00", quantity="3", price="10.00"), line("12.50", "0.00", code="9")),
        INVOICE,
        codes=CODES,
        custom_field=None,
        department=None,
    )
    assert body["GlobalTaxCalculation"] == "TaxExcluded"
    assert [item["Amount"] for item in body["Line"]] == [D("30.00"), D("12.50")]
    first = body["Line"][0]["SalesItemLineDetail"]
    assert (first["Qty"], first["UnitPrice"], first["ItemRef"], first["TaxCodeRef"]) == (
        D(3),
        D("10.00"),
        {"value": "7"},
        {"value": "4"},
    )
    assert body["TxnTaxDetail"] == {
        "TotalTax": D("6.00"),
        "TaxLine": [
            {
                "Amount": D("6.00"),
                "DetailType": "TaxLineDetail",
                "TaxLineDetail": {
                    "TaxRateRef": {"value": "3"},
                    "PercentBased": True,
                    "TaxPercent": D(20),
                    "NetAmountTaxable": D("30.00"),
                },
            }
        ],
    }
    assert body["PrivateNote"] == f"flexbill invoice {OURS} · November membership"
    assert (body["TxnDate"], body["DueDate"], body["CustomerRef"]) == ("2026-11-01", "2026-11-15", {"value": "58"})
    assert "DocNumber" not in body
    assert "CustomField" not in body
    assert "DepartmentRef" not in body


def test_a_tax_inclusive_line_is_sent_net_with_its_gross_beside() -> None:
    # 120.00 gross at 20%: 100.00 net and 20.00 tax; one unit at 100.00 net.
    body = mapping.document_body(
        document(line("120.00", "20.00"), inclusive=True), INVOICE, codes=CODES, custom_field=None, department=None
    )
    [sent] = body["Line"]
    assert body["GlobalTaxCalculation"] == "TaxInclusive"
    assert sent["Amount"] == D("100.00")
    assert sent["SalesItemLineDetail"]["TaxInclusiveAmt"] == D("120.00")
    assert (sent["SalesItemLineDetail"]["Qty"], sent["SalesItemLineDetail"]["UnitPrice"]) == (D(1), D(100))


def test_a_discounted_line_is_one_unit_of_its_amount_with_the_working_in_words() -> None:
    # 3 x 10.00 less 5.00 = 25.00: QuickBooks wants Qty x UnitPrice = Amount, so it goes as 1 x 25.00.
    sent = mapping.line_body(
        line("25.00", "5.00", quantity="3", price="10.00", discount="5.00"), inclusive=False, currency="GBP"
    )
    detail = sent["SalesItemLineDetail"]
    assert (detail["Qty"], detail["UnitPrice"], sent["Amount"]) == (D(1), D("25.00"), D("25.00"))
    assert sent["Description"] == "Hot desk (3 x 10.00 less 5.00)"


def test_no_tax_at_all_is_not_applicable() -> None:
    body = mapping.document_body(
        document(line("50.00", "0.00", code="9")), INVOICE, codes=CODES, custom_field=None, department=None
    )
    assert body["GlobalTaxCalculation"] == "NotApplicable"
    assert "TxnTaxDetail" not in body


def test_a_code_of_two_rates_splits_our_tax_by_their_percent() -> None:
    # 1.00 of tax over 5% and 7%: 0.4166.. and 0.5833.. -> 0.42 and 0.58 (largest remainder), summing to 1.00.
    lines = mapping.tax_lines(document(line("8.33", "1.00", code="12")), CODES)
    assert [tax["Amount"] for tax in lines] == [D("0.42"), D("0.58")]
    assert [tax["TaxLineDetail"]["TaxRateRef"]["value"] for tax in lines] == ["21", "22"]


def test_tax_a_code_does_not_charge_or_a_code_quickbooks_lacks() -> None:
    with pytest.raises(ValueError, match="No VAT"):
        mapping.tax_lines(document(line("10.00", "2.00", code="9")), CODES)
    with pytest.raises(ValueError, match="tax code 77"):
        mapping.tax_lines(document(line("10.00", "2.00", code="77")), CODES)


def test_the_number_the_custom_field_the_location_and_a_credit_memo() -> None:
    tracked = line(tracking=(TrackingChoice("Location", "London"),))
    body = mapping.document_body(
        document(tracked, number="INV-0042"), CREDIT_NOTE, codes=CODES, custom_field="1", department="2"
    )
    assert body["DocNumber"] == "INV-0042"
    assert body["CustomField"] == [
        {"DefinitionId": "1", "Name": "flexbill id", "Type": "StringType", "StringValue": mapping.compact_id(OURS)}
    ]
    assert body["DepartmentRef"] == {"value": "2"}
    assert "DueDate" not in body  # a credit memo has none
    assert body["PrivateNote"].startswith(f"flexbill credit note {OURS}")
    assert mapping.location_of(document(tracked)) == "London"


def test_what_quickbooks_cannot_hold_is_refused_before_sending() -> None:
    with pytest.raises(ValueError, match="22 characters; QuickBooks keeps at most 21"):
        mapping.document_body(
            document(line(), number="X" * 22), INVOICE, codes=CODES, custom_field=None, department=None
        )
    with pytest.raises(ValueError, match="several locations"):
        mapping.location_of(
            document(
                line(tracking=(TrackingChoice("Location", "London"),)),
                line(tracking=(TrackingChoice("Location", "Berlin"),)),
            )
        )
    with pytest.raises(ValueError, match="no lines"):
        mapping.document_body(document(), INVOICE, codes=CODES, custom_field=None, department=None)


# --- reading documents -------------------------------------------------------------------------------------------


def invoice_row(**fields: object) -> dict[str, object]:
    return {
        "Id": "130",
        "DocNumber": "1037",
        "TotalAmt": D("120.00"),
        "Balance": D("120.00"),
        "PrivateNote": f"flexbill invoice {OURS}",
        "MetaData": {"LastUpdatedTime": "2026-11-26T04:00:00-08:00"},
        **fields,
    }


def test_an_invoice_as_quickbooks_holds_it() -> None:
    document = mapping.remote_document(invoice_row(Balance=D("20.00")), INVOICE)
    assert (document.external_id, document.our_id, document.number, document.status) == ("130", OURS, "1037", "Open")
    assert (document.total, document.amount_paid, document.amount_due, document.voided) == (
        D("120.00"),
        D("100.00"),
        D("20.00"),
        False,
    )
    assert document.updated_at == dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
    assert mapping.remote_document(invoice_row(Balance=D(0)), INVOICE).status == "Paid"


def test_a_voided_and_a_deleted_invoice() -> None:
    voided = mapping.remote_document(
        invoice_row(TotalAmt=D(0), Balance=D(0), PrivateNote=f"Voided flexbill invoice {OURS}"), INVOICE
    )
    assert (voided.status, voided.voided, voided.our_id) == ("Voided", True, OURS)
    deleted = mapping.remote_document({"Id": "130", "status": "Deleted"}, INVOICE)
    assert (deleted.status, deleted.voided, deleted.our_id) == ("Deleted", True, None)


def test_our_id_from_the_custom_field_and_a_credit_memo_left_to_apply() -> None:
    row = {
        **invoice_row(RemainingCredit=D("30.00"), PrivateNote="typed over by someone"),
        "CustomField": [
            {"DefinitionId": "1", "Name": "flexbill id", "Type": "StringType", "StringValue": mapping.compact_id(OURS)}
        ],
    }
    memo = mapping.remote_document(row, CREDIT_NOTE)
    assert (memo.our_id, memo.amount_due, memo.status) == (OURS, D("30.00"), "Open")
    assert mapping.remote_document({**row, "RemainingCredit": D(0)}, CREDIT_NOTE).status == "Applied"


def test_an_invoice_not_shaped_like_quickbooks() -> None:
    with pytest.raises(Malformed, match="TotalAmt"):
        mapping.remote_document({"Id": "1", "Balance": "0"}, INVOICE)
    with pytest.raises(Malformed, match="has no Id"):
        mapping.remote_document({"TotalAmt": "1"}, INVOICE)


# --- payments ----------------------------------------------------------------------------------------------------


def test_a_payment_onto_an_invoice() -> None:
    payment = PaymentData(OURS, "130", dt.date(2026, 11, 20), D("120.00"), "35", reference="pi_3NqYbR2eZvKYlo2C1a2b3c")
    body = mapping.payment_body(payment, "58", "GBP")
    assert body == {
        "CustomerRef": {"value": "58"},
        "TotalAmt": D("120.00"),
        "TxnDate": "2026-11-20",
        "DepositToAccountRef": {"value": "35"},
        "Line": [{"Amount": D("120.00"), "LinkedTxn": [{"TxnId": "130", "TxnType": "Invoice"}]}],
        "PrivateNote": f"flexbill payment {OURS} · pi_3NqYbR2eZvKYlo2C1a2b3c",
        "CurrencyRef": {"value": "GBP"},
        "PaymentRefNum": "pi_3NqYbR2eZvKYlo2C1a",  # 21 characters
    }
    with pytest.raises(ValueError, match="only more than 0"):
        mapping.payment_body(PaymentData(OURS, "130", dt.date(2026, 11, 20), D(0), "35"), "58", None)


def test_a_credit_memo_applied_is_a_payment_of_no_money() -> None:
    body = mapping.allocation_body(AllocationData("140", "130", D("30.00"), dt.date(2026, 11, 21)), "58")
    assert body["TotalAmt"] == D(0)
    assert body["Line"] == [
        {"Amount": D("30.00"), "LinkedTxn": [{"TxnId": "130", "TxnType": "Invoice"}]},
        {"Amount": D("30.00"), "LinkedTxn": [{"TxnId": "140", "TxnType": "CreditMemo"}]},
    ]


def payment_row(*lines: tuple[str, str, str], note: str = "") -> dict[str, object]:
    return {
        "Id": "150",
        "TxnDate": "2026-11-20",
        "PaymentRefNum": "pi_1",
        "PrivateNote": note,
        "Line": [{"Amount": D(amount), "LinkedTxn": [{"TxnId": txn, "TxnType": kind}]} for amount, txn, kind in lines],
    }


def test_what_a_payment_paid_onto_an_invoice_in_money() -> None:
    cash = mapping.payments_on_invoice(
        payment_row(("120.00", "130", "Invoice"), note=f"flexbill payment {OURS}"), "130"
    )
    assert cash is not None
    assert (cash.amount, cash.our_id, cash.date) == (D("120.00"), OURS, dt.date(2026, 11, 20))
    # 100.00 onto the invoice of which 30.00 is credit applied: 70.00 is money.
    mixed = mapping.payments_on_invoice(
        payment_row(("100.00", "130", "Invoice"), ("30.00", "140", "CreditMemo")), "130"
    )
    assert mixed is not None
    assert (mixed.amount, mixed.our_id) == (D("70.00"), None)
    credit_only = payment_row(("30.00", "130", "Invoice"), ("30.00", "140", "CreditMemo"))
    assert mapping.payments_on_invoice(credit_only, "130") is None
    assert mapping.payments_on_invoice(payment_row(("50.00", "131", "Invoice")), "130") is None


# --- settings ----------------------------------------------------------------------------------------------------


def test_tax_codes_with_their_rates() -> None:
    percents = mapping.tax_rate_percents([{"Id": "3", "RateValue": 20}, {"Id": "5", "RateValue": D("5.5")}])
    code = mapping.tax_code(
        {"Id": "4", "Name": "20.0% S", "SalesTaxRateList": {"TaxRateDetail": [{"TaxRateRef": {"value": "3"}}]}},
        percents,
    )
    assert code == TaxCode("4", "20.0% S", True, (TaxComponent("3", D(20)),))
    assert mapping.remote_tax_rate(code).rate == D(20)
    exempt = mapping.tax_code({"Id": "9", "Name": "Exempt", "Active": False}, percents)
    assert (exempt.components, mapping.remote_tax_rate(exempt).status) == ((), "ARCHIVED")
    with pytest.raises(Malformed, match="tax rate 8"):
        mapping.tax_code({"Id": "4", "SalesTaxRateList": {"TaxRateDetail": [{"TaxRateRef": {"value": "8"}}]}}, {})


def preferences(name: str, used: bool = True) -> dict[str, object]:
    return {
        "SalesFormsPrefs": {
            "CustomTxnNumbers": False,
            "CustomField": [
                {
                    "CustomField": [
                        {"Name": "SalesFormsPrefs.UseSalesCustom1", "Type": "BooleanType", "BooleanValue": False},
                        {"Name": "SalesFormsPrefs.UseSalesCustom2", "Type": "BooleanType", "BooleanValue": used},
                    ]
                },
                {
                    "CustomField": [
                        {"Name": "SalesFormsPrefs.SalesCustomName1", "Type": "StringType", "StringValue": "Crew #"},
                        {"Name": "SalesFormsPrefs.SalesCustomName2", "Type": "StringType", "StringValue": name},
                    ]
                },
            ],
        }
    }


def test_the_flexbill_id_custom_field_is_found_in_the_preferences() -> None:
    assert mapping.custom_field_definition(preferences("Flexbill ID")) == "2"
    assert mapping.custom_field_definition(preferences("flexbill id", used=False)) is None
    assert mapping.custom_field_definition(preferences("PO number")) is None
    assert mapping.custom_field_definition({}) is None


def test_locations_are_departments() -> None:
    found = mapping.locations(
        [{"Id": "1", "Name": "London"}, {"Id": "2", "Name": "Berlin"}, {"Id": "3", "Active": False}]
    )
    assert found == {"London": "1", "Berlin": "2"}
    [category] = mapping.tracking_categories(found)
    assert (category.name, category.options) == ("Location", ("Berlin", "London"))
    assert mapping.tracking_categories({}) == []


# --- faults ------------------------------------------------------------------------------------------------------


def test_a_json_fault_in_quickbooks_words() -> None:
    fault = mapping.fault_of(
        {
            "Fault": {
                "type": "ValidationFault",
                "Error": [
                    {
                        "Message": "Duplicate Name Exists Error",
                        "Detail": "The name supplied already exists. : Id=58",
                        "code": "6240",
                        "element": "",
                    }
                ],
            },
            "time": "2026-11-26T04:00:00-08:00",
        }
    )
    assert fault is not None
    assert fault.conflict
    assert fault.codes == {"6240"}
    assert fault.words == ("Duplicate Name Exists Error: The name supplied already exists. : Id=58 (6240)",)
    assert mapping.fault_of({"Invoice": {}}) is None


def test_the_throttle_fault_in_xml() -> None:
    fault = mapping.xml_fault(
        '<?xml version="1.0"?><IntuitResponse xmlns="http://schema.intuit.com/finance/v3"><Fault type="SERVICE">'
        '<Error code="3001"><Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>'
        "<Detail>The request limit was reached.  Try again later</Detail></Error></Fault></IntuitResponse>"
    )
    assert fault is not None
    assert fault.type == "SERVICE"
    assert fault.codes == {"3001"}
    assert mapping.xml_fault("<html>Bad gateway</html>") is None


# --- webhooks ----------------------------------------------------------------------------------------------------

VERIFIER = "a7b9d6f3-verifier"


def signed(body: bytes) -> str:
    return base64.b64encode(hmac.new(VERIFIER.encode(), body, hashlib.sha256).digest()).decode()


def test_the_signature_is_checked_on_the_raw_body() -> None:
    body = b'{"eventNotifications":[]}'
    mapping.verify_signature(body, signed(body), VERIFIER)
    with pytest.raises(BadSignature, match="does not match"):
        mapping.verify_signature(body + b" ", signed(body), VERIFIER)
    with pytest.raises(BadSignature, match="no intuit-signature"):
        mapping.verify_signature(body, None, VERIFIER)


LEGACY = {
    "eventNotifications": [
        {
            "realmId": "9341453008391720",
            "dataChangeEvent": {
                "entities": [
                    {"name": "Invoice", "id": "130", "operation": "Update", "lastUpdated": "2026-11-26T14:42:19-0700"},
                    {"name": "Payment", "id": "150", "operation": "Create", "lastUpdated": "2026-11-26T14:42:19-0700"},
                    {"name": "Vendor", "id": "7", "operation": "Update", "lastUpdated": "2026-11-26T14:42:19-0700"},
                    {"name": "CreditMemo", "id": "140", "operation": "Void", "lastUpdated": "2026-11-26T14:42:19-0700"},
                    {"name": "Customer", "id": "58", "operation": "Merge", "lastUpdated": "2026-11-26T14:42:19-0700"},
                ]
            },
        }
    ]
}


def test_legacy_notifications() -> None:
    events = mapping.webhook_events(json.dumps(LEGACY).encode())
    assert [(e.tenant_id, e.category, e.resource_id, e.event_type) for e in events] == [
        ("9341453008391720", "invoice", "130", "Update"),
        ("9341453008391720", "payment", "150", "Create"),
        ("9341453008391720", "credit_note", "140", "Void"),
        ("9341453008391720", "contact", "58", "Merge"),
    ]
    again = mapping.webhook_events(json.dumps(LEGACY, indent=2).encode())
    assert [e.event_id for e in again] == [e.event_id for e in events]  # the same on a re-delivery
    assert len({e.event_id for e in events}) == 4


def test_cloud_events() -> None:
    body = json.dumps(
        [
            {
                "specversion": "1.0",
                "id": "88cd52bc-1e16-4b5a-a2d9-6a0e3e8d5f31",
                "source": "intuit.dsnBgbseACLLRZNxo2dfc4=",
                "type": "qbo.invoice.created.v1",
                "datacontenttype": "application/json",
                "time": "2026-11-26T21:31:25.179Z",
                "intuitentityid": "130",
                "intuitaccountid": "9341453008391720",
                "data": {},
            },
            {
                "specversion": "1.0",
                "id": "5c1e7a1d-0000-4000-8000-000000000001",
                "type": "qbo.account.updated.v1",
                "intuitentityid": "35",
                "intuitaccountid": "9341453008391720",
            },
            {
                "specversion": "1.0",
                "id": "5c1e7a1d-0000-4000-8000-000000000002",
                "type": "qbo.creditmemo.deleted.v1",
                "intuitentityid": 140,
                "intuitaccountid": "9341453008391720",
            },
        ]
    ).encode()
    events = mapping.webhook_events(body)
    assert [(e.event_id, e.category, e.resource_id, e.event_type) for e in events] == [
        ("88cd52bc-1e16-4b5a-a2d9-6a0e3e8d5f31", "invoice", "130", "created"),
        ("5c1e7a1d-0000-4000-8000-000000000002", "credit_note", "140", "deleted"),
    ]


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"something": []}', b'[{"id": "1", "type": "invoice"}]', b'[{"type": "qbo.invoice.created.v1"}]'],
)
def test_deliveries_that_cannot_be_read(body: bytes) -> None:
    with pytest.raises(Malformed):
        mapping.webhook_events(body)


def test_the_changes_of_a_cdc_answer() -> None:
    envelope = {
        "CDCResponse": [
            {
                "QueryResponse": [
                    {
                        "Invoice": [{"Id": "130"}, {"Id": "131", "status": "Deleted"}],
                        "startPosition": 1,
                        "maxResults": 2,
                    },
                    {"Payment": [{"Id": "150"}]},
                ]
            }
        ],
        "time": "2026-11-26T04:00:00-08:00",
    }
    changed = mapping.cdc_entities(envelope)
    assert {name: [row["Id"] for row in rows] for name, rows in changed.items()} == {
        "Invoice": ["130", "131"],
        "Payment": ["150"],
    }
    assert mapping.response_time(envelope) == dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def test_query_literals_are_escaped() -> None:
    assert mapping.in_list(["O'Neil", "Acme"]) == "('O\\'Neil', 'Acme')"


# --- properties of the money -------------------------------------------------------------------------------------

cents = st.integers(min_value=0, max_value=10_000_00).map(lambda n: D(n).scaleb(-2))


@st.composite
def documents(draw: st.DrawFn) -> DocumentData:
    inclusive = draw(st.booleans())
    lines = []
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        code = draw(st.sampled_from([VAT, NO_VAT, SPLIT]))
        quantity = D(draw(st.integers(min_value=1, max_value=40)))
        price = draw(cents)
        discount = draw(st.sampled_from([D(0), D(0), D("1.00")]))
        amount = max(round_money(quantity * price, "GBP") - discount, D(0))
        if code.components:
            rate = code.percent / 100
            tax = round_money(amount * rate / (1 + rate) if inclusive else amount * rate, "GBP")
        else:
            tax = D(0)
        lines.append(LineData("Line", quantity, price, discount, amount, tax, "7", code.id))
    return document(*lines, inclusive=inclusive)


@settings(max_examples=300, deadline=None)
@given(documents())
def test_the_lines_and_the_tax_lines_always_make_our_totals(sent: DocumentData) -> None:
    body = mapping.document_body(sent, INVOICE, codes=CODES, custom_field=None, department=None)
    net = sum((item["Amount"] for item in body["Line"]), D(0))
    tax = body.get("TxnTaxDetail", {"TotalTax": D(0), "TaxLine": []})
    assert tax["TotalTax"] == sent.tax_total
    assert sum((item["Amount"] for item in tax["TaxLine"]), D(0)) == sent.tax_total
    assert net + tax["TotalTax"] == sent.total
    for item in body["Line"]:
        detail = item["SalesItemLineDetail"]
        assert round_money(detail["Qty"] * detail["UnitPrice"], "GBP") == item["Amount"]  # as QuickBooks checks
    sent_json = json.loads(mapping.dumps(body), parse_float=D)
    assert sent_json["Line"][0]["Amount"] == body["Line"][0]["Amount"]  # no float on the way
