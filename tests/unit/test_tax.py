"""Tax on lines (exclusive and inclusive prices, per_line and per_document rounding, rates of several components),
the tax breakdown by component, invoice number templates and the status after settlement."""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flexbill.invoicing.model import (
    InvoiceStatus,
    LineTax,
    TaxBreakdownRow,
    TaxComponent,
    TaxRate,
    TaxRounding,
    component_taxes,
    render_number,
    status_after_settlement,
    tax_breakdown,
    tax_lines,
    tax_on_amount,
    validate_number_template,
)
from flexbill.money import ZERO, quantum, round_money

D = Decimal


def rate(code: str, *components: tuple[str, str]) -> TaxRate:
    return TaxRate(
        id=uuid.uuid5(uuid.NAMESPACE_DNS, code),
        code=code,
        name=code,
        components=tuple(TaxComponent(name, D(percent)) for name, percent in components),
    )


VAT20 = rate("VAT20", ("VAT", "20"))
VAT5 = rate("VAT5", ("VAT", "5"))
GST15 = rate("GST15", ("GST", "15"))
JCT10 = rate("JCT10", ("JCT", "10"))
GST_QST = rate("GST+QST", ("GST", "5"), ("QST", "9.975"))
ZERO_RATED = rate("ZERO", ("VAT", "0"))
NO_COMPONENTS = rate("EXEMPT")


# --- one line ---------------------------------------------------------------------------------------------------


def test_exclusive_price_adds_tax_on_top() -> None:
    """100.00 net at 20% -> tax 20.00, gross 120.00."""
    assert tax_on_amount(D("100.00"), D("20"), inclusive=False, currency="GBP") == LineTax(
        D("100.00"), D("20.00"), D("120.00")
    )


def test_exclusive_price_with_half_a_cent_of_tax_rounds_up() -> None:
    """21.65 x 10% = 2.165 -> 2.17 (half-up; half-even would give 2.16); gross 21.65 + 2.17 = 23.82."""
    assert tax_on_amount(D("21.65"), D("10"), inclusive=False, currency="GBP") == LineTax(
        D("21.65"), D("2.17"), D("23.82")
    )


def test_inclusive_price_takes_the_tax_out_of_the_gross() -> None:
    """120.00 gross at 20%: tax = 120 x 20/120 = 20.00, net 100.00."""
    assert tax_on_amount(D("120.00"), D("20"), inclusive=True, currency="GBP") == LineTax(
        D("100.00"), D("20.00"), D("120.00")
    )


def test_inclusive_price_at_15_percent() -> None:
    """10.00 gross at 15%: tax = 10 x 15/115 = 1.3043... -> 1.30, net 8.70."""
    assert tax_on_amount(D("10.00"), D("15"), inclusive=True, currency="NZD") == LineTax(
        D("8.70"), D("1.30"), D("10.00")
    )


def test_inclusive_price_whose_tax_has_exactly_half_a_cent_rounds_up() -> None:
    """60.03 gross at 20%: tax = 60.03 x 20/120 = 60.03 / 6 = 10.005 exactly -> 10.01 half-up (half-even would
    give 10.00); net = 60.03 - 10.01 = 50.02."""
    assert D("60.03") * D(20) / D(120) == D("10.005")
    assert tax_on_amount(D("60.03"), D("20"), inclusive=True, currency="GBP") == LineTax(
        D("50.02"), D("10.01"), D("60.03")
    )


def test_inclusive_half_cent_on_a_credit_rounds_away_from_zero() -> None:
    """-60.03 gross at 20%: tax -10.005 -> -10.01, so a credit mirrors the invoice it corrects."""
    assert tax_on_amount(D("-60.03"), D("20"), inclusive=True, currency="GBP") == LineTax(
        D("-50.02"), D("-10.01"), D("-60.03")
    )


def test_zero_rated_line_carries_zero_tax() -> None:
    lines = tax_lines(
        [(D("99.99"), ZERO_RATED), (D("10.00"), NO_COMPONENTS)],
        inclusive=False,
        rounding=TaxRounding.PER_LINE,
        currency="GBP",
    )
    assert lines == [LineTax(D("99.99"), D("0.00"), D("99.99")), LineTax(D("10.00"), D("0.00"), D("10.00"))]
    inclusive = tax_lines([(D("99.99"), ZERO_RATED)], inclusive=True, rounding=TaxRounding.PER_LINE, currency="GBP")
    assert inclusive == [LineTax(D("99.99"), D("0.00"), D("99.99"))]


