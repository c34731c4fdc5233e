"""The Xero mapping against golden JSON written by hand from the spec's examples, every request body checked
against the spec's request schema, and the way back from Xero's answers."""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime as dt
import hashlib
import hmac
import json
import re
import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest

from flexbill.accounting.connectors.xero import mapping
from flexbill.accounting.connectors.xero.mapping import Malformed
from flexbill.accounting.model import (
    Address,
    AllocationData,
    ContactData,
    DocumentData,
    LineData,
    PaymentData,
    Pushed,
    Refused,
    RemoteAccount,
    RemotePayment,
    RemoteTaxRate,
    RemoteTrackingCategory,
    TrackingChoice,
)
from flexbill.accounting.ports import BadSignature, Conflict, Rejected

from .conftest import RequestCheck, golden, golden_bytes

D = Decimal
CUSTOMER = uuid.UUID("5b8a4f1e-2c3d-4e5f-8a9b-0c1d2e3f4a5b")
INVOICE = uuid.UUID("6f1c2a9e-0b7d-4c55-9d43-1f2e3a4b5c6d")
OTHER_INVOICE = uuid.UUID("2e4c6a8b-1d3f-4a5b-9c7d-8e0f1a2b3c4d")
CREDIT_NOTE = uuid.UUID("7a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d")
PAYMENT = uuid.UUID("8b3c4d5e-6f7a-4b2c-9d3e-4f5a6b7c8d9e")
CONTACT_ID = "430fa14a-f945-44d3-9f97-5df5e28441b8"
INVOICE_ID = "ed255415-e141-4150-aab7-89c3bbbb851c"
BERLIN = (TrackingChoice("Location", "Berlin"),)


def inclusive_eur_invoice() -> DocumentData:
    """The worked example: prices include 19% VAT; tax per line, rounded half-up to the cent.

    ==================================  ===  ========  ========  ========  ===============================
    line                                qty  unit      discount  amount    tax (amount x 19 / 119)
    ==================================  ===  ========  ========  ========  ===============================
    Hot desk membership, November 2026    1  249.00       24.90    224.10  35.78  (35.78168...)
    Printing, 150 pages                 150    0.0825      0.00     12.38   1.98  (12.375 -> 12.38; 1.97663...)
    Meeting room, 2 hours                 2   35.00        0.00     70.00  11.18  (11.17647...)
    ==================================  ===  ========  ========  ========  ===============================

    Total 306.48 including 48.94 VAT, so 257.54 net.
    """
    return DocumentData(
        our_id=INVOICE,
        number="BER-0042",
        contact_external_id=CONTACT_ID,
        date=dt.date(2026, 11, 1),
        due_date=dt.date(2026, 11, 15),
        currency="EUR",
        prices_include_tax=True,
        lines=(
            LineData("Hot desk membership, November 2026", D(1), D("249.00"), D("24.90"), D("224.10"), D("35.78"),
                     "200", "OUTPUT", BERLIN),
            LineData("Printing, 150 pages", D(150), D("0.0825"), D("0.00"), D("12.38"), D("1.98"), "210", "OUTPUT",
                     BERLIN),
            LineData("Meeting room, 2 hours", D(2), D("35.00"), D("0.00"), D("70.00"), D("11.18"), "210", "OUTPUT"),
        ),
        subtotal=D("257.54"),
        tax_total=D("48.94"),
        total=D("306.48"),
        reference="BER-0042",
    )  # fmt: skip


def draft_gbp_update() -> DocumentData:
    return DocumentData(
        our_id=uuid.UUID("1d6e8f20-3a4b-4c5d-8e9f-a0b1c2d3e4f5"),
        number=None,
        contact_external_id="be392c72-c121-4f83-9512-03ac71e54c20",
        date=dt.date(2026, 11, 1),
        due_date=dt.date(2026, 11, 30),
        currency="GBP",
        prices_include_tax=False,
        lines=(
            LineData("Private office for 4, November 2026", D(1), D("1800.00"), D(0), D("1800.00"), D("360.00"),
                     "200", "OUTPUT2"),
            LineData("Postal address service", D(1), D("25.00"), D(0), D("25.00"), D("0.00"), "210",
                     "ZERORATEDOUTPUT"),
        ),
        subtotal=D("1825.00"),
        tax_total=D("360.00"),
        total=D("2185.00"),
        draft=True,
        external_id=INVOICE_ID,
    )  # fmt: skip


