"""The worked examples of docs/billing.md, recomputed with the real planner.

Each test builds the example's memberships and fees, plans the bill run with
:func:`flexbill.billing.model.plan_bill_run` and asserts the numbers the document prints. It also renders the
invoice as the document's table and checks that the table is in docs/billing.md word for word, so neither the
code nor the document can change without the other.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from flexbill import wire
from flexbill.billing.model import (
    AccountRef,
    BillingRules,
    DiscountType,
    FeeToBill,
    LocationTerms,
    MembershipToBill,
    NotABillingDay,
    PlannedInvoice,
    Proration,
    membership_charges,
    plan_bill_run,
)
from flexbill.invoicing.model import (
    InvoiceStatus,
    TaxBreakdownRow,
    TaxComponent,
    TaxRate,
    TaxRounding,
    component_taxes,
    tax_breakdown,
    tax_lines,
)
from flexbill.periods import Period

DOC = Path(__file__).resolve().parents[2] / "docs" / "billing.md"


def _id(number: int) -> uuid.UUID:
    return uuid.UUID(int=number)


VAT20 = TaxRate(_id(1), "VAT20", "VAT 20%", (TaxComponent("VAT", Decimal("20")),))
GST_QST = TaxRate(
    _id(2), "GST-QST", "GST + QST", (TaxComponent("GST", Decimal("5")), TaxComponent("QST", Decimal("9.975")))
)
MEMBERSHIPS = AccountRef(_id(3), "200")
FEES = AccountRef(_id(4), "210")
LON = LocationTerms(_id(10), "LON", "GBP", prices_include_tax=False)
SHO = LocationTerms(_id(11), "SHO", "GBP", prices_include_tax=True)
MTL = LocationTerms(_id(12), "MTL", "CAD", prices_include_tax=False)
LOCATIONS = {location.id: location for location in (LON, SHO, MTL)}
CUSTOMER = _id(20)
RULES = BillingRules()  # billing day 1, due in 14 days, per_line rounding, issued directly


def hot_desk(
    start: date,
    last_day: date | None = None,
    *,
    billed_through: date | None = None,
    price: str = "300.00",
    quantity: str = "1",
    proration: Proration = Proration.FIRST_INVOICE,
    interval_months: int = 1,
    plan_name: str = "Hot desk",
    discount: tuple[DiscountType, str] | None = None,
    location: LocationTerms = LON,
    tax_rate: TaxRate = VAT20,
) -> MembershipToBill:
    """A membership as the bill run sees it; ``last_day`` is inclusive, as users enter it."""
    return MembershipToBill(
        id=_id(30),
        customer_id=CUSTOMER,
        location_id=location.id,
        plan_name=plan_name,
        price=Decimal(price),
        quantity=Decimal(quantity),
        interval_months=interval_months,
        proration=proration,
        start=start,
        end_exclusive=None if last_day is None else last_day + timedelta(days=1),
        account=MEMBERSHIPS,
        tax_rate=tax_rate,
        discount_type=None if discount is None else discount[0],
        discount_value=None if discount is None else Decimal(discount[1]),
        billed_through=billed_through,
    )


def fee(
    number: int,
    day: date,
    description: str,
    unit_price: str,
    *,
    location: LocationTerms = LON,
    tax_rate: TaxRate = VAT20,
) -> FeeToBill:
    return FeeToBill(
        id=_id(40 + number),
        customer_id=CUSTOMER,
        location_id=location.id,
        date=day,
        description=description,
        quantity=Decimal(1),
        unit_price=Decimal(unit_price),
        account=FEES,
        tax_rate=tax_rate,
    )


def plan(
    run_date: date,
    *,
    memberships: Sequence[MembershipToBill] = (),
    fees: Sequence[FeeToBill] = (),
    rules: BillingRules = RULES,
) -> list[PlannedInvoice]:
    return plan_bill_run(run_date, rules, LOCATIONS, memberships, fees)


def only(invoices: list[PlannedInvoice]) -> PlannedInvoice:
    assert len(invoices) == 1
    return invoices[0]


# --- how the document prints an invoice -----------------------------------------------------------------------


def _period(period: Period | None) -> str:
    if period is None:
        return ""
    if period.days == 1:
        return period.start.isoformat()
    return f"{period.start.isoformat()} to {period.last_day.isoformat()}"


def rows(invoice: PlannedInvoice) -> list[tuple[str, ...]]:
    """(description, period, quantity, unit price, discount, net, tax, gross) of each line, as the API shows them."""
    c = invoice.currency
    return [
        (
            p.line.description,
            _period(p.line.period),
            wire.number(p.line.quantity),
            wire.unit_price(p.line.unit_price, c),
            wire.amount(p.line.discount_amount, c),
            wire.amount(p.tax.net, c),
            wire.amount(p.tax.tax, c),
            wire.amount(p.tax.gross, c),
        )
        for p in invoice.lines
    ]


def totals(invoice: PlannedInvoice) -> tuple[str, str, str]:
    c = invoice.currency
    return wire.amount(invoice.subtotal, c), wire.amount(invoice.tax_total, c), wire.amount(invoice.total, c)


def markdown(invoice: PlannedInvoice) -> str:
    """The invoice as the table printed in docs/billing.md."""
    lines = [
        "| Line | Period | Qty | Unit price | Discount | Net | Tax | Gross |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows(invoice)]
    subtotal, tax, total = totals(invoice)
    lines.append(f"| **Invoice total ({invoice.currency})** | | | | | {subtotal} | {tax} | {total} |")
    return "\n".join(lines)


def breakdown(invoice: PlannedInvoice) -> list[TaxBreakdownRow]:
    """The invoice's tax breakdown, recomputed from its line amounts as the API does."""
    return tax_breakdown(
        [(p.line.amount, p.line.tax_rate) for p in invoice.lines],
        inclusive=invoice.location.prices_include_tax,
        rounding=invoice.tax_rounding,
        currency=invoice.currency,
    )


