"""QuickBooks Online's invoice import columns, the pure parts: the header, one invoice's rows (a worked example to
check by hand), dates in either order, inclusive prices, discounts (the template has no discount column), other
currencies, the files an export is split into (100 invoices a file) and what the README tells the operator."""

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
    QUICKBOOKS,
    QUICKBOOKS_COLUMNS,
    XERO,
    AmountType,
    DateOrder,
    MissingQuickBooksCodes,
    QuickBooksCodes,
    computed_line_amount,
    plan_files,
    quickbooks_invoice_rows,
    readme,
    to_csv_text,
)
from flexbill.invoicing.store import InvoiceLineRow, InvoiceRow
from flexbill.money import round_money

D = Decimal

HEADER = (
    "Invoice no,Customer,Invoice date,Due date,Terms,Location,Memo,Item(Product/Service),Item description,"
    "Item quantity,Item rate,Item amount,Item tax code,Item tax amount,Service date,Currency code"
)

CODES = QuickBooksCodes(items={"200": "Desks", "210": "Meeting rooms"}, tax_codes={"VAT20": "20.0% S"})


def line(position: int, description: str, quantity: str, unit_price: str, **fields: object) -> InvoiceLineRow:
    values: dict[str, object] = {
        "discount_rate": None, "discount_amount": D("0.00"), "account_code": "200", "tax_rate_code": "VAT20",
        "tax_rate_percent": D(20), "period_start": None, "period_end_exclusive": None, "tax_amount": D("0.00"),
    }  # fmt: skip
    values.update(fields)
    return InvoiceLineRow(
        position=position, kind="fee", description=description, quantity=D(quantity), unit_price=D(unit_price),
        account_id=uuid.uuid4(), tax_rate_id=uuid.uuid4(), **values,
    )  # fmt: skip


def invoice(*lines: InvoiceLineRow, prices_include_tax: bool = False, currency: str = "GBP") -> InvoiceRow:
    return InvoiceRow(
        number="LON-0001", currency=currency, issue_date=date(2026, 12, 1), due_date=date(2026, 12, 15),
        status="awaiting_payment", prices_include_tax=prices_include_tax, bill_to_name="Acme Ltd",
        bill_to_email="billing@acme.test", bill_to_address="1 High St\nLondon E1 6AN\nGB", lines=list(lines),
    )  # fmt: skip


def as_csv(rows: list[list[str]]) -> str:
    return "".join(to_csv_text(iter(rows)))


def records(rows: list[list[str]]) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(as_csv([list(QUICKBOOKS_COLUMNS), *rows]))))


def test_the_header_is_quickbooks_import_columns_exactly() -> None:
    rows = quickbooks_invoice_rows(invoice(line(1, "Desk", "1", "10.00", net_amount=D("10.00"))), CODES, DateOrder.DMY)
    assert as_csv([list(QUICKBOOKS_COLUMNS)]) == HEADER + "\r\n"
    assert len(QUICKBOOKS_COLUMNS) == 16
    assert all(len(row) == 16 for row in rows)