def test_rate_of_a_multi_component_tax_is_the_sum_of_its_components() -> None:
    assert GST_QST.rate == D("14.975")
    assert NO_COMPONENTS.rate == 0


# --- rates of several components ----------------------------------------------------------------------------------


def test_a_multi_component_line_is_taxed_component_by_component_not_at_the_combined_rate() -> None:
    """10.10 exclusive at GST 5% + QST 9.975%: GST 10.10 x 5% = 0.505 -> 0.51, QST 10.10 x 9.975% = 1.007475 -> 1.01,
    so the line's tax is 0.51 + 1.01 = 1.52 and its gross 11.62. (At the combined 14.975% it would be 1.512475 ->
    1.51: each component rounded on its own gives a cent more here.)"""
    assert D("10.10") * GST_QST.rate / 100 == D("1.512475")
    taxes = component_taxes([(D("10.10"), GST_QST)], inclusive=False, rounding=TaxRounding.PER_LINE, currency="CAD")
    assert taxes == [(D("0.51"), D("1.01"))]
    lines = tax_lines([(D("10.10"), GST_QST)], inclusive=False, rounding=TaxRounding.PER_LINE, currency="CAD")
    assert lines == [LineTax(D("10.10"), D("1.52"), D("11.62"))]


def test_an_inclusive_multi_component_line_taxes_each_component_on_the_exact_net() -> None:
    """20.00 gross at GST 5% + QST 9.975%: exact net 20.00 x 100 / 114.975 = 17.395085...; GST 17.395085... x 5% =
    0.869754... -> 0.87, QST 17.395085... x 9.975% = 1.735159... -> 1.74; tax 0.87 + 1.74 = 2.61, net 20.00 - 2.61 =
    17.39. (At the combined rate it would be 20.00 x 14.975 / 114.975 = 2.6049... -> 2.60.)"""
    taxes = component_taxes([(D("20.00"), GST_QST)], inclusive=True, rounding=TaxRounding.PER_LINE, currency="CAD")
    assert taxes == [(D("0.87"), D("1.74"))]
    lines = tax_lines([(D("20.00"), GST_QST)], inclusive=True, rounding=TaxRounding.PER_LINE, currency="CAD")
    assert lines == [LineTax(D("17.39"), D("2.61"), D("20.00"))]
    assert tax_on_amount(D("20.00"), GST_QST.rate, inclusive=True, currency="CAD").tax == D("2.60")


def test_per_document_rounds_each_component_of_a_rate_on_its_own() -> None:
    """Three lines of 10.10 at GST 5% + QST 9.975%. Per line each is 0.51 + 1.01 = 1.52, 4.56 in all. Per document:
    GST 3 x 0.505 = 1.515 -> 1.52, floors 0.50 x 3 = 1.50, the 2 cents left to the first two lines (equal
    remainders, ties to the earliest): 0.51, 0.51, 0.50; QST 3 x 1.007475 = 3.022425 -> 3.02, floors 1.00 x 3, the
    2 cents to the first two lines: 1.01, 1.01, 1.00. Line taxes 1.52, 1.52, 1.50, 4.54 in all."""
    amounts = [(D("10.10"), GST_QST)] * 3
    taxes = component_taxes(amounts, inclusive=False, rounding=TaxRounding.PER_DOCUMENT, currency="CAD")
    assert taxes == [(D("0.51"), D("1.01")), (D("0.51"), D("1.01")), (D("0.50"), D("1.00"))]
    lines = tax_lines(amounts, inclusive=False, rounding=TaxRounding.PER_DOCUMENT, currency="CAD")
    assert [t.tax for t in lines] == [D("1.52"), D("1.52"), D("1.50")]
    per_line = tax_lines(amounts, inclusive=False, rounding=TaxRounding.PER_LINE, currency="CAD")
    assert [t.tax for t in per_line] == [D("1.52")] * 3


# --- JPY --------------------------------------------------------------------------------------------------------