def breakdown_markdown(invoice: PlannedInvoice) -> str:
    c = invoice.currency
    lines = ["| Tax rate | Component | Rate % | Taxable | Tax |", "|---|---|--:|--:|--:|"]
    for row in breakdown(invoice):
        lines.append(
            f"| {row.tax_rate_code} | {row.component} | {wire.number(row.rate)} | "
            f"{wire.amount(row.taxable_amount, c)} | {wire.amount(row.tax_amount, c)} |"
        )
    return "\n".join(lines)


def assert_in_doc(text: str) -> None:
    assert text in DOC.read_text(encoding="utf-8"), f"docs/billing.md does not contain:\n{text}"


def assert_documented(invoice: PlannedInvoice) -> None:
    assert_in_doc(markdown(invoice))


def fraction_of(membership: MembershipToBill, run_date: date, billing_day: int = 1) -> list[Fraction]:
    return [charge.fraction for charge in membership_charges(membership, run_date, billing_day)]


# --- the bill run ---------------------------------------------------------------------------------------------


def test_the_common_setup_issues_on_the_billing_day_and_is_due_14_days_later() -> None:
    invoice = only(plan(date(2026, 12, 1), memberships=[hot_desk(date(2026, 12, 1))]))
    assert (invoice.issue_date, invoice.due_date) == (date(2026, 12, 1), date(2026, 12, 15))
    assert invoice.status is InvoiceStatus.AWAITING_PAYMENT
    assert rows(invoice) == [
        ("Hot desk, 1-31 Dec 2026", "2026-12-01 to 2026-12-31", "1", "300.00", "0.00", "300.00", "60.00", "360.00")
    ]
    assert_documented(invoice)


def test_a_bill_run_is_only_for_a_billing_day() -> None:
    with pytest.raises(NotABillingDay, match="2026-12-02 is not a billing day: bill runs are for day 1 of a month"):
        plan(date(2026, 12, 2), memberships=[hot_desk(date(2026, 12, 1))])
    assert_in_doc("2026-12-02 is not a billing day: bill runs are for day 1 of a month")


