"""Rounding edge cases: a prorated unit price that ends on exactly half a unit of its fourth place rounds half-up
(DESIGN.md: rounding is explicit, ROUND_HALF_UP unless a policy says otherwise), and per-document tax on lines
of mixed sign (a credit next to a membership) leaves each line the tax of its own amount at its own rate."""

from __future__ import annotations

from datetime import date

from flexbill.billing.model import (
    BillingRules,
    FeeToBill,
    MembershipToBill,
    Proration,
    membership_charges,
    membership_line,
    plan_bill_run,
)
from flexbill.invoicing.model import TaxRounding, tax_lines
from tests.unit.builders import ACME, LON, VAT20, D, uid
from tests.unit.builders import MEMBERSHIP_FEES as ACCOUNT


def membership(start: date, *, price: str, quantity: str, interval_months: int = 1) -> MembershipToBill:
    return MembershipToBill(
        id=uid("m1"),
        customer_id=ACME,
        location_id=LON.id,
        plan_name="Mailbox",
        price=D(price),
        quantity=D(quantity),
        interval_months=interval_months,
        proration=Proration.FIRST_INVOICE,
        start=start,
        end_exclusive=None,
        account=ACCOUNT,
        tax_rate=VAT20,
    )


# --- 1. the prorated unit price is rounded half-even --------------------------------------------------------------


def test_prorated_unit_price_rounds_half_up_to_four_places() -> None:
    """100.0001 a month (prices may have 4 places), from 16 Nov 2026: 15 of 30 days = 1/2, so the unit price is
    exactly 50.00005. Half-up to 4 places: 50.0001. With quantity 100 the line is 100 x 50.0001 = 5000.01, which
    is also the exact 100 x 50.00005 = 5000.005 rounded half-up. Actual: 50.0000 and 5000.00 (half-even)."""
    m = membership(date(2026, 11, 16), price="100.0001", quantity="100")
    (charge,) = membership_charges(m, date(2026, 11, 1), billing_day=1)
    line = membership_line(m, charge, "GBP")
    assert line.unit_price == D("50.0001")
    assert line.amount == D("5000.01")


def test_prorated_unit_price_of_a_two_place_price_rounds_half_up() -> None:
    """A 6-month plan at 100.03 from 24 Jul 2026: block [1 Jul 2026, 1 Jan 2027) = 184 days, active 161 days = 7/8;
    100.03 x 7/8 = 87.52625 exactly -> 87.5263 half-up; x 100 = 8752.63 (exact 8752.625 -> 8752.63 too).
    Actual: 87.5262 and 8752.62."""
    m = membership(date(2026, 7, 24), price="100.03", quantity="100", interval_months=6)
    (charge,) = membership_charges(m, date(2026, 7, 1), billing_day=1)
    line = membership_line(m, charge, "GBP")
    assert line.description == "Mailbox, 24 Jul - 31 Dec 2026 (161 of 184 days)"
    assert line.unit_price == D("87.5263")
    assert line.amount == D("8752.63")


# --- 2. per_document tax over lines of mixed signs ------------------------------------------------------------------


def test_per_document_tax_with_a_credit_line_keeps_each_lines_tax_near_its_own_rate() -> None:
    """300.00 and -299.97 at 20%, tax-exclusive, per_document. The document's tax is 0.03 x 20% = 0.006 -> 0.01.
    Each line on its own: 60.00 and -59.994 -> -59.99, which already sum to 0.01, so nothing moves: 60.00, -59.99.
    Actual: 100.00 and -99.99 (0.01 shared in proportion 300.00 : -299.97 of a 0.03 total) - a 33% tax on a
    line at 20%."""
    lines = tax_lines(
        [(D("300.00"), VAT20), (D("-299.97"), VAT20)],
        inclusive=False,
        rounding=TaxRounding.PER_DOCUMENT,
        currency="GBP",
    )
    assert sum(line.tax for line in lines) == D("0.01")
    assert [line.tax for line in lines] == [D("60.00"), D("-59.99")]


def test_per_document_tax_of_lines_that_cancel_out_is_still_carried_by_each_line() -> None:
    """100.00 and -100.00 at 20%: the document's tax is 0.00; each line on its own is 20.00 and -20.00, summing to
    0.00. Actual: 0.00 on both lines, i.e. a 100.00 line at 20% that claims no VAT."""
    lines = tax_lines(
        [(D("100.00"), VAT20), (D("-100.00"), VAT20)],
        inclusive=False,
        rounding=TaxRounding.PER_DOCUMENT,
        currency="GBP",
    )
    assert sum(line.tax for line in lines) == D("0.00")
    assert [line.tax for line in lines] == [D("20.00"), D("-20.00")]


def test_a_bill_run_with_a_credit_fee_and_per_document_tax_puts_the_vat_of_the_rate_on_the_membership() -> None:
    """Run of 1 Dec 2026, per_document: a 300.00 membership for December and a credit fee of -299.97 dated 30 Nov,
    both at VAT 20%, on one invoice. Expected the membership line's VAT to be 60.00 (20% of 300.00) and the
    invoice's VAT 0.01. Actual: 100.00 on the membership line and -99.99 on the credit."""
    m = MembershipToBill(
        id=uid("m1"),
        customer_id=ACME,
        location_id=LON.id,
        plan_name="Hot desk",
        price=D("300.00"),
        quantity=D(1),
        interval_months=1,
        proration=Proration.FIRST_INVOICE,
        start=date(2026, 12, 1),
        end_exclusive=None,
        account=ACCOUNT,
        tax_rate=VAT20,
    )
    credit = FeeToBill(
        id=uid("credit"),
        customer_id=ACME,
        location_id=LON.id,
        date=date(2026, 11, 30),
        description="Goodwill credit",
        quantity=D(1),
        unit_price=D("-299.97"),
        account=ACCOUNT,
        tax_rate=VAT20,
    )
    (invoice,) = plan_bill_run(
        date(2026, 12, 1), BillingRules(tax_rounding=TaxRounding.PER_DOCUMENT), {LON.id: LON}, [m], [credit]
    )
    assert invoice.subtotal == D("0.03")
    assert invoice.tax_total == D("0.01")
    assert [p.tax.tax for p in invoice.lines] == [D("60.00"), D("-59.99")]
