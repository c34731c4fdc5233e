"""The invoice PDF's view model, built from rows held in memory: statuses (overdue by the location's date), what
is due and whether the pay link shows, amounts per currency, lines and their periods, the tax breakdown and its
words, the file name, and the HTML escaping of user text."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from flexbill.catalog.store import LocationRow
from flexbill.formatting import format_money
from flexbill.invoicing.documents import pdf_filename
from flexbill.invoicing.model import TaxComponent, TaxRate
from flexbill.invoicing.pdf import (
    DocumentStatus,
    InvoiceDocument,
    format_quantity,
    format_unit_price,
    invoice_document,
    render_html,
)
from flexbill.invoicing.store import InvoiceLineRow, InvoiceRow

D = Decimal
VAT20 = TaxRate(uuid.UUID(int=20), "VAT20", "VAT 20%", (TaxComponent("VAT", D(20)),))
ZERO_RATED = TaxRate(uuid.UUID(int=0), "ZERO", "No VAT", (TaxComponent("VAT", D(0)),))
GST_QST = TaxRate(
    uuid.UUID(int=15), "GST-QST", "GST + QST", (TaxComponent("GST", D(5)), TaxComponent("QST", D("9.975")))
)
RATES = {rate.id: rate for rate in (VAT20, ZERO_RATED, GST_QST)}
PAY = "https://billing.example.com/pay/1?token=t"
DUE = date(2026, 12, 15)


def location(**fields: Any) -> LocationRow:
    values: dict[str, Any] = {
        "id": uuid.UUID(int=1), "name": "London Bridge", "code": "LB", "currency": "GBP",
        "timezone": "Europe/London", "prices_include_tax": False, "legal_name": None, "address": "",
        "email": None, "phone": None, "tax_number": None, "payment_details": "", "logo": None,
        "logo_media_type": None,
    }  # fmt: skip
    return LocationRow(**(values | fields))


def line(net: str, rate: TaxRate, *, position: int = 0, **fields: Any) -> InvoiceLineRow:
    """A line of quantity 1 taxed per line, exclusive prices unless ``gross`` is given."""
    amount = D(net)
    tax = (amount * rate.rate / 100).quantize(D("0.01"))
    values: dict[str, Any] = {
        "position": position, "kind": "fee", "description": "Day pass", "quantity": D(1), "unit_price": amount,
        "discount_rate": None, "discount_amount": D(0), "net_amount": amount, "tax_amount": tax,
        "gross_amount": amount + tax, "account_id": uuid.UUID(int=9), "account_code": "200", "tax_rate_id": rate.id,
        "tax_rate_code": rate.code, "tax_rate_percent": rate.rate, "period_start": None,
        "period_end_exclusive": None,
    }  # fmt: skip
    return InvoiceLineRow(**(values | fields))


def invoice(lines: list[InvoiceLineRow], status: str = "awaiting_payment", **fields: Any) -> InvoiceRow:
    subtotal = sum((item.net_amount for item in lines), D(0))
    tax = sum((item.tax_amount for item in lines), D(0))
    values: dict[str, Any] = {
        "id": uuid.UUID("01a2186c-d662-72f2-9981-83839a290701"), "number": "LB-0001", "location_id": uuid.UUID(int=1),
        "customer_id": uuid.UUID(int=2), "currency": "GBP", "issue_date": date(2026, 12, 1), "due_date": DUE,
        "status": status, "prices_include_tax": False, "tax_rounding": "per_line", "subtotal": subtotal,
        "tax_total": tax, "total": subtotal + tax, "amount_paid": D(0), "amount_credited": D(0),
        "bill_to_name": "Acme Ltd", "bill_to_email": "billing@acme.test", "bill_to_address": "1 High St\nLondon",
        "bill_to_tax_number": None, "voided_at": None,
    }  # fmt: skip
    row = InvoiceRow(**(values | fields))
    row.lines = lines
    return row


def document(row: InvoiceRow, *, today: date = date(2026, 12, 2), **location_fields: Any) -> InvoiceDocument:
    return invoice_document(row, location(**location_fields), rates=RATES, today=today, pay_url=PAY)


# --- amounts --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "printed"),
    [
        ("1234.5", "GBP", "£1,234.50"),
        ("1234.5", "EUR", "€1,234.50"),
        ("1234.5", "USD", "US$1,234.50"),  # en_GB's symbol for the US dollar
        ("1234", "JPY", "JP¥1,234"),  # no minor unit
        ("0.005", "GBP", "£0.01"),  # half up (Babel alone rounds half even: £0.00)
        ("-12", "GBP", "-£12.00"),
        ("1.5", "KWD", "KWD1.500"),  # three places
    ],
)
def test_amounts_are_printed_per_currency(amount: str, currency: str, printed: str) -> None:
    assert format_money(D(amount), currency) == printed


def test_unit_prices_keep_their_places_and_quantities_drop_trailing_zeros() -> None:
    assert format_unit_price(D("300.0000"), "GBP") == "£300.00"
    assert format_unit_price(D("112.9032"), "GBP") == "£112.9032"  # a prorated price
    assert format_unit_price(D("1500"), "JPY") == "JP¥1,500"
    assert [format_quantity(D(q)) for q in ("1.0000", "2.5", "1500")] == ["1", "2.5", "1,500"]


# --- statuses, what is due, the pay link -----------------------------------------------------------------------


def test_an_open_invoice_is_overdue_from_the_day_after_its_due_date_at_the_location() -> None:
    row = invoice([line("100.00", VAT20)])
    on_due_date = document(row, today=DUE)
    assert (on_due_date.status, on_due_date.summary.note) == (DocumentStatus.AWAITING_PAYMENT, "Due 15 Dec 2026")
    late = document(row, today=date(2026, 12, 16))
    assert (late.status, late.summary.note) == (DocumentStatus.OVERDUE, "Overdue: was due 15 Dec 2026")
    assert late.pay_url == PAY
    assert document(invoice([line("100.00", VAT20)], "partially_paid", amount_paid=D(1))).status is (
        DocumentStatus.PARTIALLY_PAID
    )


def test_what_is_due_and_whether_the_pay_link_and_bank_details_show_follow_the_status() -> None:
    bank = {"payment_details": "Sort code 20-00-00\n\nAccount 12345678\n"}
    open_ = document(invoice([line("100.00", VAT20)], amount_paid=D("20.00")), **bank)
    assert (open_.amount_paid, open_.amount_credited, open_.amount_due) == ("£20.00", None, "£100.00")
    assert (open_.pay_url, open_.payment_reference) == (PAY, "LB-0001")
    assert open_.payment_details == ("Sort code 20-00-00", "Account 12345678")

    paid = document(invoice([line("100.00", VAT20)], "paid", amount_paid=D("120.00")), **bank)
    assert (paid.status, paid.amount_due, paid.pay_url, paid.payment_details) == (
        DocumentStatus.PAID,
        "£0.00",
        None,
        (),
    )
    assert paid.summary.note == "Paid in full. Thank you."

    draft = document(invoice([line("100.00", VAT20)], "draft", number=None), **bank)
    assert (draft.status, draft.number, draft.title, draft.watermark) == (
        DocumentStatus.DRAFT, "Draft", "Draft invoice", "DRAFT",
    )  # fmt: skip
    assert (draft.amount_due, draft.pay_url, draft.summary.amount) == (None, None, "£120.00")
    assert draft.payment_details == ("Sort code 20-00-00", "Account 12345678")  # what the issued invoice will say

    voided_at = datetime(2026, 12, 3, 23, 30, tzinfo=UTC)  # 4 Dec in Auckland
    void = invoice_document(
        invoice([line("100.00", VAT20)], "voided", voided_at=voided_at),
        location(timezone="Pacific/Auckland", **bank),
        rates=RATES,
        today=date(2027, 1, 1),
        pay_url=PAY,
    )
    assert (void.status, void.watermark, void.amount_due, void.pay_url, void.payment_details) == (
        DocumentStatus.VOID, "VOID", None, None, (),
    )  # fmt: skip
    assert void.banner == "Void: this invoice was cancelled on 4 Dec 2026 and is not payable."


def test_an_overpaid_invoice_shows_a_negative_amount_due_and_no_pay_link() -> None:
    overpaid = document(invoice([line("100.00", VAT20)], "paid", amount_paid=D("130.00")))
    assert (overpaid.amount_due, overpaid.pay_url) == ("-£10.00", None)
    assert overpaid.summary.note == "Overpaid by £10.00"


def test_an_issued_invoice_waiting_for_its_number_from_the_accounting_system_says_so() -> None:
    waiting = document(invoice([line("100.00", VAT20)], number=None))
    assert (waiting.number, waiting.title) == ("Not yet numbered", "Invoice")
    assert pdf_filename(invoice([], number=None)) == "invoice-9a290701.pdf"


# --- the seller, the lines and the tax ---------------------------------------------------------------------------


def test_the_seller_is_the_legal_name_or_else_the_location_name_and_the_logo_a_data_uri() -> None:
    assert document(invoice([])).seller.name == "London Bridge"
    seller = document(
        invoice([]),
        legal_name="Bridge Works Ltd",
        address=" 12 Tooley St \r\n\r\nLondon\n",
        logo=b"\x89PNG\r\n\x1a\nrest",
        logo_media_type="image/png",
    )
    assert (seller.seller.name, seller.seller.address_lines) == ("Bridge Works Ltd", ("12 Tooley St", "London"))
    assert seller.logo is not None
    assert seller.logo.data_uri == "data:image/png;base64,iVBORw0KGgpyZXN0"


def test_lines_carry_their_period_discount_and_amount_in_the_price_basis() -> None:
    desk = line(
        "270.00",
        VAT20,
        description="Hot desk",
        unit_price=D("300.0000"),
        discount_rate=D("10.0000"),
        discount_amount=D("30.00"),
        period_start=date(2026, 12, 10),
        period_end_exclusive=date(2027, 1, 1),
    )
    fee = line("50.00", ZERO_RATED, position=1, quantity=D("2.0000"), unit_price=D("25.00"))
    printed = document(invoice([desk, fee]))
    first, second = printed.lines
    assert (first.description, first.period, first.unit_price, first.discount, first.discount_rate) == (
        "Hot desk", "10-31 Dec 2026", "£300.00", "£30.00", "10%",
    )  # fmt: skip
    assert (first.tax_rate, first.amount) == ("20%", "£270.00")
    assert (second.period, second.quantity, second.discount, second.tax_rate) == (None, "2", None, "0%")
    assert printed.show_discounts is True
    assert document(invoice([fee])).show_discounts is False

    # A membership's line names its period in its description: it is not printed twice.
    named = line("300.00", VAT20, description="Hot desk, 1-31 Dec 2026", period_start=date(2026, 12, 1),
                 period_end_exclusive=date(2027, 1, 1))  # fmt: skip
    assert document(invoice([named])).lines[0].period is None

    # Prices that include tax: lines show their gross amount, and the note says so.
    inclusive = document(invoice([line("100.00", VAT20)], prices_include_tax=True, total=D("120.00")))
    assert inclusive.lines[0].amount == "£120.00"
    assert (inclusive.price_note, inclusive.subtotal_label) == ("Amounts include VAT", "Total excl. VAT")


def test_the_tax_breakdown_groups_by_rate_and_component_and_names_the_tax() -> None:
    vat = document(
        invoice([line("100.00", VAT20), line("50.00", ZERO_RATED, position=1), line("10.00", VAT20, position=2)])
    )
    assert [(row.label, row.taxable_amount, row.tax_amount) for row in vat.tax_rows] == [
        ("VAT 20%", "£110.00", "£22.00"),
        ("VAT 0%", "£50.00", "£0.00"),
    ]
    assert (vat.tax_word, vat.price_note) == ("VAT", "Amounts exclude VAT")

    # GST 5% + QST 9.975% of 300.00: 15.00 and 29.925, rounded half up to 29.93.
    quebec = document(invoice([line("300.00", GST_QST, tax_amount=D("44.93"), gross_amount=D("344.93"))]))
    assert [(row.label, row.taxable_amount, row.tax_amount) for row in quebec.tax_rows] == [
        ("GST 5%", "£300.00", "£15.00"),
        ("QST 9.975%", "£300.00", "£29.93"),
    ]
    assert (quebec.tax_word, quebec.price_note) == ("Tax", "Amounts exclude tax")


# --- file names and escaping -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "status", "filename"),
    [
        ("INV-00001", "paid", "INV-00001.pdf"),
        ("INV/2026/7", "awaiting_payment", "INV-2026-7.pdf"),
        ('LB "1"; rm -rf', "awaiting_payment", "LB-1-rm-rf.pdf"),
        ("Ünïcode №5", "awaiting_payment", "Unicode-No5.pdf"),
        ("../..", "awaiting_payment", "invoice.pdf"),
        (None, "draft", "draft-9a290701.pdf"),
    ],
)
def test_file_names_hold_safe_characters_only(number: str | None, status: str, filename: str) -> None:
    assert pdf_filename(invoice([], status, number=number)) == filename


def test_user_text_is_escaped_in_the_html() -> None:
    row = invoice(
        [line("10.00", VAT20, description="<script>alert(1)</script> & tea")],
        bill_to_name='Acme "<b>" Ltd',
        bill_to_address="<img src=http://x>",
    )
    html = render_html(document(row, legal_name="A & B <i>Ltd</i>", payment_details="</div><a href=x>y</a>"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; tea" in html
    assert "Acme &#34;&lt;b&gt;&#34; Ltd" in html
    assert "&lt;img src=http://x&gt;" in html
    assert "A &amp; B &lt;i&gt;Ltd&lt;/i&gt;" in html
    assert "&lt;/div&gt;&lt;a href=x&gt;y&lt;/a&gt;" in html
    for raw in ("<script>", "<b>", "<img", "<i>", "<a href=x>"):
        assert raw not in html
