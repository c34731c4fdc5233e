"""The pure bill-run planner: blocks on the billing grid, coverage, proration policies, catch-up, fees in arrears,
discounts, grouping, issue mode, due dates, tax on the planned invoices, and the properties that make re-running a
bill run harmless.

Unless a test says otherwise: billing day 1, a "Hot desk" at 300.00 a month, GBP prices excluding VAT at 20%,
per_line tax rounding, issue mode "issue", due in 14 days.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flexbill.billing.model import (
    BillingRules,
    DiscountType,
    FeeToBill,
    Grouping,
    IssueMode,
    LineKind,
    LocationTerms,
    MembershipToBill,
    NotABillingDay,
    PlannedInvoice,
    PlannedLine,
    Proration,
    billing_period,
    membership_charges,
    membership_line,
    plan_bill_run,
)
from flexbill.invoicing.model import InvoiceStatus, TaxRate, TaxRounding
from flexbill.money import ZERO, round_money
from flexbill.periods import Period, add_months, block_containing, grid_date_on_or_before
from tests.unit.builders import (
    ACME,
    AKL,
    GLOBEX,
    GST15,
    JCT10,
    LOCATIONS,
    LON,
    MEMBERSHIP_FEES,
    ONE_OFF_FEES,
    PAR,
    TYO,
    VAT20,
    ZERO_RATED,
    D,
    uid,
)


def membership(
    start: date,
    last_day: date | None = None,
    *,
    name: str = "m1",
    customer: uuid.UUID = ACME,
    location: LocationTerms = LON,
    price: str = "300.00",
    quantity: str = "1",
    interval_months: int = 1,
    proration: Proration = Proration.FIRST_INVOICE,
    billed_through: date | None = None,
    discount_type: DiscountType | None = None,
    discount_value: str | None = None,
    tax_rate: TaxRate = VAT20,
    plan_name: str = "Hot desk",
) -> MembershipToBill:
    """A membership; ``last_day`` is the user-facing inclusive end, turned into the half-open end here."""
    return MembershipToBill(
        id=uid(name),
        customer_id=customer,
        location_id=location.id,
        plan_name=plan_name,
        price=D(price),
        quantity=D(quantity),
        interval_months=interval_months,
        proration=proration,
        start=start,
        end_exclusive=None if last_day is None else last_day + timedelta(days=1),
        account=MEMBERSHIP_FEES,
        tax_rate=tax_rate,
        discount_type=discount_type,
        discount_value=None if discount_value is None else D(discount_value),
        billed_through=billed_through,
    )


def fee(
    day: date,
    *,
    name: str = "f1",
    description: str = "Meeting room",
    quantity: str = "1",
    unit_price: str = "40.00",
    customer: uuid.UUID = ACME,
    location: LocationTerms = LON,
    tax_rate: TaxRate = VAT20,
) -> FeeToBill:
    return FeeToBill(
        id=uid(name),
        customer_id=customer,
        location_id=location.id,
        date=day,
        description=description,
        quantity=D(quantity),
        unit_price=D(unit_price),
        account=ONE_OFF_FEES,
        tax_rate=tax_rate,
    )


def run(
    run_date: date,
    memberships: Iterable[MembershipToBill] = (),
    fees: Iterable[FeeToBill] = (),
    **rules: object,
) -> list[PlannedInvoice]:
    return plan_bill_run(run_date, BillingRules(**rules), LOCATIONS, memberships, fees)  # type: ignore[arg-type]


def only(invoices: Sequence[PlannedInvoice]) -> PlannedInvoice:
    assert len(invoices) == 1, invoices
    return invoices[0]


def lines(invoice: PlannedInvoice) -> list[PlannedLine]:
    return [priced.line for priced in invoice.lines]


def summary(invoice: PlannedInvoice) -> list[tuple[date, date, Decimal]]:
    """(first day, last day inclusive, amount) of every line."""
    return [(line.period.start, line.period.last_day, line.amount) for line in lines(invoice) if line.period]


def billed(m: MembershipToBill, invoices: Sequence[PlannedInvoice]) -> MembershipToBill:
    """``m`` as the next bill run sees it: billed through the end of the coverage these invoices hold for it."""
    ends = [
        line.coverage.end
        for invoice in invoices
        for line in lines(invoice)
        if line.membership_id == m.id and line.coverage is not None
    ]
    return dataclasses.replace(m, billed_through=max(ends)) if ends else m


# --- the run date -------------------------------------------------------------------------------------------------


def test_a_run_date_that_is_not_a_billing_day_raises_not_a_billing_day() -> None:
    with pytest.raises(NotABillingDay, match="2026-12-02 is not a billing day"):
        run(date(2026, 12, 2), [membership(date(2026, 11, 1))])
    with pytest.raises(NotABillingDay):
        run(date(2026, 12, 1), billing_day=15)
    assert isinstance(NotABillingDay("x"), ValueError)


def test_the_billing_period_runs_from_the_run_date_to_the_next_billing_day() -> None:
    assert billing_period(date(2026, 12, 1), BillingRules()) == Period(date(2026, 12, 1), date(2027, 1, 1))
    assert billing_period(date(2026, 1, 15), BillingRules(billing_day=15)) == Period(
        date(2026, 1, 15), date(2026, 2, 15)
    )


def test_nothing_to_bill_plans_no_invoice() -> None:
    assert run(date(2026, 12, 1)) == []


# --- whole periods and the docstring's worked example ------------------------------------------------------------


def test_a_membership_from_the_billing_day_is_billed_a_whole_period_in_advance() -> None:
    """Run of 1 Nov 2026, membership from 1 Nov: [1 Nov, 1 Dec) at 300.00, VAT 60.00, total 360.00."""
    invoice = only(run(date(2026, 11, 1), [membership(date(2026, 11, 1))]))
    (line,) = lines(invoice)
    assert line.kind is LineKind.MEMBERSHIP
    assert line.description == "Hot desk, 1-30 Nov 2026"
    assert line.period == line.coverage == Period(date(2026, 11, 1), date(2026, 12, 1))
    assert (line.quantity, line.unit_price, line.amount) == (D(1), D("300.00"), D("300.00"))
    assert line.account == MEMBERSHIP_FEES
    assert line.tax_rate == VAT20
    assert line.membership_id == uid("m1")
    assert line.fee_id is None
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (D("300.00"), D("60.00"), D("360.00"))
    assert invoice.currency == "GBP"


def test_a_membership_from_10_nov_run_on_1_dec_bills_a_prorated_catch_up_and_december() -> None:
    """The planner's docstring example: from 10 Nov 2026, nothing billed, run of 1 Dec.
    [10 Nov, 1 Dec) = 21 of 30 days = 7/10 of 300.00 = 210.00 (catch-up), then [1 Dec, 1 Jan) = 300.00."""
    m = membership(date(2026, 11, 10))
    charges = membership_charges(m, date(2026, 12, 1), billing_day=1)
    assert [(c.active, c.fraction) for c in charges] == [
        (Period(date(2026, 11, 10), date(2026, 12, 1)), Fraction(7, 10)),
        (Period(date(2026, 12, 1), date(2027, 1, 1)), Fraction(1)),
    ]
    invoice = only(run(date(2026, 12, 1), [m]))
    assert summary(invoice) == [
        (date(2026, 11, 10), date(2026, 11, 30), D("210.00")),
        (date(2026, 12, 1), date(2026, 12, 31), D("300.00")),
    ]
    assert [line.description for line in lines(invoice)] == [
        "Hot desk, 10-30 Nov 2026 (21 of 30 days)",
        "Hot desk, 1-31 Dec 2026",
    ]
    assert lines(invoice)[0].unit_price == D("210.0000")


# --- month ends, February, leap years -----------------------------------------------------------------------------


def test_a_membership_starting_31_jan_pays_one_day_of_january_then_whole_february() -> None:
    """Billing day 1, 310.00 a month. Run of 1 Jan 2026: [31 Jan, 1 Feb) = 1 of 31 days = 10.00.
    Run of 1 Feb: [1 Feb, 1 Mar) is a whole block, so a whole 310.00 although February has only 28 days."""
    m = membership(date(2026, 1, 31), price="310.00")
    january = only(run(date(2026, 1, 1), [m]))
    assert summary(january) == [(date(2026, 1, 31), date(2026, 1, 31), D("10.00"))]
    assert lines(january)[0].description == "Hot desk, 31 Jan 2026 (1 of 31 days)"
    february = only(run(date(2026, 2, 1), [billed(m, [january])]))
    assert summary(february) == [(date(2026, 2, 1), date(2026, 2, 28), D("310.00"))]


def test_a_membership_starting_31_jan_with_billing_day_28() -> None:
    """Billing day 28: the block holding 31 Jan 2026 is [28 Jan, 28 Feb) = 31 days; active 31 Jan to 27 Feb = 28
    days; 310.00 x 28/31 = 280.00. The next block is [28 Feb, 28 Mar) = 28 days, billed whole."""
    m = membership(date(2026, 1, 31), price="310.00")
    first = only(run(date(2026, 1, 28), [m], billing_day=28))
    assert summary(first) == [(date(2026, 1, 31), date(2026, 2, 27), D("280.00"))]
    assert lines(first)[0].description == "Hot desk, 31 Jan - 27 Feb 2026 (28 of 31 days)"
    second = only(run(date(2026, 2, 28), [billed(m, [first])], billing_day=28))
    assert summary(second) == [(date(2026, 2, 28), date(2026, 3, 27), D("310.00"))]


def test_february_in_a_common_year_prorates_over_28_days() -> None:
    """From 15 Feb 2026, 280.00 a month: 15-28 Feb = 14 of 28 days = 1/2 -> 140.00."""
    invoice = only(run(date(2026, 2, 1), [membership(date(2026, 2, 15), price="280.00")]))
    assert summary(invoice) == [(date(2026, 2, 15), date(2026, 2, 28), D("140.00"))]
    assert lines(invoice)[0].description == "Hot desk, 15-28 Feb 2026 (14 of 28 days)"


def test_february_in_a_leap_year_prorates_over_29_days() -> None:
    """From 15 Feb 2028, 290.00 a month: 15-29 Feb = 15 of 29 days -> 290 x 15/29 = 150.00."""
    invoice = only(run(date(2028, 2, 1), [membership(date(2028, 2, 15), price="290.00")]))
    assert summary(invoice) == [(date(2028, 2, 15), date(2028, 2, 29), D("150.00"))]
    assert lines(invoice)[0].description == "Hot desk, 15-29 Feb 2028 (15 of 29 days)"


def test_a_membership_whose_last_day_is_the_leap_day_pays_a_whole_february() -> None:
    """1 Feb to 29 Feb 2028 inclusive is the whole block [1 Feb, 1 Mar): 290.00, not prorated."""
    invoice = only(run(date(2028, 2, 1), [membership(date(2028, 2, 1), date(2028, 2, 29), price="290.00")]))
    assert summary(invoice) == [(date(2028, 2, 1), date(2028, 2, 29), D("290.00"))]
    assert lines(invoice)[0].description == "Hot desk, 1-29 Feb 2028"


# --- starting and ending inside a period ---------------------------------------------------------------------------


def test_a_membership_that_starts_and_ends_in_the_same_period_pays_its_days_only() -> None:
    """10 Nov to 19 Nov 2026 inclusive = 10 of 30 days = 1/3 of 300.00 = 100.00; nothing more on later runs."""
    m = membership(date(2026, 11, 10), date(2026, 11, 19))
    invoice = only(run(date(2026, 11, 1), [m]))
    assert summary(invoice) == [(date(2026, 11, 10), date(2026, 11, 19), D("100.00"))]
    assert lines(invoice)[0].coverage == Period(date(2026, 11, 10), date(2026, 11, 20))
    assert lines(invoice)[0].description == "Hot desk, 10-19 Nov 2026 (10 of 30 days)"
    assert run(date(2026, 12, 1), [billed(m, [invoice])]) == []


def test_a_membership_ending_mid_period_pays_the_days_up_to_its_last_day() -> None:
    """Billed through 1 Nov, last day 20 Nov 2026: [1 Nov, 21 Nov) = 20 of 30 days = 2/3 of 300.00 = 200.00."""
    m = membership(date(2026, 10, 1), date(2026, 11, 20), billed_through=date(2026, 11, 1))
    invoice = only(run(date(2026, 11, 1), [m]))
    assert summary(invoice) == [(date(2026, 11, 1), date(2026, 11, 20), D("200.00"))]
    assert lines(invoice)[0].description == "Hot desk, 1-20 Nov 2026 (20 of 30 days)"
    assert run(date(2026, 12, 1), [billed(m, [invoice])]) == []


def test_a_membership_not_started_by_the_end_of_the_period_is_not_billed_yet() -> None:
    """Run of 1 Dec 2026 covers [1 Dec, 1 Jan); a membership from 1 Jan 2027 waits for the run of 1 Jan."""
    m = membership(date(2027, 1, 1))
    assert run(date(2026, 12, 1), [m]) == []
    assert summary(only(run(date(2027, 1, 1), [m]))) == [(date(2027, 1, 1), date(2027, 1, 31), D("300.00"))]


def test_extending_a_membership_bills_only_the_extra_days() -> None:
    """Ended 20 Nov and billed through 21 Nov; extended to 30 Nov: the run of 1 Dec bills [21 Nov, 1 Dec) =
    10 of 30 days = 100.00 as catch-up, and nothing for December."""
    m = membership(date(2026, 11, 1), date(2026, 11, 30), billed_through=date(2026, 11, 21))
    invoice = only(run(date(2026, 12, 1), [m]))
    assert summary(invoice) == [(date(2026, 11, 21), date(2026, 11, 30), D("100.00"))]


# --- billing day other than 1 ------------------------------------------------------------------------------------


def test_billing_day_15_prorates_over_the_block_from_the_15th() -> None:
    """Billing day 15, from 1 Dec 2026. Run of 15 Nov: block [15 Nov, 15 Dec) = 30 days, active 1-14 Dec = 14 days;
    300.00 x 14/30 = 140.00. Run of 15 Dec: [15 Dec, 15 Jan) whole, 300.00."""
    m = membership(date(2026, 12, 1))
    first = only(run(date(2026, 11, 15), [m], billing_day=15))
    assert summary(first) == [(date(2026, 12, 1), date(2026, 12, 14), D("140.00"))]
    second = only(run(date(2026, 12, 15), [billed(m, [first])], billing_day=15))
    assert summary(second) == [(date(2026, 12, 15), date(2027, 1, 14), D("300.00"))]
    with pytest.raises(NotABillingDay):
        run(date(2026, 12, 1), [m], billing_day=15)


# --- catch-up ------------------------------------------------------------------------------------------------------


def test_catch_up_bills_each_missed_block_as_its_own_line_with_its_own_period() -> None:
    """Entered late with a start of 1 Oct 2026; run of 1 Dec: October and November (catch-up) and December, each
    300.00, on one invoice: subtotal 900.00, VAT 180.00, total 1080.00."""
    invoice = only(run(date(2026, 12, 1), [membership(date(2026, 10, 1))]))
    assert summary(invoice) == [
        (date(2026, 10, 1), date(2026, 10, 31), D("300.00")),
        (date(2026, 11, 1), date(2026, 11, 30), D("300.00")),
        (date(2026, 12, 1), date(2026, 12, 31), D("300.00")),
    ]
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (D("900.00"), D("180.00"), D("1080.00"))


def test_catch_up_of_a_partial_first_month() -> None:
    """From 10 Oct 2026, run of 1 Dec: 10-31 Oct = 22 of 31 days; 300 x 22/31 = 212.903225... -> unit price
    212.9032 -> 212.90; then November and December at 300.00. VAT 42.58 + 60.00 + 60.00 = 162.58."""
    invoice = only(run(date(2026, 12, 1), [membership(date(2026, 10, 10))]))
    assert summary(invoice) == [
        (date(2026, 10, 10), date(2026, 10, 31), D("212.90")),
        (date(2026, 11, 1), date(2026, 11, 30), D("300.00")),
        (date(2026, 12, 1), date(2026, 12, 31), D("300.00")),
    ]
    assert lines(invoice)[0].unit_price == D("212.9032")
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (D("812.90"), D("162.58"), D("975.48"))


# --- plans billed every N months ------------------------------------------------------------------------------------


def test_a_quarterly_plan_is_billed_three_months_in_advance_then_skips_two_runs() -> None:
    """900.00 a quarter from 1 Jan 2026: the run of 1 Jan bills [1 Jan, 1 Apr); the runs of 1 Feb and 1 Mar bill
    nothing; the run of 1 Apr bills [1 Apr, 1 Jul)."""
    m = membership(date(2026, 1, 1), price="900.00", interval_months=3)
    january = only(run(date(2026, 1, 1), [m]))
    assert summary(january) == [(date(2026, 1, 1), date(2026, 3, 31), D("900.00"))]
    assert lines(january)[0].description == "Hot desk, 1 Jan - 31 Mar 2026"
    m = billed(m, [january])
    assert m.billed_through == date(2026, 4, 1)
    assert run(date(2026, 2, 1), [m]) == []
    assert run(date(2026, 3, 1), [m]) == []
    april = only(run(date(2026, 4, 1), [m]))
    assert summary(april) == [(date(2026, 4, 1), date(2026, 6, 30), D("900.00"))]


def test_a_partial_first_quarter_is_prorated_by_days() -> None:
    """900.00 a quarter from 15 Jan 2026: block [1 Jan, 1 Apr) = 31 + 28 + 31 = 90 days; active 15 Jan to 31 Mar =
    17 + 28 + 31 = 76 days; 900 x 76/90 = 760.00."""
    invoice = only(run(date(2026, 1, 1), [membership(date(2026, 1, 15), price="900.00", interval_months=3)]))
    assert summary(invoice) == [(date(2026, 1, 15), date(2026, 3, 31), D("760.00"))]
    assert lines(invoice)[0].description == "Hot desk, 15 Jan - 31 Mar 2026 (76 of 90 days)"


def test_quarters_are_counted_from_the_memberships_own_billing_day_not_the_calendar() -> None:
    """From 15 Feb 2026, billing day 1: the first quarter is [1 Feb, 1 May) = 28 + 31 + 30 = 89 days; active
    14 + 31 + 30 = 75 days; 900 x 75/89 = 758.426966... -> 758.4270 -> 758.43."""
    invoice = only(run(date(2026, 2, 1), [membership(date(2026, 2, 15), price="900.00", interval_months=3)]))
    assert summary(invoice) == [(date(2026, 2, 15), date(2026, 4, 30), D("758.43"))]
    assert lines(invoice)[0].unit_price == D("758.4270")


def test_a_quarter_across_the_year_end() -> None:
    invoice = only(run(date(2026, 12, 1), [membership(date(2026, 12, 1), price="900.00", interval_months=3)]))
    assert summary(invoice) == [(date(2026, 12, 1), date(2027, 2, 28), D("900.00"))]
    assert lines(invoice)[0].description == "Hot desk, 1 Dec 2026 - 28 Feb 2027"


# --- proration policies ---------------------------------------------------------------------------------------------


def test_second_invoice_holds_a_partial_first_month_back_then_bills_it_with_the_next_as_two_lines() -> None:
    """From 15 Nov 2026: the run of 1 Nov bills nothing. The run of 1 Dec bills [15 Nov, 1 Dec) = 16 of 30 days =
    160.00 and [1 Dec, 1 Jan) = 300.00, two lines on one invoice."""
    m = membership(date(2026, 11, 15), proration=Proration.SECOND_INVOICE)
    assert run(date(2026, 11, 1), [m]) == []
    invoice = only(run(date(2026, 12, 1), [m]))
    assert summary(invoice) == [
        (date(2026, 11, 15), date(2026, 11, 30), D("160.00")),
        (date(2026, 12, 1), date(2026, 12, 31), D("300.00")),
    ]
    assert run(date(2026, 12, 1), [billed(m, [invoice])]) == []


def test_second_invoice_does_not_hold_back_a_membership_that_ends_inside_its_first_block() -> None:
    """From 15 Nov to 25 Nov 2026: there is no next block to wait for; 11 of 30 days = 110.00 on the run of 1 Nov."""
    m = membership(date(2026, 11, 15), date(2026, 11, 25), proration=Proration.SECOND_INVOICE)
    assert summary(only(run(date(2026, 11, 1), [m]))) == [(date(2026, 11, 15), date(2026, 11, 25), D("110.00"))]


def test_second_invoice_does_not_hold_back_a_membership_ending_on_the_last_day_of_its_first_block() -> None:
    """From 16 Nov to 30 Nov 2026 = 15 of 30 days = 150.00 on the run of 1 Nov."""
    m = membership(date(2026, 11, 16), date(2026, 11, 30), proration=Proration.SECOND_INVOICE)
    assert summary(only(run(date(2026, 11, 1), [m]))) == [(date(2026, 11, 16), date(2026, 11, 30), D("150.00"))]


def test_second_invoice_bills_a_whole_first_block_at_once() -> None:
    m = membership(date(2026, 11, 1), proration=Proration.SECOND_INVOICE)
    assert summary(only(run(date(2026, 11, 1), [m]))) == [(date(2026, 11, 1), date(2026, 11, 30), D("300.00"))]


def test_second_invoice_with_a_quarterly_plan_holds_the_partial_quarter_until_the_next_quarter() -> None:
    """900.00 a quarter from 15 Jan 2026: the runs of 1 Jan, 1 Feb and 1 Mar bill nothing; the run of 1 Apr bills
    [15 Jan, 1 Apr) = 76/90 = 760.00 and [1 Apr, 1 Jul) = 900.00."""
    m = membership(date(2026, 1, 15), price="900.00", interval_months=3, proration=Proration.SECOND_INVOICE)
    for month in (1, 2, 3):
        assert run(date(2026, month, 1), [m]) == []
    assert summary(only(run(date(2026, 4, 1), [m]))) == [
        (date(2026, 1, 15), date(2026, 3, 31), D("760.00")),
        (date(2026, 4, 1), date(2026, 6, 30), D("900.00")),
    ]


def test_proration_none_bills_a_whole_block_for_a_partial_first_month() -> None:
    """From 15 Nov 2026 with proration "none": the run of 1 Nov bills the whole 300.00, covering to 1 Dec."""
    m = membership(date(2026, 11, 15), proration=Proration.NONE)
    invoice = only(run(date(2026, 11, 1), [m]))
    (line,) = lines(invoice)
    assert (line.amount, line.unit_price) == (D("300.00"), D("300.00"))
    assert line.period == Period(date(2026, 11, 15), date(2026, 12, 1))
    assert line.coverage == Period(date(2026, 11, 15), date(2026, 12, 1))
    assert line.description == "Hot desk, 15-30 Nov 2026"
    assert summary(only(run(date(2026, 12, 1), [billed(m, [invoice])]))) == [
        (date(2026, 12, 1), date(2026, 12, 31), D("300.00"))
    ]


def test_proration_none_bills_a_whole_block_for_a_partial_last_month() -> None:
    """Last day 20 Nov, billed through 1 Nov: the run of 1 Nov bills 300.00 whole; coverage runs to 1 Dec."""
    m = membership(date(2026, 10, 1), date(2026, 11, 20), proration=Proration.NONE, billed_through=date(2026, 11, 1))
    (line,) = lines(only(run(date(2026, 11, 1), [m])))
    assert line.amount == D("300.00")
    assert line.period == Period(date(2026, 11, 1), date(2026, 11, 21))
    assert line.coverage == Period(date(2026, 11, 1), date(2026, 12, 1))


def test_proration_none_bills_a_whole_block_for_a_membership_inside_one_period() -> None:
    m = membership(date(2026, 11, 10), date(2026, 11, 19), proration=Proration.NONE)
    invoice = only(run(date(2026, 11, 1), [m]))
    assert summary(invoice) == [(date(2026, 11, 10), date(2026, 11, 19), D("300.00"))]
    assert run(date(2026, 12, 1), [billed(m, [invoice])]) == []


# --- discounts, quantity, price ----------------------------------------------------------------------------------


def test_percent_discount_takes_its_share_off_the_line() -> None:
    """10% off 300.00 = 270.00; the line records the rate and the 30.00 it took off; VAT 54.00 on 270.00."""
    m = membership(date(2026, 11, 1), discount_type=DiscountType.PERCENT, discount_value="10")
    invoice = only(run(date(2026, 11, 1), [m]))
    (line,) = lines(invoice)
    assert (line.unit_price, line.discount_rate, line.discount_amount, line.amount) == (
        D("300.00"),
        D("10"),
        D("30.00"),
        D("270.00"),
    )
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (D("270.00"), D("54.00"), D("324.00"))


def test_percent_discount_on_a_prorated_line_rounds_half_up() -> None:
    """From 10 Oct 2026 (catch-up 212.90 on the run of 1 Dec) with 12.5% off: 212.90 x 0.875 = 186.2875 -> 186.29,
    so 26.61 off; the whole months are 262.50 each (37.50 off)."""
    m = membership(date(2026, 10, 10), discount_type=DiscountType.PERCENT, discount_value="12.5")
    invoice = only(run(date(2026, 12, 1), [m]))
    assert [(line.amount, line.discount_amount) for line in lines(invoice)] == [
        (D("186.29"), D("26.61")),
        (D("262.50"), D("37.50")),
        (D("262.50"), D("37.50")),
    ]


def test_amount_discount_on_a_whole_block() -> None:
    m = membership(date(2026, 11, 1), discount_type=DiscountType.AMOUNT, discount_value="50.00")
    (line,) = lines(only(run(date(2026, 11, 1), [m])))
    assert (line.amount, line.discount_amount, line.discount_rate) == (D("250.00"), D("50.00"), None)


def test_amount_discount_is_prorated_with_the_line() -> None:
    """10 of 30 days: 100.00 before the discount; 50.00 x 1/3 = 16.666... -> 16.67 off -> 83.33."""
    m = membership(date(2026, 11, 10), date(2026, 11, 19), discount_type=DiscountType.AMOUNT, discount_value="50.00")
    (line,) = lines(only(run(date(2026, 11, 1), [m])))
    assert (line.amount, line.discount_amount) == (D("83.33"), D("16.67"))


def test_amount_discount_never_takes_a_line_below_zero() -> None:
    """400.00 off a 300.00 month: the line is 0.00 (300.00 off), with no tax, never negative."""
    m = membership(date(2026, 11, 1), discount_type=DiscountType.AMOUNT, discount_value="400.00")
    invoice = only(run(date(2026, 11, 1), [m]))
    (line,) = lines(invoice)
    assert (line.amount, line.discount_amount) == (D("0.00"), D("300.00"))
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (D("0.00"), D("0.00"), D("0.00"))


def test_a_zero_discount_is_no_discount() -> None:
    m = membership(date(2026, 11, 1), discount_type=DiscountType.PERCENT, discount_value="0")
    (line,) = lines(only(run(date(2026, 11, 1), [m])))
    assert (line.amount, line.discount_amount, line.discount_rate) == (D("300.00"), D("0.00"), None)


def test_quantity_multiplies_the_unit_price() -> None:
    """3 desks at 300.00 = 900.00; VAT 180.00."""
    invoice = only(run(date(2026, 11, 1), [membership(date(2026, 11, 1), quantity="3")]))
    (line,) = lines(invoice)
    assert (line.quantity, line.unit_price, line.amount) == (D(3), D("300.00"), D("900.00"))
    assert invoice.tax_total == D("180.00")


def test_quantity_multiplies_the_prorated_unit_price_kept_to_four_places() -> None:
    """7 desks at 100.00 from 22 Dec 2026: 10 of 31 days; unit 100 x 10/31 = 32.258064... -> 32.2581;
    7 x 32.2581 = 225.8067 -> 225.81."""
    m = membership(date(2026, 12, 22), price="100.00", quantity="7")
    (line,) = lines(only(run(date(2026, 12, 1), [m])))
    assert (line.quantity, line.unit_price, line.amount) == (D(7), D("32.2581"), D("225.81"))
    assert line.description == "Hot desk, 22-31 Dec 2026 (10 of 31 days)"


def test_a_price_override_is_what_the_membership_is_billed_and_prorated_at() -> None:
    """The service resolves a membership's price override into ``price``: 250.00 instead of the plan's 300.00.
    From 10 Nov 2026: 21 of 30 days x 250.00 = 175.00; December 250.00."""
    m = membership(date(2026, 11, 10), price="250.00")
    invoice = only(run(date(2026, 12, 1), [m]))
    assert [(line.unit_price, line.amount) for line in lines(invoice)] == [
        (D("175.0000"), D("175.00")),
        (D("250.00"), D("250.00")),
    ]


# --- fees -----------------------------------------------------------------------------------------------------------


def test_fees_are_billed_in_arrears_the_day_before_the_run_is_in_the_run_date_is_not() -> None:
    """Run of 1 Dec 2026: a fee of 30 Nov and an older unbilled fee of 15 Oct are billed; fees of 1 Dec and later
    wait for the next run."""
    fees = [
        fee(date(2026, 12, 1), name="on the run date"),
        fee(date(2026, 11, 30), name="the day before", description="Printing"),
        fee(date(2026, 12, 20), name="later"),
        fee(date(2026, 10, 15), name="long ago", description="Locker"),
    ]
    invoice = only(run(date(2026, 12, 1), fees=fees))
    assert [(line.fee_id, line.description) for line in lines(invoice)] == [
        (uid("long ago"), "Locker"),
        (uid("the day before"), "Printing"),
    ]
    printing = lines(invoice)[1]
    assert printing.kind is LineKind.FEE
    assert printing.period == Period(date(2026, 11, 30), date(2026, 12, 1))
    assert printing.coverage is None
    assert printing.membership_id is None
    assert printing.account == ONE_OFF_FEES
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (D("80.00"), D("16.00"), D("96.00"))
    assert run(date(2026, 12, 1), fees=[fee(date(2026, 12, 1))]) == []


def test_fee_amount_is_quantity_times_unit_price_rounded_half_up() -> None:
    """2.5 hours at 10.00 = 25.00; 3 at 0.3333 = 0.9999 -> 1.00; 3 at 0.0050 = 0.015 -> 0.02."""
    fees = [
        fee(date(2026, 11, 2), name="a", quantity="2.5", unit_price="10.00"),
        fee(date(2026, 11, 3), name="b", quantity="3", unit_price="0.3333"),
        fee(date(2026, 11, 4), name="c", quantity="3", unit_price="0.0050"),
    ]
    invoice = only(run(date(2026, 12, 1), fees=fees))
    assert [line.amount for line in lines(invoice)] == [D("25.00"), D("1.00"), D("0.02")]


def test_a_fee_added_after_a_run_is_billed_alone_by_a_re_run() -> None:
    """The run of 1 Dec bills a membership and a fee; a fee added later and a re-run give one invoice holding only
    the new fee."""
    m = membership(date(2026, 12, 1))
    first = run(date(2026, 12, 1), [m], [fee(date(2026, 11, 20), name="first")])
    assert [line.kind for line in lines(only(first))] == [LineKind.MEMBERSHIP, LineKind.FEE]
    rerun = only(run(date(2026, 12, 1), [billed(m, first)], [fee(date(2026, 11, 25), name="late")]))
    assert [(line.kind, line.fee_id) for line in lines(rerun)] == [(LineKind.FEE, uid("late"))]


# --- grouping, issue mode, due date -----------------------------------------------------------------------------------


def test_grouping_single_puts_memberships_and_fees_on_one_invoice_per_customer_and_location() -> None:
    memberships = [
        membership(date(2026, 12, 1), name="acme desk"),
        membership(date(2026, 12, 1), name="globex desk", customer=GLOBEX),
        membership(date(2026, 12, 1), name="acme tokyo", location=TYO, price="30000"),
    ]
    fees = [fee(date(2026, 11, 30), name="acme fee"), fee(date(2026, 11, 30), name="globex fee", customer=GLOBEX)]
    invoices = run(date(2026, 12, 1), memberships, fees, grouping=Grouping.SINGLE)
    assert len(invoices) == 3
    by_key = {(inv.customer_id, inv.location.code): inv for inv in invoices}
    assert set(by_key) == {(ACME, "LON"), (GLOBEX, "LON"), (ACME, "TYO")}
    assert [line.kind for line in lines(by_key[ACME, "LON"])] == [LineKind.MEMBERSHIP, LineKind.FEE]
    assert [line.kind for line in lines(by_key[GLOBEX, "LON"])] == [LineKind.MEMBERSHIP, LineKind.FEE]
    assert by_key[ACME, "TYO"].currency == "JPY"
    # deterministic order: by location code, then customer
    assert [inv.location.code for inv in invoices] == ["LON", "LON", "TYO"]


def test_grouping_separate_puts_memberships_and_fees_on_separate_invoices() -> None:
    invoices = run(
        date(2026, 12, 1),
        [membership(date(2026, 12, 1)), membership(date(2026, 12, 1), name="m2", plan_name="Office")],
        [fee(date(2026, 11, 30), name="a"), fee(date(2026, 11, 29), name="b")],
        grouping=Grouping.SEPARATE,
    )
    assert sorted([line.kind for line in lines(inv)] for inv in invoices) == [
        [LineKind.FEE, LineKind.FEE],
        [LineKind.MEMBERSHIP, LineKind.MEMBERSHIP],
    ]
    assert {inv.customer_id for inv in invoices} == {ACME}


def test_lines_are_ordered_memberships_oldest_first_then_fees_by_date() -> None:
    invoice = only(
        run(
            date(2026, 12, 1),
            [membership(date(2026, 12, 1), name="office", plan_name="Office"), membership(date(2026, 11, 1))],
            [fee(date(2026, 11, 30), name="late fee", description="B"), fee(date(2026, 11, 2), description="A")],
        )
    )
    assert [line.description for line in lines(invoice)] == [
        "Hot desk, 1-30 Nov 2026",
        "Hot desk, 1-31 Dec 2026",
        "Office, 1-31 Dec 2026",
        "A",
        "B",
    ]


@pytest.mark.parametrize(
    ("mode", "status"), [(IssueMode.ISSUE, InvoiceStatus.AWAITING_PAYMENT), (IssueMode.DRAFT, InvoiceStatus.DRAFT)]
)
def test_issue_mode_decides_whether_invoices_are_issued_or_drafts(mode: IssueMode, status: InvoiceStatus) -> None:
    invoice = only(run(date(2026, 12, 1), [membership(date(2026, 12, 1))], issue_mode=mode))
    assert invoice.status is status
    assert invoice.issue_date == date(2026, 12, 1)


@pytest.mark.parametrize(
    ("due_days", "due_date"),
    [(14, date(2026, 12, 15)), (30, date(2026, 12, 31)), (31, date(2027, 1, 1)), (0, date(2026, 12, 1))],
)
def test_due_date_is_the_run_date_plus_due_days(due_days: int, due_date: date) -> None:
    """1 Dec 2026 + 14 days = 15 Dec; + 30 = 31 Dec; + 31 = 1 Jan 2027; + 0 = the run date itself."""
    invoice = only(run(date(2026, 12, 1), [membership(date(2026, 12, 1))], due_days=due_days))
    assert invoice.due_date == due_date


# --- tax on planned invoices --------------------------------------------------------------------------------------


def test_inclusive_prices_take_the_tax_out_of_the_membership_price() -> None:
    """Paris, prices include VAT 20%: 120.00 a month from 10 Nov 2026 -> 21/30 x 120.00 = 84.00 gross, tax 14.00,
    net 70.00; December 120.00 gross, tax 20.00, net 100.00."""
    invoice = only(run(date(2026, 12, 1), [membership(date(2026, 11, 10), location=PAR, price="120.00")]))
    assert [(p.tax.net, p.tax.tax, p.tax.gross) for p in invoice.lines] == [
        (D("70.00"), D("14.00"), D("84.00")),
        (D("100.00"), D("20.00"), D("120.00")),
    ]
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (D("170.00"), D("34.00"), D("204.00"))
    assert invoice.currency == "EUR"


def test_inclusive_price_with_half_a_cent_of_tax_rounds_half_up_on_the_invoice() -> None:
    """A fee of 60.03 including VAT 20%: tax 60.03/6 = 10.005 -> 10.01, net 50.02."""
    invoice = only(run(date(2026, 12, 1), fees=[fee(date(2026, 11, 30), location=PAR, unit_price="60.03")]))
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (D("50.02"), D("10.01"), D("60.03"))


def test_yen_memberships_are_billed_in_whole_yen() -> None:
    """Tokyo, 10000 JPY a month from 15 Dec 2026: 17 of 31 days; 10000 x 17/31 = 5483.870967... -> unit 5483.8710
    -> 5484 JPY; JCT 10% = 548.4 -> 548; total 6032."""
    m = membership(date(2026, 12, 15), location=TYO, price="10000", tax_rate=JCT10)
    invoice = only(run(date(2026, 12, 1), [m]))
    (line,) = lines(invoice)
    assert (line.unit_price, line.amount) == (D("5483.8710"), D("5484"))
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (D("5484"), D("548"), D("6032"))


def test_zero_rated_lines_carry_no_tax() -> None:
    invoice = only(run(date(2026, 12, 1), [membership(date(2026, 12, 1), tax_rate=ZERO_RATED)]))
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (D("300.00"), D("0.00"), D("300.00"))


@pytest.mark.parametrize(
    ("rounding", "tax_total", "line_taxes"),
    [
        (TaxRounding.PER_LINE, D("11.44"), [D("3.76"), D("3.84"), D("3.84")]),
        (TaxRounding.PER_DOCUMENT, D("11.45"), [D("3.76"), D("3.84"), D("3.85")]),
    ],
)
def test_the_rules_tax_rounding_is_applied_and_copied_onto_the_invoice(
    rounding: TaxRounding, tax_total: Decimal, line_taxes: list[Decimal]
) -> None:
    """Xero's example at GST 15%: 25.06, 25.61, 25.63 -> per line 3.76 + 3.84 + 3.84 = 11.44; per document
    76.30 x 15% = 11.445 -> 11.45."""
    fees = [
        fee(date(2026, 11, 10), name="a", unit_price="25.06", location=AKL, tax_rate=GST15),
        fee(date(2026, 11, 20), name="b", unit_price="25.61", location=AKL, tax_rate=GST15),
        fee(date(2026, 11, 30), name="c", unit_price="25.63", location=AKL, tax_rate=GST15),
    ]
    invoice = only(run(date(2026, 12, 1), fees=fees, tax_rounding=rounding))
    assert invoice.tax_rounding is rounding
    assert [p.tax.tax for p in invoice.lines] == line_taxes
    assert invoice.subtotal == D("76.30")
    assert invoice.tax_total == tax_total
    assert invoice.total == D("76.30") + tax_total


# --- properties ---------------------------------------------------------------------------------------------------

FIRST_RUN_MONTHS = st.integers(min_value=0, max_value=71)  # months after Jan 2025: 2025-2030, leap year 2028 inside


@st.composite
def membership_and_runs(draw: st.DrawFn) -> tuple[MembershipToBill, int, list[date]]:
    """A membership (any start, optional end, any plan interval and policy) and consecutive monthly runs."""
    billing_day = draw(st.integers(min_value=1, max_value=28))
    first_run = add_months(date(2025, 1, billing_day), draw(FIRST_RUN_MONTHS))
    start = first_run + timedelta(days=draw(st.integers(min_value=-150, max_value=120)))
    length = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=500)))
    m = membership(
        start,
        None if length is None else start + timedelta(days=length - 1),
        interval_months=draw(st.sampled_from([1, 2, 3, 6, 12])),
        proration=draw(st.sampled_from(list(Proration))),
    )
    runs = [add_months(first_run, k) for k in range(draw(st.integers(min_value=1, max_value=18)))]
    return m, billing_day, runs


def expected_billed_through(m: MembershipToBill, billing_day: int, last_run: date) -> date:
    """Where the coverage of ``m`` ends once every run up to ``last_run`` is done, from the rules alone."""
    anchor = grid_date_on_or_before(m.start, billing_day)
    horizon = add_months(last_run, 1)
    first = block_containing(m.start, anchor, m.interval_months)
    if first.start >= horizon:
        return m.start  # nothing has started within any run's period yet
    through = block_containing(max(m.start, horizon - timedelta(days=1)), anchor, m.interval_months).end
    if m.end_exclusive is not None:
        if m.proration is Proration.NONE:  # whole blocks: the block holding the last day is paid in full
            through = min(through, block_containing(m.end_exclusive - timedelta(days=1), anchor, m.interval_months).end)
        else:
            through = min(through, m.end_exclusive)
    partial = m.start > first.start
    continues = m.end_exclusive is None or m.end_exclusive > first.end
    if m.proration is Proration.SECOND_INVOICE and partial and continues and first.end >= horizon:
        return m.start  # held back: the next block is not billed yet
    return through


@settings(max_examples=400, derandomize=True, deadline=None)
@given(case=membership_and_runs())
def test_charges_over_consecutive_runs_are_contiguous_and_add_up_to_the_memberships_days(
    case: tuple[MembershipToBill, int, list[date]],
) -> None:
    """Run after run (each resuming at the coverage already billed), the charges never overlap, leave no gap, start
    on the membership's first day and end where the rules say; days active add up to the days covered, and each
    fraction is days active / days in its block (1 for "none")."""
    m, billing_day, runs = case
    charges = []
    for run_date in runs:
        new = membership_charges(m, run_date, billing_day)
        horizon = add_months(run_date, 1)
        for charge in new:
            assert charge.block.start < horizon
            assert charge.block.start <= charge.active.start < charge.active.end <= charge.block.end
            assert charge.coverage.start == charge.active.start
        charges += new
        if new:
            m = dataclasses.replace(m, billed_through=new[-1].coverage.end)

    cursor = m.start
    for charge in charges:
        assert charge.coverage.start == cursor  # contiguous, no overlap
        cursor = charge.coverage.end
        if m.proration is Proration.NONE:
            assert charge.fraction == 1
            assert charge.coverage.end == charge.block.end
        else:
            assert charge.coverage == charge.active
            assert charge.fraction == Fraction(charge.active.days, charge.block.days)
        if m.end_exclusive is not None:
            assert charge.active.end <= m.end_exclusive
    through = expected_billed_through(m, billing_day, runs[-1])
    assert cursor == through
    if m.proration is not Proration.NONE:
        assert sum(c.fraction * c.block.days for c in charges) == sum(c.active.days for c in charges)
        assert sum(c.active.days for c in charges) == (through - m.start).days


@settings(max_examples=300, derandomize=True, deadline=None)
@given(case=membership_and_runs())
def test_a_late_run_catches_up_exactly_what_runs_on_time_would_have_billed(
    case: tuple[MembershipToBill, int, list[date]],
) -> None:
    """Billing every month or only at the last of those runs (catch-up) gives the same charges, one per block."""
    m, billing_day, runs = case
    on_time = []
    current = m
    for run_date in runs:
        new = membership_charges(current, run_date, billing_day)
        on_time += new
        if new:
            current = dataclasses.replace(current, billed_through=new[-1].coverage.end)
    assert membership_charges(m, runs[-1], billing_day) == on_time


PRICES = st.decimals(min_value=0, max_value=5000, places=2, allow_nan=False, allow_infinity=False)


@st.composite
def bill_run_inputs(
    draw: st.DrawFn,
) -> tuple[date, BillingRules, list[MembershipToBill], list[FeeToBill]]:
    rules = BillingRules(
        billing_day=draw(st.integers(min_value=1, max_value=28)),
        due_days=draw(st.integers(min_value=0, max_value=60)),
        grouping=draw(st.sampled_from(list(Grouping))),
        issue_mode=draw(st.sampled_from(list(IssueMode))),
        tax_rounding=draw(st.sampled_from(list(TaxRounding))),
    )
    run_date = add_months(date(2025, 1, rules.billing_day), draw(FIRST_RUN_MONTHS))
    customers = [ACME, GLOBEX, uid("Initech")]
    locations = [LON, PAR, TYO]
    memberships = []
    for index in range(draw(st.integers(min_value=0, max_value=6))):
        location = draw(st.sampled_from(locations))
        start = run_date + timedelta(days=draw(st.integers(min_value=-200, max_value=45)))
        length = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=400)))
        discount = draw(st.sampled_from([None, DiscountType.PERCENT, DiscountType.AMOUNT]))
        discount_value = None
        if discount is DiscountType.PERCENT:
            discount_value = str(draw(st.decimals(min_value=0, max_value=100, places=2)))
        elif discount is DiscountType.AMOUNT:
            discount_value = str(draw(PRICES))
        price = draw(PRICES)
        memberships.append(
            membership(
                start,
                None if length is None else start + timedelta(days=length - 1),
                name=f"m{index}",
                customer=draw(st.sampled_from(customers)),
                location=location,
                price=str(price.quantize(D(1)) if location.currency == "JPY" else price),
                quantity=str(draw(st.integers(min_value=1, max_value=20))),
                interval_months=draw(st.sampled_from([1, 3, 12])),
                proration=draw(st.sampled_from(list(Proration))),
                discount_type=discount,
                discount_value=discount_value,
                tax_rate=draw(st.sampled_from([VAT20, GST15, ZERO_RATED])),
            )
        )
    fees = []
    for index in range(draw(st.integers(min_value=0, max_value=6))):
        location = draw(st.sampled_from(locations))
        unit_price = draw(st.decimals(min_value=-200, max_value=2000, places=4))
        fees.append(
            fee(
                run_date + timedelta(days=draw(st.integers(min_value=-90, max_value=20))),
                name=f"f{index}",
                customer=draw(st.sampled_from(customers)),
                location=location,
                quantity=str(draw(st.decimals(min_value="0.5", max_value=10, places=1))),
                unit_price=str(unit_price),
                tax_rate=draw(st.sampled_from([VAT20, GST15, ZERO_RATED])),
            )
        )
    return run_date, rules, memberships, fees


@settings(max_examples=300, derandomize=True, deadline=None)
@given(inputs=bill_run_inputs())
def test_billing_twice_equals_billing_once(
    inputs: tuple[date, BillingRules, list[MembershipToBill], list[FeeToBill]],
) -> None:
    """Running the planner again on its own output's coverage (memberships billed through the end of their last
    coverage, billed fees gone) plans nothing more; and every fee dated before the run is billed exactly once."""
    run_date, rules, memberships, fees = inputs
    invoices = plan_bill_run(run_date, rules, LOCATIONS, memberships, fees)
    billed_fee_ids = [line.fee_id for inv in invoices for line in lines(inv) if line.fee_id is not None]
    assert sorted(billed_fee_ids) == sorted(f.id for f in fees if f.date < run_date)
    again = plan_bill_run(
        run_date,
        rules,
        LOCATIONS,
        [billed(m, invoices) for m in memberships],
        [f for f in fees if f.id not in billed_fee_ids],
    )
    assert again == []
    # the plan is deterministic: the same input gives the same invoices in the same order
    assert plan_bill_run(run_date, rules, LOCATIONS, memberships, fees) == invoices


@settings(max_examples=300, derandomize=True, deadline=None)
@given(inputs=bill_run_inputs())
def test_every_planned_invoices_totals_are_the_sums_of_its_lines(
    inputs: tuple[date, BillingRules, list[MembershipToBill], list[FeeToBill]],
) -> None:
    """subtotal = sum of net, tax_total = sum of tax, total = sum of gross; net + tax = gross on each line; every
    amount in whole minor units of the invoice's currency; one customer, location and run date per invoice."""
    run_date, rules, memberships, fees = inputs
    owners = {m.id: (m.customer_id, m.location_id) for m in memberships} | {
        f.id: (f.customer_id, f.location_id) for f in fees
    }
    invoices = plan_bill_run(run_date, rules, LOCATIONS, memberships, fees)
    keys = set()
    for invoice in invoices:
        currency = invoice.currency
        assert invoice.lines
        assert invoice.subtotal == sum((p.tax.net for p in invoice.lines), ZERO)
        assert invoice.tax_total == sum((p.tax.tax for p in invoice.lines), ZERO)
        assert invoice.total == sum((p.tax.gross for p in invoice.lines), ZERO)
        assert invoice.subtotal + invoice.tax_total == invoice.total
        assert invoice.issue_date == run_date
        assert invoice.due_date == run_date + timedelta(days=rules.due_days)
        assert invoice.status is (
            InvoiceStatus.DRAFT if rules.issue_mode is IssueMode.DRAFT else InvoiceStatus.AWAITING_PAYMENT
        )
        assert invoice.tax_rounding is rules.tax_rounding
        kinds = {p.line.kind for p in invoice.lines}
        if rules.grouping is Grouping.SEPARATE:
            assert len(kinds) == 1
        key = (
            invoice.customer_id,
            invoice.location.id,
            *(sorted(kinds) if rules.grouping is Grouping.SEPARATE else []),
        )
        assert key not in keys  # one invoice per customer and location (and kind, when separate) per run
        keys.add(key)
        for priced in invoice.lines:
            line, tax = priced.line, priced.tax
            assert tax.net + tax.tax == tax.gross
            for amount in (line.amount, tax.net, tax.tax, tax.gross):
                assert amount == round_money(amount, currency)
            assert (tax.gross if invoice.location.prices_include_tax else tax.net) == line.amount
            owner = owners[line.membership_id or line.fee_id]  # type: ignore[index]
            assert owner == (invoice.customer_id, invoice.location.id)
            if line.kind is LineKind.MEMBERSHIP:
                assert line.amount >= 0
                assert line.discount_amount >= 0
                assert line.amount + line.discount_amount == round_money(line.quantity * line.unit_price, currency)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    start_offset=st.integers(min_value=0, max_value=27),
    price=PRICES,
    value=PRICES,
    interval=st.sampled_from([1, 3]),
)
def test_an_amount_discount_takes_off_its_prorated_share_but_never_more_than_the_line(
    start_offset: int, price: Decimal, value: Decimal, interval: int
) -> None:
    m = membership(
        date(2027, 2, 1) + timedelta(days=start_offset),
        price=str(price),
        interval_months=interval,
        discount_type=DiscountType.AMOUNT,
        discount_value=str(value),
    )
    (charge,) = membership_charges(m, date(2027, 2, 1), 1)
    line = membership_line(m, charge, "GBP")
    before = round_money(line.quantity * line.unit_price, "GBP")
    share = round_money(value * charge.fraction.numerator / charge.fraction.denominator, "GBP")
    assert line.amount == max(ZERO, before - share)
    assert line.amount >= 0
    assert line.discount_amount == min(before, share)