def test_fees_are_billed_in_arrears_only_when_dated_before_the_billing_day() -> None:
    on_the_day = fee(1, date(2026, 12, 1), "Printing", "4.00")
    assert plan(date(2026, 12, 1), fees=[on_the_day]) == []
    assert len(only(plan(date(2027, 1, 1), fees=[on_the_day])).lines) == 1


# --- proration: first_invoice ---------------------------------------------------------------------------------


def test_example_1_first_invoice_start_mid_month() -> None:
    membership = hot_desk(date(2026, 12, 10))
    assert fraction_of(membership, date(2026, 12, 1)) == [Fraction(22, 31)]
    invoice = only(plan(date(2026, 12, 1), memberships=[membership]))
    assert rows(invoice) == [
        (
            "Hot desk, 10-31 Dec 2026 (22 of 31 days)",
            "2026-12-10 to 2026-12-31",
            "1",
            "212.9032",
            "0.00",
            "212.90",
            "42.58",
            "255.48",
        )
    ]
    assert totals(invoice) == ("212.90", "42.58", "255.48")
    assert_documented(invoice)


def test_example_2_first_invoice_end_mid_month() -> None:
    membership = hot_desk(date(2026, 10, 1), date(2026, 12, 20), billed_through=date(2026, 12, 1))
    assert fraction_of(membership, date(2026, 12, 1)) == [Fraction(20, 31)]
    invoice = only(plan(date(2026, 12, 1), memberships=[membership]))
    assert rows(invoice) == [
        (
            "Hot desk, 1-20 Dec 2026 (20 of 31 days)",
            "2026-12-01 to 2026-12-20",
            "1",
            "193.5484",
            "0.00",
            "193.55",
            "38.71",
            "232.26",
        )
    ]
    assert invoice.lines[0].line.coverage == Period(date(2026, 12, 1), date(2026, 12, 21))
    assert_documented(invoice)


def test_example_3_extending_a_billed_membership_bills_only_the_extra_days() -> None:
    # Example 2's membership, billed through 20 Dec, gets 31 Dec as its last day; the 1 Dec run is repeated.
    membership = hot_desk(date(2026, 10, 1), date(2026, 12, 31), billed_through=date(2026, 12, 21))
    invoice = only(plan(date(2026, 12, 1), memberships=[membership]))
    assert rows(invoice) == [
        (
            "Hot desk, 21-31 Dec 2026 (11 of 31 days)",
            "2026-12-21 to 2026-12-31",
            "1",
            "106.4516",
            "0.00",
            "106.45",
            "21.29",
            "127.74",
        )
    ]
    assert Decimal("193.55") + Decimal("106.45") == Decimal("300.00")
    assert_documented(invoice)


def test_example_4_first_invoice_start_and_end_in_the_same_month() -> None:
    membership = hot_desk(date(2026, 12, 10), date(2026, 12, 20))
    assert fraction_of(membership, date(2026, 12, 1)) == [Fraction(11, 31)]
    invoice = only(plan(date(2026, 12, 1), memberships=[membership]))
    assert rows(invoice) == [
        (
            "Hot desk, 10-20 Dec 2026 (11 of 31 days)",
            "2026-12-10 to 2026-12-20",
            "1",
            "106.4516",
            "0.00",
            "106.45",
            "21.29",
            "127.74",
        )
    ]
    assert_documented(invoice)


def test_example_5_february_2027_has_28_days() -> None:
    membership = hot_desk(date(2027, 2, 10))
    assert fraction_of(membership, date(2027, 2, 1)) == [Fraction(19, 28)]
    invoice = only(plan(date(2027, 2, 1), memberships=[membership]))
    assert rows(invoice) == [
        (
            "Hot desk, 10-28 Feb 2027 (19 of 28 days)",
            "2027-02-10 to 2027-02-28",
            "1",
            "203.5714",
            "0.00",
            "203.57",
            "40.71",
            "244.28",
        )
    ]
    assert (invoice.issue_date, invoice.due_date) == (date(2027, 2, 1), date(2027, 2, 15))
    assert_documented(invoice)