def discounted_credit_note() -> DocumentData:
    """Xero takes no discount on a credit note. 224.10 / 1 = 224.1000 gives the line back exactly, so it goes at
    that net unit price; 124.99 / 250 = 0.49996 -> 0.5000 x 250 = 125.00, not 124.99, so the second line goes as
    one unit of 124.99 with the working in its description."""
    return DocumentData(
        our_id=CREDIT_NOTE,
        number="BER-CN-0007",
        contact_external_id=CONTACT_ID,
        date=dt.date(2026, 11, 21),
        due_date=None,
        currency="EUR",
        prices_include_tax=True,
        lines=(
            LineData("Hot desk membership, November 2026", D(1), D("249.00"), D("24.90"), D("224.10"), D("35.78"),
                     "200", "OUTPUT"),
            LineData("Printing, 250 pages", D(250), D("0.50"), D("0.01"), D("124.99"), D("19.96"), "210", "OUTPUT"),
        ),
        subtotal=D("293.35"),
        tax_total=D("55.74"),
        total=D("349.09"),
        reference="Hot desk charged twice",
    )  # fmt: skip


def kiezwerk(**changes: Any) -> ContactData:
    contact = ContactData(
        our_id=CUSTOMER,
        name="Kiezwerk GmbH",
        email="buchhaltung@kiezwerk.example",
        tax_number="DE123456789",
        address=Address("Oranienstraße 25", "Aufgang B", "Berlin", None, "10999", "DE"),
    )
    fields = {name: getattr(contact, name) for name in ContactData.__slots__}  # type: ignore[attr-defined]
    return ContactData(**{**fields, **changes})


# --- requests ----------------------------------------------------------------------------------------------------


def test_the_worked_example_adds_up() -> None:
    invoice = inclusive_eur_invoice()
    assert sum(line.line_amount for line in invoice.lines) == invoice.total == D("306.48")
    assert sum(line.tax_amount for line in invoice.lines) == invoice.tax_total == D("48.94")
    assert invoice.total - invoice.tax_total == invoice.subtotal == D("257.54")
    for line in invoice.lines:
        expected_tax = (line.line_amount * 19 / 119).quantize(D("0.01"), rounding="ROUND_HALF_UP")
        assert line.tax_amount == expected_tax


def test_an_inclusive_eur_invoice(check_request: RequestCheck) -> None:
    body = {"Invoices": [mapping.invoice_body(inclusive_eur_invoice())]}
    assert body == golden("invoice_inclusive_eur.json")
    check_request("put", "/Invoices", mapping.dumps(body))