def test_yen_tax_is_rounded_to_whole_yen() -> None:
    """1234 x 10% = 123.4 -> 123; 1235 x 10% = 123.5 -> 124 (half-up); 1100 inclusive at 10% -> tax 100, net 1000."""
    assert tax_on_amount(D("1234"), D("10"), inclusive=False, currency="JPY") == LineTax(D("1234"), D("123"), D("1357"))
    assert tax_on_amount(D("1235"), D("10"), inclusive=False, currency="JPY") == LineTax(D("1235"), D("124"), D("1359"))
    assert tax_on_amount(D("1100"), D("10"), inclusive=True, currency="JPY") == LineTax(D("1000"), D("100"), D("1100"))


def test_yen_per_document_shares_whole_yen() -> None:
    """Three lines of 105 at 10%: per line 10.5 -> 11 each, 33; per document 3 x 10.5 = 31.5 -> 32, each line's
    10.5 rounded down to 10 (30), and the 2 yen left go to the first two lines (equal remainders, ties to the
    earliest): 11, 11, 10."""
    amounts = [(D("105"), JCT10)] * 3
    per_line = tax_lines(amounts, inclusive=False, rounding=TaxRounding.PER_LINE, currency="JPY")
    per_document = tax_lines(amounts, inclusive=False, rounding=TaxRounding.PER_DOCUMENT, currency="JPY")
    assert [t.tax for t in per_line] == [D("11"), D("11"), D("11")]
    assert [t.tax for t in per_document] == [D("11"), D("11"), D("10")]


def test_tax_lines_refuse_amounts_not_rounded_to_the_currency() -> None:
    with pytest.raises(ValueError, match="not rounded"):
        tax_lines([(D("10.5"), JCT10)], inclusive=False, rounding=TaxRounding.PER_LINE, currency="JPY")
    with pytest.raises(ValueError, match="not rounded"):
        tax_lines([(D("10.005"), VAT20)], inclusive=False, rounding=TaxRounding.PER_DOCUMENT, currency="GBP")


# --- per_line against per_document -------------------------------------------------------------------------------

XERO_LINES = [(D("25.06"), GST15), (D("25.61"), GST15), (D("25.63"), GST15)]


def test_per_line_rounding_rounds_each_lines_tax_the_xero_example() -> None:
    """At 15%: 25.06 -> 3.759 -> 3.76; 25.61 -> 3.8415 -> 3.84; 25.63 -> 3.8445 -> 3.84; total 11.44."""
    lines = tax_lines(XERO_LINES, inclusive=False, rounding=TaxRounding.PER_LINE, currency="NZD")
    assert [t.tax for t in lines] == [D("3.76"), D("3.84"), D("3.84")]
    assert sum(t.tax for t in lines) == D("11.44")
    assert [t.gross for t in lines] == [D("28.82"), D("29.45"), D("29.47")]


def test_per_document_rounding_rounds_the_sum_once_the_xero_example() -> None:
    """The exact taxes 3.759 + 3.8415 + 3.8445 = 11.445 -> 11.45, a cent more than per line. Shared back: each
    rounded down, 3.75 + 3.84 + 3.84 = 11.43, and the 2 cents left go to the largest remainders, the first line
    (0.009) and the third (0.0045), not the second (0.0015): 3.76, 3.84, 3.85."""
    lines = tax_lines(XERO_LINES, inclusive=False, rounding=TaxRounding.PER_DOCUMENT, currency="NZD")
    assert [t.tax for t in lines] == [D("3.76"), D("3.84"), D("3.85")]
    assert sum(t.tax for t in lines) == D("11.45")
    assert [t.net for t in lines] == [D("25.06"), D("25.61"), D("25.63")]
    assert [t.gross for t in lines] == [D("28.82"), D("29.45"), D("29.48")]


def test_per_document_with_inclusive_prices_differs_from_per_line() -> None:
    """Three lines of 0.03 gross at 20%: each line's exact tax is 0.03 x 100 / 120 x 20% = 0.005. Per line each
    rounds to 0.01, 0.03 in all; per document 3 x 0.005 = 0.015 -> 0.02, each 0.005 rounded down to 0.00 and the
    2 cents left to the first two lines (equal remainders, ties to the earliest): 0.01, 0.01, 0.00; nets 0.02,
    0.02, 0.03."""
    amounts = [(D("0.03"), VAT20)] * 3
    per_line = tax_lines(amounts, inclusive=True, rounding=TaxRounding.PER_LINE, currency="GBP")
    per_document = tax_lines(amounts, inclusive=True, rounding=TaxRounding.PER_DOCUMENT, currency="GBP")
    assert per_line == [LineTax(D("0.02"), D("0.01"), D("0.03"))] * 3
    assert per_document == [
        LineTax(D("0.02"), D("0.01"), D("0.03")),
        LineTax(D("0.02"), D("0.01"), D("0.03")),
        LineTax(D("0.03"), D("0.00"), D("0.03")),
    ]