def test_example_6_february_2028_is_a_leap_month_of_29_days() -> None:
    membership = hot_desk(date(2028, 2, 10))
    assert fraction_of(membership, date(2028, 2, 1)) == [Fraction(20, 29)]
    invoice = only(plan(date(2028, 2, 1), memberships=[membership]))
    assert rows(invoice) == [
        (
            "Hot desk, 10-29 Feb 2028 (20 of 29 days)",
            "2028-02-10 to 2028-02-29",
            "1",
            "206.8966",
            "0.00",
            "206.90",
            "41.38",
            "248.28",
        )
    ]
    assert_documented(invoice)


# --- proration: second_invoice and none -----------------------------------------------------------------------


def test_example_7_second_invoice_holds_the_first_partial_month_back() -> None:
    membership = hot_desk(date(2026, 12, 10), proration=Proration.SECOND_INVOICE)
    assert plan(date(2026, 12, 1), memberships=[membership]) == []
    invoice = only(plan(date(2027, 1, 1), memberships=[membership]))
    assert rows(invoice) == [
        (
            "Hot desk, 10-31 Dec 2026 (22 of 31 days)",
            "2026-12-10 to 2026-12-31",
            "1",
            "212.9032",
            "0.00",
            "212.90",
            "42.58",
            "255.48",
        ),
        ("Hot desk, 1-31 Jan 2027", "2027-01-01 to 2027-01-31", "1", "300.00", "0.00", "300.00", "60.00", "360.00"),
    ]
    assert totals(invoice) == ("512.90", "102.58", "615.48")
    assert (invoice.issue_date, invoice.due_date) == (date(2027, 1, 1), date(2027, 1, 15))
    assert_documented(invoice)


def test_example_7_second_invoice_bills_at_once_a_membership_that_ends_in_its_first_month() -> None:
    membership = hot_desk(date(2026, 12, 10), date(2026, 12, 20), proration=Proration.SECOND_INVOICE)
    invoice = only(plan(date(2026, 12, 1), memberships=[membership]))
    assert totals(invoice) == ("106.45", "21.29", "127.74")


def test_example_8_none_bills_whole_months() -> None:
    starts = hot_desk(date(2026, 12, 10), proration=Proration.NONE)
    first = only(plan(date(2026, 12, 1), memberships=[starts]))
    assert rows(first) == [
        ("Hot desk, 10-31 Dec 2026", "2026-12-10 to 2026-12-31", "1", "300.00", "0.00", "300.00", "60.00", "360.00")
    ]
    assert_documented(first)

    ends = hot_desk(date(2026, 12, 10), date(2027, 1, 20), billed_through=date(2027, 1, 1), proration=Proration.NONE)
    last = only(plan(date(2027, 1, 1), memberships=[ends]))
    assert rows(last) == [
        ("Hot desk, 1-20 Jan 2027", "2027-01-01 to 2027-01-20", "1", "300.00", "0.00", "300.00", "60.00", "360.00")
    ]
    assert last.lines[0].line.coverage == Period(date(2027, 1, 1), date(2027, 2, 1))
    assert_documented(last)


# --- intervals, billing day, catch-up -------------------------------------------------------------------------


def test_example_9_a_three_month_plan() -> None:
    office = hot_desk(date(2027, 2, 15), price="850.00", interval_months=3, plan_name="Private office")
    assert fraction_of(office, date(2027, 2, 1)) == [Fraction(75, 89)]
    first = only(plan(date(2027, 2, 1), memberships=[office]))
    assert rows(first) == [
        (
            "Private office, 15 Feb - 30 Apr 2027 (75 of 89 days)",
            "2027-02-15 to 2027-04-30",
            "1",
            "716.2921",
            "0.00",
            "716.29",
            "143.26",
            "859.55",
        )
    ]
    assert_documented(first)

    billed = hot_desk(
        date(2027, 2, 15),
        price="850.00",
        interval_months=3,
        plan_name="Private office",
        billed_through=date(2027, 5, 1),
    )
    assert plan(date(2027, 3, 1), memberships=[billed]) == []
    assert plan(date(2027, 4, 1), memberships=[billed]) == []
    second = only(plan(date(2027, 5, 1), memberships=[billed]))
    assert rows(second) == [
        (
            "Private office, 1 May - 31 Jul 2027",
            "2027-05-01 to 2027-07-31",
            "1",
            "850.00",
            "0.00",
            "850.00",
            "170.00",
            "1020.00",
        )
    ]
    assert_documented(second)