def test_amounts_go_on_the_wire_exactly_as_they_are() -> None:
    text = mapping.dumps({"Invoices": [mapping.invoice_body(inclusive_eur_invoice())]}).decode()
    assert '"UnitAmount":0.0825' in text
    assert '"DiscountAmount":24.90' in text
    assert '"LineAmount":224.10' in text
    assert '"Quantity":150,' in text
    numbers = re.findall(r'":(-?[0-9][^,}\]]*)', text)
    assert len(numbers) == 13  # five on the first line, four on each other
    assert all(re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", n) for n in numbers), numbers  # never 1E+2, never 0.30000000004
    assert mapping.dumps(D("1E+2")) == b"100"


def test_a_draft_update_in_gbp_without_our_number(check_request: RequestCheck) -> None:
    """Xero numbers it (no InvoiceNumber); no reference of ours, so the Reference is our id alone."""
    body = {"Invoices": [mapping.invoice_body(draft_gbp_update())]}
    assert body == golden("invoice_exclusive_gbp_draft_update.json")
    check_request("post", "/Invoices", mapping.dumps(body))


def test_a_credit_note_with_discounted_lines(check_request: RequestCheck) -> None:
    body = {"CreditNotes": [mapping.credit_note_body(discounted_credit_note())]}
    assert body == golden("credit_note_discounted.json")
    check_request("put", "/CreditNotes", mapping.dumps(body))


def test_a_new_contact(check_request: RequestCheck) -> None:
    body = {"Contacts": [mapping.contact_body(kiezwerk())]}
    assert body == golden("contact_create.json")
    check_request("put", "/Contacts", mapping.dumps(body))


def test_a_contact_update_clears_what_was_removed(check_request: RequestCheck) -> None:
    contact = kiezwerk(email="rechnungen@kiezwerk.example", tax_number=None, address=Address(), external_id=CONTACT_ID)
    body = {"Contacts": [mapping.contact_body(contact)]}
    assert body == golden("contact_update.json")
    check_request("post", "/Contacts", mapping.dumps(body))


def test_a_payment(check_request: RequestCheck) -> None:
    payment = PaymentData(PAYMENT, INVOICE_ID, dt.date(2026, 11, 20), D("306.48"), "090", reference="pi_3QxYzStripe")
    body = {"Payments": [mapping.payment_body(payment)]}
    assert body == golden("payment.json")
    check_request("put", "/Payments", mapping.dumps(body))


def test_an_allocation(check_request: RequestCheck) -> None:
    allocation = AllocationData("249f15fa-f2a7-4acc-8769-0984103f2225", INVOICE_ID, D("50.00"), dt.date(2026, 11, 21))
    body = {"Allocations": [mapping.allocation_body(allocation)]}
    assert body == golden("allocation.json")
    check_request("put", "/CreditNotes/{CreditNoteID}/Allocations", mapping.dumps(body))


@pytest.mark.parametrize("status", ["VOIDED", "DELETED"])
def test_a_status_change(check_request: RequestCheck, status: str) -> None:
    body = mapping.status_body(INVOICE_ID, status)
    assert body == {"Invoices": [{"InvoiceID": INVOICE_ID, "Status": status}]}
    check_request("post", "/Invoices/{InvoiceID}", mapping.dumps(body))


@pytest.mark.parametrize(
    ("operation", "name"),
    [
        (("put", "/Contacts"), "contact_create.json"),
        (("post", "/Contacts"), "contact_update.json"),
        (("put", "/Invoices"), "invoice_inclusive_eur.json"),
        (("post", "/Invoices"), "invoice_exclusive_gbp_draft_update.json"),
        (("put", "/CreditNotes"), "credit_note_discounted.json"),
        (("put", "/Payments"), "payment.json"),
        (("put", "/CreditNotes/{CreditNoteID}/Allocations"), "allocation.json"),
    ],
)
def test_the_golden_requests_match_the_spec(check_request: RequestCheck, operation: tuple[str, str], name: str) -> None:
    check_request(*operation, golden_bytes(name))


def test_the_spec_check_catches_a_wrong_body(check_request: RequestCheck) -> None:
    wrong = golden("invoice_inclusive_eur.json")
    wrong["Invoices"][0]["Type"] = "SALE"
    wrong["Invoices"][0]["Total"] = D("306.48")  # read-only
    wrong["Invoices"][0]["LineItems"][0]["Quantity"] = "1"
    with pytest.raises(AssertionError) as failure:
        check_request("put", "/Invoices", wrong)
    assert "'SALE' is not one of" in str(failure.value)
    assert "read-only" in str(failure.value).lower() or "readonly" in str(failure.value).lower()
    assert "'1' is not of type 'number'" in str(failure.value)


def test_a_unit_price_beyond_four_places_is_refused() -> None:
    assert mapping.unit_amount(D("0.08250")) == D("0.0825")
    assert mapping.unit_amount(D("249.00")) == D("249.00")
    with pytest.raises(ValueError, match="more than 4 decimal places"):
        mapping.unit_amount(D("0.08255"))


def test_floats_never_go_on_the_wire() -> None:
    with pytest.raises(TypeError, match="floats are refused"):
        mapping.dumps({"Amount": 1.5})
    with pytest.raises(ValueError, match="cannot be sent"):
        mapping.dumps({"Amount": D("NaN")})


# --- our ids -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ours", "sent"),
    [
        ("BER-0042", f"BER-0042 · {INVOICE}"),
        ("", str(INVOICE)),
        ("  PO   4711 ", f"PO 4711 · {INVOICE}"),
        (f"BER-0042 · {INVOICE}", f"BER-0042 · {INVOICE}"),  # already tagged: not twice
        (str(INVOICE).upper(), str(INVOICE)),
    ],
)
def test_our_id_rides_at_the_end_of_the_reference(ours: str, sent: str) -> None:
    assert mapping.tagged_reference(ours, INVOICE) == sent
    assert mapping.our_id_in(sent) == INVOICE
    assert mapping.shown_reference(sent) == " ".join(ours.split()).replace(f" · {INVOICE}", "").replace(
        str(INVOICE).upper(), ""
    )