def test_worked_example_one_exclusive_gbp_invoice_with_a_percentage_discount() -> None:
    """LON-0001, issued 1 Dec 2026, due 15 Dec 2026, prices exclusive of 20% VAT:

    * 2 hot desks for December at 300.00 less 10%: 2 x 300.00 = 600.00, less 60.00 = 540.00, VAT 108.00;
    * 2 hours of meeting room on 20 Nov 2026 at 25.00: 50.00, VAT 10.00.

    Subtotal 590.00, VAT 118.00, total 708.00. QuickBooks' template has no discount column and takes Item amount as
    Item quantity x Item rate, so the desks are 2 x 270.00 = 540.00 and the description says what the discount
    was. The item is the product or service of the line's revenue account; the tax code and our tax of each line
    are given, so QuickBooks keeps 118.00. The memo spans the periods billed; each line's service date is the
    first day of its period.
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

    rows = quickbooks_invoice_rows(invoice(desk, room), CODES, DateOrder.DMY)

    head = "LON-0001,Acme Ltd,01/12/2026,15/12/2026,,,20 Nov - 31 Dec 2026"
    assert as_csv(rows) == (
        f'{head},Desks,"Hot desk, 1-31 Dec 2026 (2 x 300.00 less a 10% discount of 60.00)",2,270.00,540.00,'
        "20.0% S,108.00,01/12/2026,GBP\r\n"
        f'{head},Meeting rooms,"Meeting room, 20 Nov 2026",2,25.00,50.00,20.0% S,10.00,20/11/2026,GBP\r\n'
    )


def test_dates_are_day_first_by_default_and_month_first_for_us_companies() -> None:
    desk = line(1, "Desk", "1", "10.00", net_amount=D("10.00"), period_start=date(2026, 12, 3),
                period_end_exclusive=date(2026, 12, 4))  # fmt: skip
    (day_first,) = records(quickbooks_invoice_rows(invoice(desk), CODES, DateOrder.DMY))
    (month_first,) = records(quickbooks_invoice_rows(invoice(desk), CODES, DateOrder.MDY))
    dates = ("Invoice date", "Due date", "Service date")
    assert tuple(day_first[name] for name in dates) == ("01/12/2026", "15/12/2026", "03/12/2026")
    assert tuple(month_first[name] for name in dates) == ("12/01/2026", "12/15/2026", "12/03/2026")
    assert (DateOrder.DMY.pattern, DateOrder.MDY.pattern) == ("DD/MM/YYYY", "MM/DD/YYYY")


def test_a_line_without_a_period_has_no_service_date() -> None:
    (row,) = records(quickbooks_invoice_rows(invoice(line(1, "Adjustment", "1", "5.00", net_amount=D("5.00"))),
                                             CODES, DateOrder.DMY))  # fmt: skip
    assert (row["Item description"], row["Service date"]) == ("Adjustment", "")


def test_an_inclusive_invoice_carries_its_gross_amounts_and_our_tax_in_them() -> None:
    """A desk at 360.00 including 20% VAT: Item rate and Item amount 360.00, of which Item tax amount 60.00."""
    desk = line(1, "Desk", "1", "360.00", net_amount=D("300.00"), tax_amount=D("60.00"), gross_amount=D("360.00"))
    (row,) = records(quickbooks_invoice_rows(invoice(desk, prices_include_tax=True), CODES, DateOrder.DMY))
    assert (row["Item quantity"], row["Item rate"], row["Item amount"], row["Item tax amount"]) == (
        "1", "360.00", "360.00", "60.00",
    )  # fmt: skip


# --- discounts -------------------------------------------------------------------------------------------------


def test_a_fixed_discount_goes_into_the_rate_and_the_description() -> None:
    """2 desks at 300.00 less 50.00 = 550.00 (VAT 110.00): 2 x 275.00."""
    desk = line(1, "Hot desk", "2", "300.00", discount_amount=D("50.00"), net_amount=D("550.00"),
                tax_amount=D("110.00"), gross_amount=D("660.00"))  # fmt: skip
    (row,) = records(quickbooks_invoice_rows(invoice(desk), CODES, DateOrder.DMY))
    assert row["Item description"] == "Hot desk (2 x 300.00 less a discount of 50.00)"
    assert (row["Item quantity"], row["Item rate"], row["Item amount"], row["Item tax amount"]) == (
        "2", "275.00", "550.00", "110.00",
    )  # fmt: skip


def test_a_rate_keeps_four_places_when_two_do_not_divide() -> None:
    """3 offices at 100.00 less 10.00 = 290.00: 290.00 / 3 = 96.6667 to four places, 3 x 96.6667 -> 290.00."""
    office = line(1, "Office", "3", "100.00", discount_amount=D("10.00"), net_amount=D("290.00"),
                  tax_amount=D("58.00"), gross_amount=D("348.00"))  # fmt: skip
    (row,) = records(quickbooks_invoice_rows(invoice(office), CODES, DateOrder.DMY))
    assert (row["Item quantity"], row["Item rate"], row["Item amount"]) == ("3", "96.6667", "290.00")


def test_a_line_no_rate_can_give_becomes_one_of_its_amount() -> None:
    """250 x 1.00 less 0.01 = 249.99: no rate to four places times 250 gives 249.99, so the line is 1 x 249.99."""
    printing = line(1, "Printing", "250", "1.00", discount_amount=D("0.01"), net_amount=D("249.99"),
                    tax_amount=D("50.00"), gross_amount=D("299.99"))  # fmt: skip
    (row,) = records(quickbooks_invoice_rows(invoice(printing), CODES, DateOrder.DMY))
    assert row["Item description"] == "Printing (250 x 1.00 less a discount of 0.01)"
    assert (row["Item quantity"], row["Item rate"], row["Item amount"]) == ("1", "249.99", "249.99")


# --- currencies ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "unit_price", "amount", "tax", "rate", "written"),
    [
        ("JPY", "30000", "30000", "6000", "30000", ("30000", "30000", "6000")),
        ("BHD", "120.500", "120.500", "24.100", "120.500", ("120.500", "120.500", "24.100")),
        ("EUR", "212.9032", "212.90", "42.58", "212.9032", ("212.9032", "212.90", "42.58")),
    ],
)
def test_amounts_have_their_currencys_places(
    currency: str, unit_price: str, amount: str, tax: str, rate: str, written: tuple[str, str, str]
) -> None:
    """Yen have no minor unit, dinars three places; a prorated rate keeps its four places (22 of 31 days of
    300.00 = 212.9032, which QuickBooks multiplies back to 212.90)."""
    desk = line(1, "Desk", "1", unit_price, net_amount=D(amount), tax_amount=D(tax),
                gross_amount=D(amount) + D(tax))  # fmt: skip
    (row,) = records(quickbooks_invoice_rows(invoice(desk, currency=currency), CODES, DateOrder.DMY))
    assert (row["Item rate"], row["Item amount"], row["Item tax amount"]) == written
    assert row["Currency code"] == currency
    assert computed_line_amount(D(1), D(rate), None, currency) == D(amount)


# --- the property: QuickBooks arrives at the invoice's amounts -----------------------------------------------


@st.composite
def invoices(draw: st.DrawFn) -> InvoiceRow:
    """An issued invoice as flexbill makes one: each line quantity x unit price rounded, less a discount
    (a percentage, a fixed amount or none), taxed line by line; in a currency of 0, 2 or 3 places."""
    currency = draw(st.sampled_from(["GBP", "JPY", "BHD"]))
    inclusive = draw(st.booleans())
    lines = []
    for position in range(1, draw(st.integers(min_value=1, max_value=5)) + 1):
        quantity = draw(st.decimals(min_value=D("0.0001"), max_value=D(500), places=4))
        unit_price = draw(st.decimals(min_value=D(0), max_value=D(5000), places=4))
        tax_rate = draw(st.sampled_from([D(0), D(5), D(20), D("14.975")]))
        before = round_money(quantity * unit_price, currency)
        kind = draw(st.sampled_from(["none", "percent", "amount"]))
        rate: Decimal | None = None
        if kind == "percent":
            rate = draw(st.decimals(min_value=D(0), max_value=D(100), places=2))
            off = round_money(before * rate / 100, currency)
        elif kind == "amount":
            off = draw(st.decimals(min_value=D(0), max_value=before, places=0))
        else:
            off = D(0)
        amount = before - off
        if inclusive:
            tax = amount - round_money(amount * 100 / (100 + tax_rate), currency)
            net, gross = amount - tax, amount
        else:
            tax = round_money(amount * tax_rate / 100, currency)
            net, gross = amount, amount + tax
        lines.append(
            line(position, f"Line {position}", str(quantity), str(unit_price), discount_rate=rate,
                 discount_amount=off, net_amount=net, tax_amount=tax, gross_amount=gross, tax_rate_percent=tax_rate)
        )  # fmt: skip
    made = invoice(*lines, prices_include_tax=inclusive, currency=currency)
    made.subtotal = sum((item.net_amount for item in lines), D(0))
    made.tax_total = sum((item.tax_amount for item in lines), D(0))
    made.total = made.subtotal + made.tax_total
    return made


@given(issued=invoices())
def test_quickbooks_arrives_at_the_invoice_total(issued: InvoiceRow) -> None:
    """Per invoice, Item amount + Item tax amount sums to the invoice's total in an exclusive file, and each row's
    Item amount is what QuickBooks computes from its quantity and rate. (In an inclusive file the tax is inside
    the amount: the amounts sum to the total, and less their tax, to the subtotal.)"""
    rows = records(quickbooks_invoice_rows(issued, CODES, DateOrder.DMY))
    c = issued.currency
    amounts = [D(row["Item amount"]) for row in rows]
    taxes = [D(row["Item tax amount"]) for row in rows]
    if issued.prices_include_tax:
        assert sum(amounts, D(0)) == issued.total
        assert sum(amounts, D(0)) - sum(taxes, D(0)) == issued.subtotal
    else:
        assert sum(amounts, D(0)) + sum(taxes, D(0)) == issued.total
    for row, amount in zip(rows, amounts, strict=True):
        assert computed_line_amount(D(row["Item quantity"]), D(row["Item rate"]), None, c) == amount
        assert D(row["Item rate"]) == D(row["Item rate"]).quantize(D("0.0001"))


# --- files and codes ---------------------------------------------------------------------------------------------


def test_one_file_when_everything_fits_it() -> None:
    plan = plan_files(QUICKBOOKS, {AmountType.INCLUSIVE: 100})
    assert plan.single
    assert [(f.name, f.amount_type, f.invoices) for f in plan.files] == [
        ("quickbooks-invoices-inclusive.csv", AmountType.INCLUSIVE, 100)
    ]
    assert [f.name for f in plan_files(QUICKBOOKS, {}).files] == ["quickbooks-invoices-exclusive.csv"]


def test_every_100_invoices_start_a_file_and_each_amount_type_has_its_own() -> None:
    plan = plan_files(QUICKBOOKS, {AmountType.EXCLUSIVE: 201, AmountType.INCLUSIVE: 2})
    assert [(f.name, f.amount_type, f.invoices) for f in plan.files] == [
        ("quickbooks-invoices-exclusive-1.csv", AmountType.EXCLUSIVE, 100),
        ("quickbooks-invoices-exclusive-2.csv", AmountType.EXCLUSIVE, 100),
        ("quickbooks-invoices-exclusive-3.csv", AmountType.EXCLUSIVE, 1),
        ("quickbooks-invoices-inclusive-1.csv", AmountType.INCLUSIVE, 2),
    ]
    assert plan_files(XERO, {AmountType.EXCLUSIVE: 201}).single  # Xero's 500 a file is its own


@pytest.mark.parametrize(("order", "pattern"), [(DateOrder.DMY, "DD/MM/YYYY"), (DateOrder.MDY, "MM/DD/YYYY")])
def test_the_readme_says_which_date_format_and_tax_answer_to_choose(order: DateOrder, pattern: str) -> None:
    plan = plan_files(QUICKBOOKS, {AmountType.EXCLUSIVE: 101, AmountType.INCLUSIVE: 1})
    text = readme(QUICKBOOKS, plan, order)
    assert f"choose {pattern}" in text.replace("\r\n", " ")
    assert "at most 100 invoices" in text.replace("\r\n", " ")
    assert text.endswith(
        "quickbooks-invoices-exclusive-1.csv: 100 invoices, amounts tax exclusive\r\n"
        "quickbooks-invoices-exclusive-2.csv: 1 invoices, amounts tax exclusive\r\n"
        "quickbooks-invoices-inclusive-1.csv: 1 invoices, amounts tax inclusive\r\n"
    )


def test_missing_codes_are_all_named() -> None:
    error = MissingQuickBooksCodes({"LON": (["210"], ["ZERO", "VAT5"])})
    assert error.status_code == 409
    assert error.message == (
        "the QuickBooks Online codes do not map every code the invoices use, so nothing was exported; map these "
        "and export again: location LON: revenue account 210 and tax rates VAT5, ZERO"
    )


def test_the_api_guide_shows_the_header_as_written() -> None:
    guide = (Path(__file__).parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    assert f"```csv\n{HEADER}\n" in guide


def test_a_location_named_by_the_codes_goes_on_every_row() -> None:
    codes = QuickBooksCodes(items=CODES.items, tax_codes=CODES.tax_codes, location="London Bridge")
    desk = line(1, "Desk", "1", "10.00", net_amount=D("10.00"))
    rows = records(quickbooks_invoice_rows(invoice(desk, desk), codes, DateOrder.DMY))
    assert [row["Location"] for row in rows] == ["London Bridge", "London Bridge"]