def test_example_10_billing_day_15() -> None:
    rules = BillingRules(billing_day=15)
    membership = hot_desk(date(2026, 11, 20))
    assert fraction_of(membership, date(2026, 11, 15), billing_day=15) == [Fraction(25, 30)]
    first = only(plan(date(2026, 11, 15), memberships=[membership], rules=rules))
    assert rows(first) == [
        (
            "Hot desk, 20 Nov - 14 Dec 2026 (25 of 30 days)",
            "2026-11-20 to 2026-12-14",
            "1",
            "250.00",
            "0.00",
            "250.00",
            "50.00",
            "300.00",
        )
    ]
    assert (first.issue_date, first.due_date) == (date(2026, 11, 15), date(2026, 11, 29))
    assert_documented(first)

    billed = hot_desk(date(2026, 11, 20), billed_through=date(2026, 12, 15))
    second = only(plan(date(2026, 12, 15), memberships=[billed], rules=rules))
    assert rows(second) == [
        (
            "Hot desk, 15 Dec 2026 - 14 Jan 2027",
            "2026-12-15 to 2027-01-14",
            "1",
            "300.00",
            "0.00",
            "300.00",
            "60.00",
            "360.00",
        )
    ]
    assert_documented(second)

    with pytest.raises(NotABillingDay, match="2026-12-01 is not a billing day: bill runs are for day 15 of a month"):
        plan(date(2026, 12, 1), memberships=[membership], rules=rules)


def test_example_11_catch_up_of_two_missed_months() -> None:
    membership = hot_desk(date(2026, 10, 1))  # entered on 20 Nov 2026, after the November run
    assert fraction_of(membership, date(2026, 12, 1)) == [Fraction(1)] * 3
    invoice = only(plan(date(2026, 12, 1), memberships=[membership]))
    assert rows(invoice) == [
        ("Hot desk, 1-31 Oct 2026", "2026-10-01 to 2026-10-31", "1", "300.00", "0.00", "300.00", "60.00", "360.00"),
        ("Hot desk, 1-30 Nov 2026", "2026-11-01 to 2026-11-30", "1", "300.00", "0.00", "300.00", "60.00", "360.00"),
        ("Hot desk, 1-31 Dec 2026", "2026-12-01 to 2026-12-31", "1", "300.00", "0.00", "300.00", "60.00", "360.00"),
    ]
    assert totals(invoice) == ("900.00", "180.00", "1080.00")
    assert_documented(invoice)
    # Once billed, the same run again has nothing left to bill.
    billed = hot_desk(date(2026, 10, 1), billed_through=date(2027, 1, 1))
    assert plan(date(2026, 12, 1), memberships=[billed]) == []


# --- discounts and quantity -----------------------------------------------------------------------------------


def test_example_12_percent_discount() -> None:
    two_desks = hot_desk(date(2026, 12, 1), quantity="2", discount=(DiscountType.PERCENT, "12.5"))
    invoice = only(plan(date(2026, 12, 1), memberships=[two_desks]))
    assert rows(invoice) == [
        ("Hot desk, 1-31 Dec 2026", "2026-12-01 to 2026-12-31", "2", "300.00", "75.00", "525.00", "105.00", "630.00")
    ]
    assert invoice.lines[0].line.discount_rate == Decimal("12.5")
    assert_documented(invoice)


def test_example_13_percent_discount_on_a_prorated_month() -> None:
    membership = hot_desk(date(2026, 12, 10), discount=(DiscountType.PERCENT, "12.5"))
    invoice = only(plan(date(2026, 12, 1), memberships=[membership]))
    assert rows(invoice) == [
        (
            "Hot desk, 10-31 Dec 2026 (22 of 31 days)",
            "2026-12-10 to 2026-12-31",
            "1",
            "212.9032",
            "26.61",
            "186.29",
            "37.26",
            "223.55",
        )
    ]
    assert_documented(invoice)