def test_a_long_reference_is_shortened_and_keeps_our_id() -> None:
    sent = mapping.tagged_reference("x" * 300, INVOICE)
    assert len(sent) == mapping.REFERENCE_MAX
    assert sent.endswith(f"… · {INVOICE}")
    assert mapping.our_id_in(sent) == INVOICE


@pytest.mark.parametrize(
    "reference",
    [None, "", "Website design", f"order-{INVOICE}", f"{INVOICE} paid", f"INV-1·{INVOICE}", 42],
)
def test_references_that_are_not_ours(reference: object) -> None:
    assert mapping.our_id_in(reference) is None


def test_look_ups_are_or_joined_and_fit_in_a_url() -> None:
    ids = [uuid.UUID(int=n) for n in range(100)]
    chunks = mapping.references_where(ids, 1500)
    assert len(chunks) > 1
    assert all(len(quote(chunk, safe="")) <= 1500 for chunk in chunks)
    clauses = [clause for chunk in chunks for clause in chunk.split(" OR ")]
    assert clauses == [f'Reference.Contains("{i}")' for i in ids]
    assert mapping.contacts_where([CUSTOMER], 1500) == [f'ContactNumber=="{CUSTOMER}"']
    assert mapping.contacts_where([], 1500) == []


# --- answers -----------------------------------------------------------------------------------------------------


def test_a_batch_answer_with_one_taken_and_one_refused() -> None:
    results = mapping.push_results(mapping.INVOICES, [INVOICE, OTHER_INVOICE], golden("invoices_put_response.json"))
    assert results == [
        Pushed(INVOICE, INVOICE_ID, number="BER-0042", total=D("306.48")),
        Refused(
            OTHER_INVOICE,
            ("Invoice # must be unique.", "Account code '999' is not a valid code for this document."),
            conflict=True,
        ),
    ]


def test_a_batch_answer_in_another_order_is_paired_by_reference() -> None:
    results = mapping.push_results(mapping.INVOICES, [OTHER_INVOICE, INVOICE], golden("invoices_put_response.json"))
    assert [(r.our_id, type(r)) for r in results] == [(OTHER_INVOICE, Refused), (INVOICE, Pushed)]


def test_a_batch_answer_without_identifiers_is_paired_by_position() -> None:
    answer = golden("invoices_put_response.json")
    for element in answer["Invoices"]:
        del element["Reference"]
    first, second = uuid.uuid4(), uuid.uuid4()
    results = mapping.push_results(mapping.INVOICES, [first, second], answer)
    assert [(r.our_id, type(r)) for r in results] == [(first, Pushed), (second, Refused)]


@pytest.mark.parametrize(
    ("sent", "why"),
    [
        ([INVOICE], "cannot be told apart"),  # two answers for one
        ([INVOICE, OTHER_INVOICE, CREDIT_NOTE], "no result came back"),
        ([INVOICE, CREDIT_NOTE], "cannot be told apart"),  # an answer for something not sent
    ],
)
def test_a_batch_answer_that_does_not_pair(sent: list[uuid.UUID], why: str) -> None:
    with pytest.raises(Malformed, match=why):
        mapping.push_results(mapping.INVOICES, sent, golden("invoices_put_response.json"))


def test_taken_without_an_id_is_not_taken() -> None:
    answer = golden("invoices_put_response.json")
    answer["Invoices"][0]["InvoiceID"] = mapping.ZERO_GUID
    with pytest.raises(Malformed, match="gave no InvoiceID"):
        mapping.push_results(mapping.INVOICES, [INVOICE, OTHER_INVOICE], answer)