def test_per_document_rounds_each_rate_on_its_own_and_keeps_the_line_order() -> None:
    """20% lines 0.03, 0.03, 0.03 interleaved with a 5% line of 10.10: per document the 20% lines' exact taxes
    are 0.006 each, 0.018 -> 0.02, shared 0.01, 0.01, 0.00 over them in their order (per line it would be
    3 x 0.01); the 5% line is 10.10 x 5% = 0.505 -> 0.51 either way."""
    amounts = [(D("0.03"), VAT20), (D("10.10"), VAT5), (D("0.03"), VAT20), (D("0.03"), VAT20)]
    per_document = tax_lines(amounts, inclusive=False, rounding=TaxRounding.PER_DOCUMENT, currency="GBP")
    assert [t.tax for t in per_document] == [D("0.01"), D("0.51"), D("0.01"), D("0.00")]
    assert [t.net for t in per_document] == [D("0.03"), D("10.10"), D("0.03"), D("0.03")]
    per_line = tax_lines(amounts, inclusive=False, rounding=TaxRounding.PER_LINE, currency="GBP")
    assert [t.tax for t in per_line] == [D("0.01"), D("0.51"), D("0.01"), D("0.01")]


def test_per_document_groups_lines_by_tax_rate_not_by_percentage() -> None:
    """Two rates of 20% under different codes, one line of 0.03 each: each rate is its own group, 0.006 -> 0.01
    apiece, 0.02 in all (one group of both lines would have been 0.012 -> 0.01)."""
    other = rate("VAT20-B", ("VAT", "20"))
    amounts = [(D("0.03"), VAT20), (D("0.03"), other)]
    lines = tax_lines(amounts, inclusive=False, rounding=TaxRounding.PER_DOCUMENT, currency="GBP")
    assert [t.tax for t in lines] == [D("0.01"), D("0.01")]


def test_per_document_inclusive_sum_on_exactly_half_a_cent_rounds_up() -> None:
    """27.79 and 10.22 gross at 20%: exact taxes 27.79 / 6 = 4.631666... and 10.22 / 6 = 1.703333..., summing to
    38.01 / 6 = 6.335 exactly -> 6.34 half-up. Shared back: 4.63 + 1.70 = 6.33, the cent left to the larger
    remainder (0.003333... against 0.001666...): 4.63 and 1.71."""
    assert Fraction("27.79") / 6 + Fraction("10.22") / 6 == Fraction("6.335")
    amounts = [(D("27.79"), VAT20), (D("10.22"), VAT20)]
    lines = tax_lines(amounts, inclusive=True, rounding=TaxRounding.PER_DOCUMENT, currency="GBP")
    assert [t.tax for t in lines] == [D("4.63"), D("1.71")]


def test_per_document_with_a_credit_line_still_sums_to_the_tax_of_the_total() -> None:
    """100.00 and -30.00 at 20%: the exact taxes 20.00 and -6.00 sum to 14.00 = 70.00 x 20%, and each line keeps
    its own exact tax: 20.00 and -6.00."""
    lines = tax_lines(
        [(D("100.00"), VAT20), (D("-30.00"), VAT20)],
        inclusive=False,
        rounding=TaxRounding.PER_DOCUMENT,
        currency="GBP",
    )
    assert [t.tax for t in lines] == [D("20.00"), D("-6.00")]
    assert [t.gross for t in lines] == [D("120.00"), D("-36.00")]


# --- breakdown by component ---------------------------------------------------------------------------------------


def test_breakdown_of_gst_and_qst_shows_each_components_own_tax() -> None:
    """100.00 at GST 5% + QST 9.975%: GST 5.00, QST 9.975 -> 9.98, each on the taxable 100.00; the line's tax is
    5.00 + 9.98 = 14.98, and the rows add up to it."""
    amounts = [(D("100.00"), GST_QST)]
    [line] = tax_lines(amounts, inclusive=False, rounding=TaxRounding.PER_LINE, currency="CAD")
    assert line.tax == D("14.98")
    rows = tax_breakdown(amounts, inclusive=False, rounding=TaxRounding.PER_LINE, currency="CAD")
    assert rows == [
        TaxBreakdownRow("GST+QST", "GST", D("5"), D("100.00"), D("5.00")),
        TaxBreakdownRow("GST+QST", "QST", D("9.975"), D("100.00"), D("9.98")),
    ]
    assert sum(r.tax_amount for r in rows) == line.tax