def test_example_14_amount_discount() -> None:
    one = only(plan(date(2026, 12, 1), memberships=[hot_desk(date(2026, 12, 1), discount=(DiscountType.AMOUNT, "50"))]))
    assert rows(one) == [
        ("Hot desk, 1-31 Dec 2026", "2026-12-01 to 2026-12-31", "1", "300.00", "50.00", "250.00", "50.00", "300.00")
    ]
    assert_documented(one)

    two = only(
        plan(
            date(2026, 12, 1),
            memberships=[hot_desk(date(2026, 12, 1), quantity="2", discount=(DiscountType.AMOUNT, "50"))],
        )
    )
    assert rows(two) == [
        ("Hot desk, 1-31 Dec 2026", "2026-12-01 to 2026-12-31", "2", "300.00", "50.00", "550.00", "110.00", "660.00")
    ]
    assert_documented(two)


def test_example_15_amount_discount_on_a_prorated_month() -> None:
    membership = hot_desk(date(2026, 12, 10), discount=(DiscountType.AMOUNT, "50"))
    invoice = only(plan(date(2026, 12, 1), memberships=[membership]))
    assert rows(invoice) == [
        (
            "Hot desk, 10-31 Dec 2026 (22 of 31 days)",
            "2026-12-10 to 2026-12-31",
            "1",
            "212.9032",
            "35.48",
            "177.42",
            "35.48",
            "212.90",
        )
    ]
    assert_documented(invoice)


def test_example_16_quantity_multiplies_the_rounded_unit_price() -> None:
    membership = hot_desk(date(2026, 12, 10), quantity="3")
    invoice = only(plan(date(2026, 12, 1), memberships=[membership]))
    assert rows(invoice) == [
        (
            "Hot desk, 10-31 Dec 2026 (22 of 31 days)",
            "2026-12-10 to 2026-12-31",
            "3",
            "212.9032",
            "0.00",
            "638.71",
            "127.74",
            "766.45",
        )
    ]
    assert_documented(invoice)


# --- tax ------------------------------------------------------------------------------------------------------

EXCLUSIVE_FEES = [
    fee(1, date(2026, 11, 5), "Meeting room, 1 hour", "12.99"),
    fee(2, date(2026, 11, 12), "Printing", "7.49"),
    fee(3, date(2026, 11, 19), "Locker", "4.99"),
]
INCLUSIVE_FEES = [
    fee(n, date(2026, 11, day), "Day pass", "10.00", location=SHO) for n, day in ((4, 3), (5, 10), (6, 17))
]
PER_DOCUMENT = BillingRules(tax_rounding=TaxRounding.PER_DOCUMENT)


def test_example_17_tax_exclusive_per_line_and_per_document() -> None:
    per_line = only(plan(date(2026, 12, 1), fees=EXCLUSIVE_FEES))
    assert [row[5:] for row in rows(per_line)] == [
        ("12.99", "2.60", "15.59"),
        ("7.49", "1.50", "8.99"),
        ("4.99", "1.00", "5.99"),
    ]
    assert totals(per_line) == ("25.47", "5.10", "30.57")
    assert_documented(per_line)

    # per_document: the exact taxes 2.598 + 1.498 + 0.998 = 5.094 -> 5.09; rounded down 2.59 + 1.49 + 0.99 = 5.07;
    # the three remainders are equal (0.008), so the 2 cents go to the two earliest lines.
    assert [Decimal(a) * Decimal("0.20") for a in ("12.99", "7.49", "4.99")] == [
        Decimal("2.598"),
        Decimal("1.498"),
        Decimal("0.998"),
    ]
    per_document = only(plan(date(2026, 12, 1), fees=EXCLUSIVE_FEES, rules=PER_DOCUMENT))
    assert per_document.tax_rounding is TaxRounding.PER_DOCUMENT
    assert [row[5:] for row in rows(per_document)] == [
        ("12.99", "2.60", "15.59"),
        ("7.49", "1.50", "8.99"),
        ("4.99", "0.99", "5.98"),
    ]
    assert totals(per_document) == ("25.47", "5.09", "30.56")
    assert_documented(per_document)
    assert per_line.tax_total - per_document.tax_total == Decimal("0.01")