def test_payments_and_contacts_in_batches() -> None:
    """Xero's payment answers carry HasValidationErrors rather than StatusAttributeString; a WARNING is taken."""
    other = uuid.uuid4()
    payments = {
        "Payments": [
            {"PaymentID": "61ed71fc-01bf-4eb8-8419-8a18789ff45f", "Amount": D("306.48"), "Reference": f"x · {PAYMENT}",
             "HasValidationErrors": False},
            {"PaymentID": mapping.ZERO_GUID, "Amount": 1, "Reference": f"{other}", "HasValidationErrors": True,
             "ValidationErrors": [{"Message": "Payment amount exceeds the amount outstanding on this document"}]},
        ]
    }  # fmt: skip
    assert mapping.push_results(mapping.PAYMENTS, [PAYMENT, other], payments) == [
        Pushed(PAYMENT, "61ed71fc-01bf-4eb8-8419-8a18789ff45f", total=D("306.48")),
        Refused(other, ("Payment amount exceeds the amount outstanding on this document",)),
    ]
    contacts = {
        "Contacts": [
            {"ContactID": CONTACT_ID, "ContactNumber": str(CUSTOMER), "StatusAttributeString": "WARNING",
             "Warnings": [{"Message": "The email address looks odd"}]},
            {"ContactID": mapping.ZERO_GUID, "ContactNumber": str(other), "StatusAttributeString": "ERROR",
             "ValidationErrors": [{"Message": "The contact name Kiezwerk GmbH is already assigned to another "
                                              "contact. The contact name must be unique across all active contacts."}]},
        ]
    }  # fmt: skip
    results = mapping.push_results(mapping.CONTACTS, [other, CUSTOMER], contacts)
    assert results[1] == Pushed(CUSTOMER, CONTACT_ID)
    assert isinstance(results[0], Refused)
    assert results[0].conflict


def test_an_invoice_as_xero_holds_it() -> None:
    envelope = golden("invoice_paid_response.json")
    [record] = mapping.collection(envelope, "Invoices")
    document = mapping.remote_invoice(record)
    assert document.external_id == INVOICE_ID
    assert document.our_id == INVOICE
    assert document.number == "BER-0042"
    assert (document.status, document.voided) == ("PAID", False)
    assert (document.total, document.amount_paid, document.amount_due) == (D("306.48"), D("306.48"), D("0.00"))
    assert document.updated_at == dt.datetime(2026, 11, 24, 8, 0, 0, 250000, tzinfo=dt.UTC)
    assert document.payments == (
        RemotePayment("38928000-e9a0-420c-8884-f624bab2a351", dt.date(2026, 11, 20), D("300.00"), "pi_3QxYzStripe",
                      our_id=PAYMENT),
        RemotePayment("6b037c9b-2e5d-4905-84d3-eabfb3438242", dt.date(2026, 11, 24), D("6.48"),
                      "Bank transfer, rest"),
    )  # fmt: skip
    assert mapping.response_time(envelope) == dt.datetime(2026, 11, 24, 8, 0, 0, 250000, tzinfo=dt.UTC)


def test_amounts_come_back_as_decimals() -> None:
    record = mapping.loads(b'{"InvoiceID": "a", "Status": "VOIDED", "Total": 0.1, "AmountPaid": 0, "AmountDue": 0}')
    document = mapping.remote_invoice(record)
    assert document.total == D("0.1")
    assert type(document.total) is Decimal
    assert document.voided


def test_a_credit_note_as_xero_holds_it() -> None:
    [record] = mapping.collection(golden("credit_notes_response.json"), "CreditNotes")
    note = mapping.remote_credit_note(record)
    assert (note.our_id, note.number, note.status) == (CREDIT_NOTE, "BER-CN-0007", "AUTHORISED")
    assert (note.total, note.amount_paid, note.amount_due) == (D("349.09"), D("50.00"), D("299.09"))


def test_the_settings() -> None:
    assert mapping.remote_accounts(golden("accounts_response.json")) == [
        RemoteAccount("090", "Business Bank Account", "BANK"),
        RemoteAccount("200", "Sales", "REVENUE"),
        RemoteAccount("210", "Other Revenue", "REVENUE", status="ARCHIVED"),
    ]
    assert mapping.remote_tax_rates(golden("tax_rates_response.json")) == [
        RemoteTaxRate("OUTPUT", "19% USt. on Income", D("19.0000")),
        RemoteTaxRate("TAX002", "GST + QST", D("14.9750")),
        RemoteTaxRate("NONE", "No VAT", D(0)),
        RemoteTaxRate("TAX001", "Old 16%", D("16.0000"), status="ARCHIVED"),
    ]
    assert mapping.remote_tracking_categories(golden("tracking_categories_response.json")) == [
        RemoteTrackingCategory("Location", ("Berlin", "Leipzig")),
        RemoteTrackingCategory("Product line", ()),
    ]