def test_breakdown_rows_are_the_components_rounded_alone_and_add_up_to_the_line() -> None:
    """10.10 at GST 5% + QST 9.975%: GST 0.505 -> 0.51, QST 1.007475 -> 1.01, and the line's tax is their sum,
    1.52, so the rows add up to it (the combined 14.975% would have given 1.51, split after the fact into 0.50
    and 1.01)."""
    amounts = [(D("10.10"), GST_QST)]
    [line] = tax_lines(amounts, inclusive=False, rounding=TaxRounding.PER_LINE, currency="CAD")
    assert line.tax == D("1.52")
    rows = tax_breakdown(amounts, inclusive=False, rounding=TaxRounding.PER_LINE, currency="CAD")
    assert [(r.component, r.tax_amount) for r in rows] == [("GST", D("0.51")), ("QST", D("1.01"))]
    assert sum(r.tax_amount for r in rows) == line.tax


def test_breakdown_groups_lines_by_rate_sorted_by_code_and_sums_to_the_invoice_tax() -> None:
    """VAT20 on 100.00 and 50.00: 20.00 + 10.00 = 30.00 on 150.00; GST+QST on 10.10: 0.51 and 1.01; ZERO on 7.00:
    0.00. In all 30.00 + 0.51 + 1.01 + 0.00 = 31.52, the invoice's tax."""
    amounts = [(D("100.00"), VAT20), (D("10.10"), GST_QST), (D("50.00"), VAT20), (D("7.00"), ZERO_RATED)]
    lines = tax_lines(amounts, inclusive=False, rounding=TaxRounding.PER_LINE, currency="CAD")
    rows = tax_breakdown(amounts, inclusive=False, rounding=TaxRounding.PER_LINE, currency="CAD")
    assert [(r.tax_rate_code, r.component, r.taxable_amount, r.tax_amount) for r in rows] == [
        ("GST+QST", "GST", D("10.10"), D("0.51")),
        ("GST+QST", "QST", D("10.10"), D("1.01")),
        ("VAT20", "VAT", D("150.00"), D("30.00")),
        ("ZERO", "VAT", D("7.00"), D("0.00")),
    ]
    assert sum(r.tax_amount for r in rows) == sum(t.tax for t in lines) == D("31.52")


def test_breakdown_of_per_document_lines_sums_each_components_shares() -> None:
    """The three 10.10 lines at GST+QST of the per_document test above: GST 0.51 + 0.51 + 0.50 = 1.52 and QST
    1.01 + 1.01 + 1.00 = 3.02, each on 30.30; together 4.54, the lines' tax."""
    amounts = [(D("10.10"), GST_QST)] * 3
    rows = tax_breakdown(amounts, inclusive=False, rounding=TaxRounding.PER_DOCUMENT, currency="CAD")
    assert [(r.component, r.taxable_amount, r.tax_amount) for r in rows] == [
        ("GST", D("30.30"), D("1.52")),
        ("QST", D("30.30"), D("3.02")),
    ]
    lines = tax_lines(amounts, inclusive=False, rounding=TaxRounding.PER_DOCUMENT, currency="CAD")
    assert sum(r.tax_amount for r in rows) == sum(t.tax for t in lines) == D("4.54")


def test_breakdown_of_a_rate_without_components_has_no_row() -> None:
    """A rate with no components taxes its lines 0.00 and prints no row; the other rates' rows are unchanged."""
    amounts = [(D("10.00"), NO_COMPONENTS)]
    assert tax_lines(amounts, inclusive=False, rounding=TaxRounding.PER_LINE, currency="GBP") == [
        LineTax(D("10.00"), D("0.00"), D("10.00"))
    ]
    assert tax_breakdown(amounts, inclusive=False, rounding=TaxRounding.PER_LINE, currency="GBP") == []
    mixed = [(D("10.00"), NO_COMPONENTS), (D("50.00"), VAT20)]
    assert tax_breakdown(mixed, inclusive=False, rounding=TaxRounding.PER_LINE, currency="GBP") == [
        TaxBreakdownRow("VAT20", "VAT", D("20"), D("50.00"), D("10.00"))
    ]