def test_example_18_tax_inclusive_per_line_and_per_document() -> None:
    per_line = only(plan(date(2026, 12, 1), fees=INCLUSIVE_FEES))
    assert [row[5:] for row in rows(per_line)] == [("8.33", "1.67", "10.00")] * 3
    assert totals(per_line) == ("24.99", "5.01", "30.00")
    assert_documented(per_line)

    per_document = only(plan(date(2026, 12, 1), fees=INCLUSIVE_FEES, rules=PER_DOCUMENT))
    assert [row[5:] for row in rows(per_document)] == [
        ("8.33", "1.67", "10.00"),
        ("8.33", "1.67", "10.00"),
        ("8.34", "1.66", "10.00"),
    ]
    assert totals(per_document) == ("25.00", "5.00", "30.00")
    assert_documented(per_document)
    assert per_line.total == per_document.total == Decimal("30.00")


def test_example_19_an_inclusive_price_whose_tax_is_a_half_cent() -> None:
    [line] = tax_lines([(Decimal("24.15"), VAT20)], inclusive=True, rounding=TaxRounding.PER_LINE, currency="GBP")
    assert Decimal("24.15") * 20 / 120 == Decimal("4.025")
    assert (line.net, line.tax, line.gross) == (Decimal("20.12"), Decimal("4.03"), Decimal("24.15"))
    invoice = only(plan(date(2026, 12, 1), fees=[fee(7, date(2026, 11, 20), "Day pass", "24.15", location=SHO)]))
    assert rows(invoice) == [("Day pass", "2026-11-20", "1", "24.15", "0.00", "20.12", "4.03", "24.15")]
    assert_documented(invoice)


def test_example_20_a_two_component_tax_rate_and_its_breakdown() -> None:
    assert GST_QST.rate == Decimal("14.975")
    membership = hot_desk(date(2026, 12, 1), location=MTL, tax_rate=GST_QST)
    printing = fee(8, date(2026, 11, 20), "Printing", "10.10", location=MTL, tax_rate=GST_QST)
    invoice = only(plan(date(2026, 12, 1), memberships=[membership], fees=[printing]))
    assert invoice.currency == "CAD"
    assert rows(invoice) == [
        ("Hot desk, 1-31 Dec 2026", "2026-12-01 to 2026-12-31", "1", "300.00", "0.00", "300.00", "44.93", "344.93"),
        ("Printing", "2026-11-20", "1", "10.10", "0.00", "10.10", "1.52", "11.62"),
    ]
    assert totals(invoice) == ("310.10", "46.45", "356.55")
    assert_documented(invoice)

    # Each component on its own: 300.00 -> GST 15.00, QST 29.925 -> 29.93; 10.10 -> GST 0.505 -> 0.51, QST 1.007475
    # -> 1.01. At the combined rate the printing line would have 10.10 x 14.975% = 1.512475 -> 1.51.
    assert component_taxes(
        [(p.line.amount, p.line.tax_rate) for p in invoice.lines],
        inclusive=False,
        rounding=TaxRounding.PER_LINE,
        currency="CAD",
    ) == [(Decimal("15.00"), Decimal("29.93")), (Decimal("0.51"), Decimal("1.01"))]
    assert Decimal("10.10") * GST_QST.rate / 100 == Decimal("1.512475")

    assert [(row.component, row.taxable_amount, row.tax_amount) for row in breakdown(invoice)] == [
        ("GST", Decimal("310.10"), Decimal("15.51")),
        ("QST", Decimal("310.10"), Decimal("30.94")),
    ]
    assert sum(row.tax_amount for row in breakdown(invoice)) == invoice.tax_total
    assert_in_doc(breakdown_markdown(invoice))