def test_a_validation_exception_names_every_message_and_a_duplicate_is_a_conflict() -> None:
    error = mapping.rejection(400, golden("validation_error.json"), "")
    assert isinstance(error, Conflict)
    assert error.errors == (
        "Invoice # must be unique.",
        "Account code '999' is not a valid code for this document.",
        "The TaxType code 'OUTPUT9' does not exist or cannot be used for this type of transaction.",
    )
    assert error.message.startswith("Xero refused it (ValidationException): Invoice # must be unique.;")


def test_other_refusals() -> None:
    plain = mapping.rejection(400, golden("validation_error.json")["Elements"][1:], "")
    assert type(plain) is Rejected
    query = mapping.rejection(400, {"Type": "QueryParseException", "Message": "No property 'Refrence' exists"}, "")
    assert type(query) is Rejected
    assert query.errors == ("No property 'Refrence' exists",)
    html = mapping.rejection(400, None, "<html>\n  Bad   Request </html>")
    assert html.message == "Xero refused it (HTTP 400): <html> Bad Request </html>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/Date(1552262400000+0000)/", dt.date(2019, 3, 11)),
        ("/Date(1552262400000)/", dt.date(2019, 3, 11)),
        ("/Date(1552215600000+1300)/", dt.date(2019, 3, 11)),  # midnight in Auckland
        ("/Date(-86400000+0000)/", dt.date(1969, 12, 31)),
        ("2019-03-11T00:00:00", dt.date(2019, 3, 11)),
        ("2019-03-11", dt.date(2019, 3, 11)),
    ],
)
def test_dates(text: str, expected: dt.date) -> None:
    assert mapping.parse_date(text, "Date") == expected


@pytest.mark.parametrize("value", ["/Date(abc)/", "", "yesterday", None, 1552262400000, "/Date(99999999999999999999)/"])
def test_dates_that_are_not(value: object) -> None:
    with pytest.raises(Malformed):
        mapping.parse_date(value, "Date")
    with pytest.raises(Malformed):
        mapping.parse_datetime(value, "UpdatedDateUTC")


def test_times() -> None:
    assert mapping.parse_datetime("2026-11-24T08:00:00.250", "x") == dt.datetime(2026, 11, 24, 8, 0, 0, 250000,
                                                                               tzinfo=dt.UTC)  # fmt: skip
    assert mapping.parse_datetime("2026-11-24T09:00:00+01:00", "x") == dt.datetime(2026, 11, 24, 8, tzinfo=dt.UTC)


@pytest.mark.parametrize("body", [b"<Response/>", b"", b'{"Total": NaN}', b"\xff\xfe\x00"])
def test_bodies_that_are_not_json(body: bytes) -> None:
    with pytest.raises(Malformed):
        mapping.loads(body)


# --- whatever the shape of an answer, only Malformed comes out -------------------------------------------------


