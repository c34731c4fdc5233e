"""Xero's sales invoice import template, the pure parts: the header, one invoice's rows (a worked example to check
by hand), dates in either order, discounts Xero's columns cannot hold as they are, addresses, and the files an
export is split into."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flexbill.invoicing.export import (
    XERO_COLUMNS,
    AmountType,
    DateOrder,
    MissingXeroCodes,
    XeroAddress,
    XeroCodes,
    invoice_reference,
    line_description,
    plan_xero_files,
    to_csv_text,
    xero_address,
    xero_invoice_rows,
    xero_line,
    xero_line_amount,
)
from flexbill.invoicing.store import InvoiceLineRow, InvoiceRow
from flexbill.money import round_money

D = Decimal

# As Xero's template has it.
TEMPLATE_HEADER = (
    "*ContactName,EmailAddress,POAddressLine1,POAddressLine2,POAddressLine3,POAddressLine4,POCity,PORegion,"
    "POPostalCode,POCountry,*InvoiceNumber,Reference,*InvoiceDate,*DueDate,InventoryItemCode,*Description,"
    "*Quantity,*UnitAmount,Discount,*AccountCode,*TaxType,TrackingName1,TrackingOption1,TrackingName2,"
    "TrackingOption2,Currency,BrandingTheme"
)

CODES = XeroCodes(
    accounts={"200": "4000", "210": "4010"},
    tax_types={"VAT20": "20% (VAT on Income)"},
    tracking=("Location", "London"),
)
ADDRESS = XeroAddress(("1 High St", "", "", ""), "London", "", "E1 6AN", "GB")


def line(position: int, description: str, quantity: str, unit_price: str, **fields: object) -> InvoiceLineRow:
    values: dict[str, object] = {
        "discount_rate": None, "discount_amount": D("0.00"), "account_code": "200", "tax_rate_code": "VAT20",
        "tax_rate_percent": D(20), "period_start": None, "period_end_exclusive": None,
    }  # fmt: skip
    values.update(fields)
    return InvoiceLineRow(
        position=position, kind="fee", description=description, quantity=D(quantity), unit_price=D(unit_price),
        account_id=uuid.uuid4(), tax_rate_id=uuid.uuid4(), **values,
    )  # fmt: skip


def invoice(*lines: InvoiceLineRow, prices_include_tax: bool = False) -> InvoiceRow:
    return InvoiceRow(
        number="LON-0001", currency="GBP", issue_date=date(2026, 12, 1), due_date=date(2026, 12, 15),
        status="awaiting_payment", prices_include_tax=prices_include_tax, bill_to_name="Acme Ltd",
        bill_to_email="billing@acme.test", bill_to_address="1 High St\nLondon E1 6AN\nGB", lines=list(lines),
    )  # fmt: skip


def as_csv(rows: list[list[str]]) -> str:
    return "".join(to_csv_text(iter(rows)))


def test_the_header_is_xeros_template_exactly() -> None:
    rows = xero_invoice_rows(
        invoice(line(1, "Desk", "1", "10.00", net_amount=D("10.00"))), CODES, ADDRESS, DateOrder.DMY
    )
    assert as_csv([list(XERO_COLUMNS)]) == TEMPLATE_HEADER + "\r\n"
    assert len(TEMPLATE_HEADER.split(",")) == 27
    assert all(len(row) == 27 for row in rows)


def test_worked_example_one_exclusive_gbp_invoice_with_a_percentage_discount() -> None:
    """LON-0001, issued 1 Dec 2026, due 15 Dec 2026, prices exclusive of 20% VAT:

    * 2 hot desks for December at 300.00 less 10%: 2 x 300.00 = 600.00, less 60.00 = 540.00 (account 200);
    * 2 hours of meeting room on 20 Nov 2026 at 25.00: 50.00 (account 210).

    Subtotal 590.00, VAT 118.00, total 708.00. Xero computes each line as quantity x unit amount less the discount
    percentage, so the rows carry the quantity, the unit price and the percentage as issued, and arrive at the
    same 540.00 and 50.00. The account codes and the tax type come from the location's Xero codes; the period of
    the fee's line is added to its description; the reference spans the periods billed (20 Nov - 31 Dec 2026).
    """
    desk = line(
        1, "Hot desk, 1-31 Dec 2026", "2", "300.00", discount_rate=D(10), discount_amount=D("60.00"),
        net_amount=D("540.00"), tax_amount=D("108.00"), gross_amount=D("648.00"),
        period_start=date(2026, 12, 1), period_end_exclusive=date(2027, 1, 1),
    )  # fmt: skip
    room = line(
        2, "Meeting room", "2", "25.00", account_code="210", net_amount=D("50.00"), tax_amount=D("10.00"),
        gross_amount=D("60.00"), period_start=date(2026, 11, 20), period_end_exclusive=date(2026, 11, 21),
    )  # fmt: skip

    rows = xero_invoice_rows(invoice(desk, room), CODES, ADDRESS, DateOrder.DMY)

    head = (
        "Acme Ltd,billing@acme.test,1 High St,,,,London,,E1 6AN,GB,LON-0001,20 Nov - 31 Dec 2026,01/12/2026,15/12/2026,"
    )
    assert as_csv(rows) == (
        f'{head},"Hot desk, 1-31 Dec 2026",2,300.00,10,4000,20% (VAT on Income),Location,London,,,GBP,\r\n'
        f'{head},"Meeting room, 20 Nov 2026",2,25.00,,4010,20% (VAT on Income),Location,London,,,GBP,\r\n'
    )
    assert xero_line_amount(D(2), D("300.00"), D(10), "GBP") == D("540.00")
    assert xero_line_amount(D(2), D("25.00"), None, "GBP") == D("50.00")


def test_dates_are_day_first_by_default_and_month_first_for_us_organisations() -> None:
    desk = line(1, "Desk", "1", "10.00", net_amount=D("10.00"))
    day_first = xero_invoice_rows(invoice(desk), CODES, ADDRESS, DateOrder.DMY)[0]
    month_first = xero_invoice_rows(invoice(desk), CODES, ADDRESS, DateOrder.MDY)[0]
    assert (day_first[12], day_first[13]) == ("01/12/2026", "15/12/2026")
    assert (month_first[12], month_first[13]) == ("12/01/2026", "12/15/2026")
    assert DateOrder.DMY.render(date(2026, 2, 3)) == "03/02/2026"
    assert DateOrder.MDY.render(date(2026, 2, 3)) == "02/03/2026"


def test_an_inclusive_invoice_carries_its_gross_unit_prices_as_issued() -> None:
    desk = line(1, "Desk", "1", "360.00", net_amount=D("300.00"), tax_amount=D("60.00"), gross_amount=D("360.00"))
    (row,) = xero_invoice_rows(invoice(desk, prices_include_tax=True), CODES, ADDRESS, DateOrder.DMY)
    assert (row[15], row[16], row[17], row[18]) == ("Desk", "1", "360.00", "")


# --- discounts -------------------------------------------------------------------------------------------------


def test_a_fixed_discount_keeps_the_quantity_at_the_unit_amount_that_gives_the_line_amount() -> None:
    """2 desks at 300.00 less 50.00 = 550.00: Xero has no column for an amount off, so the line is 2 x 275.00,
    and its description says what it was."""
    result = xero_line("Hot desk", D(2), D("300.00"), None, D("50.00"), D("550.00"), "GBP")
    assert result == ("Hot desk (2 x 300.00 less a discount of 50.00)", D(2), D("275.0000"), None)


def test_a_fixed_discount_uses_four_places_when_two_do_not_divide() -> None:
    """3 x 100.00 less 10.00 = 290.00; 290.00 / 3 = 96.6667 to four places, and 3 x 96.6667 = 290.0001 -> 290.00."""
    result = xero_line("Office", D(3), D("100.00"), None, D("10.00"), D("290.00"), "GBP")
    assert (result.quantity, result.unit_amount, result.discount_rate) == (D(3), D("96.6667"), None)
    assert xero_line_amount(result.quantity, result.unit_amount, None, "GBP") == D("290.00")


def test_a_fixed_discount_no_unit_amount_can_give_becomes_one_of_the_line_amount() -> None:
    """250 x 1.00 less 0.01 = 249.99: 250 x 0.9999 = 249.975 -> 249.98 and 250 x 1.0000 = 250.00, so no unit amount
    to four places gives 249.99; the line is 1 x 249.99 and the description keeps the quantity."""
    result = xero_line("Printing", D(250), D("1.00"), None, D("0.01"), D("249.99"), "GBP")
    assert result == ("Printing (250 x 1.00 less a discount of 0.01)", D(1), D("249.99"), None)


def test_a_percentage_that_xero_would_round_differently_is_written_like_a_fixed_discount() -> None:
    """10.005 (a prorated price) less 50%: we round 10.005 to 10.01 and take half, 5.005 -> 5.01; Xero takes half of
    10.005, 5.0025 -> 5.00. The line is therefore 1 x 5.01, which Xero cannot compute otherwise."""
    assert xero_line_amount(D(1), D("10.005"), D(50), "GBP") == D("5.00")
    result = xero_line("Desk", D(1), D("10.005"), D(50), D("5.00"), D("5.01"), "GBP")
    assert result == ("Desk (1 x 10.005 less a 50% discount of 5.00)", D(1), D("5.0100"), None)


def test_a_percentage_with_more_than_two_places_is_not_sent_as_a_percentage() -> None:
    result = xero_line("Desk", D(1), D("100.00"), D("12.345"), D("12.35"), D("87.65"), "GBP")
    assert (result.unit_amount, result.discount_rate) == (D("87.6500"), None)
    assert "less a 12.345% discount of 12.35" in result.description


@given(
    quantity=st.decimals(min_value=D("0.0001"), max_value=D(1000), places=4),
    unit_price=st.decimals(min_value=D(0), max_value=D(10000), places=4),
    off=st.decimals(min_value=D(0), max_value=D(1), places=4),
    currency=st.sampled_from(["GBP", "JPY", "BHD"]),
)
def test_every_line_arrives_at_our_line_amount_in_xero(
    quantity: Decimal, unit_price: Decimal, off: Decimal, currency: str
) -> None:
    before = round_money(quantity * unit_price, currency)
    amount = round_money(before * (1 - off), currency)
    result = xero_line("Line", quantity, unit_price, None, before - amount, amount, currency)
    assert xero_line_amount(result.quantity, result.unit_amount, result.discount_rate, currency) == amount
    assert result.unit_amount == result.unit_amount.quantize(D("0.0001"))


# --- descriptions, references, addresses ------------------------------------------------------------------------


def test_a_line_names_its_period_once() -> None:
    assert line_description("Day pass", date(2026, 11, 20), date(2026, 11, 21)) == "Day pass, 20 Nov 2026"
    assert line_description("Hot desk, 10-30 Nov 2026 (21 of 30 days)", date(2026, 11, 10), date(2026, 12, 1)) == (
        "Hot desk, 10-30 Nov 2026 (21 of 30 days)"
    )
    assert line_description("Adjustment", None, None) == "Adjustment"


def test_the_reference_spans_the_periods_billed() -> None:
    catch_up = line(1, "a", "1", "1", period_start=date(2026, 11, 10), period_end_exclusive=date(2026, 12, 1))
    december = line(2, "b", "1", "1", period_start=date(2026, 12, 1), period_end_exclusive=date(2027, 1, 1))
    assert invoice_reference([catch_up, december]) == "10 Nov - 31 Dec 2026"
    assert invoice_reference([line(1, "c", "1", "1")]) == ""


def test_an_address_unchanged_since_the_invoice_goes_part_by_part() -> None:
    current = ("Unit 4", "2 Mill Lane", "New York", "NY", "10001", "US")
    text = "Unit 4\n2 Mill Lane\nNew York 10001\nNY\nUS"
    assert xero_address(text, current) == XeroAddress(
        ("Unit 4", "2 Mill Lane", "", ""), "New York", "NY", "10001", "US"
    )


def test_an_address_changed_since_goes_line_by_line_as_printed() -> None:
    moved = ("9 Other St", None, "Leeds", None, "LS1 1AA", "GB")
    assert xero_address("1 High St\nLondon E1 6AN\nGB", moved) == XeroAddress(("1 High St", "London E1 6AN", "GB", ""))
    assert xero_address("1 High St\nLondon E1 6AN\nGB", None) == XeroAddress(("1 High St", "London E1 6AN", "GB", ""))
    full = "Unit 4\n2 Mill Lane\nNew York 10001\nNY\nUS"
    assert xero_address(full, moved) == XeroAddress(("Unit 4", "2 Mill Lane", "", ""), "New York 10001", "NY", "", "US")
    assert xero_address("", None) == XeroAddress(("", "", "", ""))


# --- files --------------------------------------------------------------------------------------------------------


def test_one_file_when_everything_fits_it() -> None:
    plan = plan_xero_files({AmountType.EXCLUSIVE: 500})
    assert plan.single
    assert [(f.name, f.amount_type, f.invoices) for f in plan.files] == [
        ("xero-invoices-exclusive.csv", AmountType.EXCLUSIVE, 500)
    ]
    empty = plan_xero_files({})
    assert [(f.name, f.invoices) for f in empty.files] == [("xero-invoices-exclusive.csv", 0)]


def test_501_invoices_make_two_files_and_each_amount_type_its_own() -> None:
    plan = plan_xero_files({AmountType.EXCLUSIVE: 501, AmountType.INCLUSIVE: 2})
    assert not plan.single
    assert [(f.name, f.amount_type, f.invoices) for f in plan.files] == [
        ("xero-invoices-exclusive-1.csv", AmountType.EXCLUSIVE, 500),
        ("xero-invoices-exclusive-2.csv", AmountType.EXCLUSIVE, 1),
        ("xero-invoices-inclusive-1.csv", AmountType.INCLUSIVE, 2),
    ]
    assert AmountType.INCLUSIVE.choice == "tax inclusive"


def test_missing_codes_are_all_named() -> None:
    error = MissingXeroCodes({"LON": (["210", "200"], ["ZERO"]), "PAR": ([], ["TVA20"])})
    assert error.status_code == 409
    assert error.message.endswith(
        "location LON: revenue accounts 200, 210 and tax rate ZERO; location PAR: tax rate TVA20"
    )


@pytest.mark.parametrize("order", list(DateOrder))
def test_the_rows_parse_back_with_their_header(order: DateOrder) -> None:
    desk = line(1, 'Desk "A", east side', "1", "10.00", net_amount=D("10.00"))
    text = as_csv(xero_invoice_rows(invoice(desk), CODES, ADDRESS, order))
    (row,) = list(csv.reader(io.StringIO(text)))
    assert row[15] == 'Desk "A", east side'


def test_the_api_guide_shows_the_header_as_written() -> None:
    guide = (Path(__file__).parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    assert f"```csv\n{TEMPLATE_HEADER}\n" in guide