def test_breakdown_of_inclusive_lines_reports_the_net_as_taxable() -> None:
    """60.03 gross at 20%: exact net 50.025, tax 10.005 -> 10.01, net 60.03 - 10.01 = 50.02."""
    amounts = [(D("60.03"), VAT20)]
    assert tax_breakdown(amounts, inclusive=True, rounding=TaxRounding.PER_LINE, currency="GBP") == [
        TaxBreakdownRow("VAT20", "VAT", D("20"), D("50.02"), D("10.01"))
    ]


# --- tax properties -------------------------------------------------------------------------------------------------

RATES = st.sampled_from([VAT20, VAT5, GST15, GST_QST, ZERO_RATED, rate("MWST", ("MWST", "7.7"))])
CURRENCY_AMOUNTS = st.sampled_from(["GBP", "JPY"]).flatmap(
    lambda currency: st.tuples(
        st.just(currency),
        st.lists(
            st.tuples(
                st.integers(min_value=0, max_value=10**7).map(
                    lambda units, c=currency: units * (D("0.01") if c == "GBP" else D(1))
                ),
                RATES,
            ),
            min_size=1,
            max_size=10,
        ),
    )
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(case=CURRENCY_AMOUNTS, inclusive=st.booleans(), rounding=st.sampled_from(list(TaxRounding)))
def test_every_line_has_net_plus_tax_equal_gross_in_the_price_basis(
    case: tuple[str, list[tuple[Decimal, TaxRate]]], inclusive: bool, rounding: TaxRounding
) -> None:
    currency, amounts = case
    lines = tax_lines(amounts, inclusive=inclusive, rounding=rounding, currency=currency)
    assert len(lines) == len(amounts)
    for (amount, _), line in zip(amounts, lines, strict=True):
        assert line.net + line.tax == line.gross
        assert line.tax == round_money(line.tax, currency)
        assert (line.gross if inclusive else line.net) == amount


def exact_component_taxes(amount: Decimal, tax_rate: TaxRate, *, inclusive: bool) -> list[Fraction]:
    """Each component's tax on a line, as an exact fraction: on the amount, or on the exact net of an inclusive
    amount (amount x 100 / (100 + the rate))."""
    base = Fraction(amount) * 100 / (100 + Fraction(tax_rate.rate)) if inclusive else Fraction(amount)
    return [base * Fraction(component.rate) / 100 for component in tax_rate.components]


def round_half_up(value: Fraction, currency: str) -> Decimal:
    """An exact fraction rounded half up (away from zero) to the currency's minor unit."""
    unit = Fraction(quantum(currency))
    units = math.floor(abs(value) / unit + Fraction(1, 2))
    return (units if value >= 0 else -units) * quantum(currency)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(case=CURRENCY_AMOUNTS, inclusive=st.booleans())
def test_per_document_tax_of_each_rate_and_component_is_the_rounded_sum_of_the_lines_exact_taxes(
    case: tuple[str, list[tuple[Decimal, TaxRate]]], inclusive: bool
) -> None:
    currency, amounts = case
    unit = quantum(currency)
    per_document = component_taxes(amounts, inclusive=inclusive, rounding=TaxRounding.PER_DOCUMENT, currency=currency)
    per_line = component_taxes(amounts, inclusive=inclusive, rounding=TaxRounding.PER_LINE, currency=currency)
    exact_sums: dict[tuple[str, int], Fraction] = defaultdict(Fraction)
    taxes: dict[tuple[str, int], Decimal] = defaultdict(lambda: ZERO)
    taxes_alone: dict[tuple[str, int], Decimal] = defaultdict(lambda: ZERO)
    counts: dict[tuple[str, int], int] = defaultdict(int)
    for (amount, tax_rate), shared, alone in zip(amounts, per_document, per_line, strict=True):
        exact = exact_component_taxes(amount, tax_rate, inclusive=inclusive)
        assert len(shared) == len(alone) == len(exact) == len(tax_rate.components)
        for position, (tax, tax_alone, exact_tax) in enumerate(zip(shared, alone, exact, strict=True)):
            # each line's tax is its exact tax rounded down or up to the minor unit: within one unit of it
            assert tax == round_money(tax, currency)
            assert abs(Fraction(tax) - exact_tax) < Fraction(unit)
            assert tax_alone == round_half_up(exact_tax, currency)
            key = (tax_rate.code, position)
            exact_sums[key] += exact_tax
            taxes[key] += tax
            taxes_alone[key] += tax_alone
            counts[key] += 1
    for key, exact_sum in exact_sums.items():
        # the lines' taxes add up to the exact sum of their taxes, rounded once
        expected = round_half_up(exact_sum, currency)
        assert taxes[key] == expected
        # per line and per document differ by at most half a minor unit per line, plus half a unit
        assert abs(taxes[key] - taxes_alone[key]) <= unit * counts[key] / 2 + unit / 2
    lines = tax_lines(amounts, inclusive=inclusive, rounding=TaxRounding.PER_DOCUMENT, currency=currency)
    assert [line.tax for line in lines] == [sum(taxes, ZERO) for taxes in per_document]


@settings(max_examples=200, derandomize=True, deadline=None)
@given(case=CURRENCY_AMOUNTS, inclusive=st.booleans(), rounding=st.sampled_from(list(TaxRounding)))
def test_breakdown_rows_add_up_to_the_tax_total(
    case: tuple[str, list[tuple[Decimal, TaxRate]]], inclusive: bool, rounding: TaxRounding
) -> None:
    currency, amounts = case
    lines = tax_lines(amounts, inclusive=inclusive, rounding=rounding, currency=currency)
    taxes = component_taxes(amounts, inclusive=inclusive, rounding=rounding, currency=currency)
    rows = tax_breakdown(amounts, inclusive=inclusive, rounding=rounding, currency=currency)
    assert sum(row.tax_amount for row in rows) == sum(line.tax for line in lines)
    rates = {tax_rate.code: tax_rate for _, tax_rate in amounts}
    nets: dict[str, Decimal] = defaultdict(lambda: ZERO)
    sums: dict[tuple[str, int], Decimal] = defaultdict(lambda: ZERO)
    for (_, tax_rate), line, components in zip(amounts, lines, taxes, strict=True):
        nets[tax_rate.code] += line.net
        for position, tax in enumerate(components):
            sums[(tax_rate.code, position)] += tax
    # one row per rate (by code) and component (in the rate's order): the net of the rate's lines, and the sum of
    # that component's taxes over them
    assert rows == [
        TaxBreakdownRow(code, component.name, component.rate, nets[code], sums[(code, position)])
        for code in sorted(rates)
        for position, component in enumerate(rates[code].components)
    ]


# --- invoice numbers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "number", "expected"),
    [
        ("INV-{location_code}-{number:05}", 42, "INV-LON-00042"),
        ("{number}", 7, "7"),
        ("{location_code}/{year}/{month}/{number:04}", 12, "LON/2027/03/0012"),
        ("INV{year}{month}-{number:03}", 12345, "INV202703-12345"),  # padding never truncates
        ("{number:010}", 1, "0000000001"),
    ],
)
def test_valid_templates_pass_validation_and_render_number_fills_their_tokens(
    template: str, number: int, expected: str
) -> None:
    validate_number_template(template)
    assert render_number(template, number, location_code="LON", issue_date=date(2027, 3, 9)) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("INV-0001", "must contain {number}"),
        ("INV-{location_code}", "must contain {number}"),
        ("INV-{year}-{numbr}", "must contain {number}"),
        ("INV-{number}-{day}", "may only use"),
        ("INV-{number}-{LOCATION_CODE}", "may only use"),
        ("INV-{number}}", "may only use"),
        ("INV-{{number}", "may only use"),
        ("INV-{number} {", "may only use"),
        ("INV-{number:5}-{number}", "may only use"),
        ("{number}-{number}", "exactly once"),
        ("{number:05}{number:03}", "exactly once"),
    ],
)
def test_validate_number_template_rejects_bad_templates(template: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_number_template(template)


# --- status ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settled", "status"),
    [
        ("0.00", InvoiceStatus.AWAITING_PAYMENT),
        ("0.01", InvoiceStatus.PARTIALLY_PAID),
        ("119.99", InvoiceStatus.PARTIALLY_PAID),
        ("120.00", InvoiceStatus.PAID),
    ],
)
def test_status_after_settlement(settled: str, status: InvoiceStatus) -> None:
    assert status_after_settlement(D("120.00"), D(settled)) is status