def _mutations(value: Any, path: tuple[Any, ...] = ()) -> Any:
    """Every answer with one value deleted or replaced by a value of another type."""
    if isinstance(value, dict):
        for key in value:
            yield (*path, key), "delete"
            for replacement in (None, "x", 7, [], {}, True, D("1.5")):
                yield (*path, key), replacement
            yield from _mutations(value[key], (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*path, index), "not-an-object"
            yield from _mutations(item, (*path, index))


def _apply(value: Any, path: tuple[Any, ...], change: object) -> Any:
    copied = copy.deepcopy(value)
    target = copied
    for step in path[:-1]:
        target = target[step]
    if change == "delete" and isinstance(target, dict):
        del target[path[-1]]
    elif change == "not-an-object":
        target[path[-1]] = "oops"
    else:
        target[path[-1]] = change
    return copied


READERS = {
    "invoices_put_response.json": lambda a: mapping.push_results(mapping.INVOICES, [INVOICE, OTHER_INVOICE], a),
    "invoice_paid_response.json": lambda a: [mapping.remote_invoice(i) for i in mapping.collection(a, "Invoices")],
    "credit_notes_response.json": lambda a: [
        mapping.remote_credit_note(n) for n in mapping.collection(a, "CreditNotes")
    ],
    "accounts_response.json": mapping.remote_accounts,
    "tax_rates_response.json": mapping.remote_tax_rates,
    "tracking_categories_response.json": mapping.remote_tracking_categories,
    "validation_error.json": lambda a: mapping.rejection(400, a, ""),
}


@pytest.mark.parametrize("name", sorted(READERS))
def test_a_damaged_answer_raises_only_malformed(name: str) -> None:
    """Each value of the answer deleted, or replaced by one of another type, in turn: the reader either copes or
    raises Malformed, never a KeyError, TypeError or the like."""
    answer = golden(name)
    READERS[name](answer)
    checked = 0
    for path, change in _mutations(answer):
        with contextlib.suppress(Malformed):
            READERS[name](_apply(answer, path, change))
        checked += 1
    assert checked > 50


@pytest.mark.parametrize("name", sorted(set(READERS) - {"validation_error.json"}))
@pytest.mark.parametrize("answer", [None, [], "x", 3, {}])
def test_an_answer_that_is_not_an_envelope(name: str, answer: object) -> None:
    with pytest.raises(Malformed):
        READERS[name](answer)


# --- webhooks ----------------------------------------------------------------------------------------------------

KEY = "Zm9vYmFyLXdlYmhvb2sta2V5LWZvci10ZXN0cw=="


def sign(body: bytes, key: str = KEY) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def test_a_signed_delivery() -> None:
    body = golden_bytes("webhook_delivery.json")
    mapping.verify_signature(body, sign(body), KEY)
    events = mapping.webhook_events(body)
    assert [(e.category, e.event_type, e.resource_id) for e in events] == [
        ("invoice", "UPDATE", INVOICE_ID),
        ("credit_note", "CREATE", "249f15fa-f2a7-4acc-8769-0984103f2225"),
        ("contact", "UPDATE", CONTACT_ID),
    ]  # the app's subscription event is not about an organisation's books
    assert {e.tenant_id for e in events} == {"c2cc9b6e-9458-4c7d-93cc-f02b81b0594f"}
    assert len({e.event_id for e in events}) == 3


def test_a_delivery_sent_again_gives_the_same_event_ids() -> None:
    body = golden_bytes("webhook_delivery.json")
    again = json.loads(body)
    again["firstEventSequence"], again["lastEventSequence"], again["entropy"] = 97, 100, "ANOTHERENTROPYSTRING"
    again["events"].reverse()
    first = {e.resource_id: e.event_id for e in mapping.webhook_events(body)}
    second = {e.resource_id: e.event_id for e in mapping.webhook_events(json.dumps(again).encode())}
    assert first == second
    later = json.loads(body)
    later["events"][0]["eventDateUtc"] = "2026-11-24T08:05:00.000"
    assert mapping.webhook_events(json.dumps(later).encode())[0].event_id != first[INVOICE_ID]


def test_an_intent_to_receive_has_no_events() -> None:
    body = b'{"events":[],"lastEventSequence":0,"firstEventSequence":0,"entropy":"S0m3r4Nd0mt3xt"}'
    mapping.verify_signature(body, sign(body), KEY)
    assert mapping.webhook_events(body) == []


@pytest.mark.parametrize(
    "signature",
    [None, "", "not base64", sign(b"another body"), sign(golden_bytes("webhook_delivery.json"), "another key")],
)
def test_a_wrong_signature(signature: str | None) -> None:
    with pytest.raises(BadSignature):
        mapping.verify_signature(golden_bytes("webhook_delivery.json"), signature, KEY)


def test_the_signature_is_over_the_raw_bytes() -> None:
    body = golden_bytes("webhook_delivery.json")
    reformatted = json.dumps(json.loads(body)).encode()
    with pytest.raises(BadSignature):
        mapping.verify_signature(reformatted, sign(body), KEY)


@pytest.mark.parametrize(
    "body", [b"[]", b"{}", b'{"events": {}}', b'{"events": [1]}', b'{"events": [{"eventCategory": "INVOICE"}]}']
)
def test_a_signed_delivery_of_the_wrong_shape(body: bytes) -> None:
    with pytest.raises(Malformed):
        mapping.webhook_events(body)
