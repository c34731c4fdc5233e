"""Money: Decimal amounts with a currency, half-up rounding to the minor unit, largest-remainder splits."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flexbill.money import Money, allocate, format_amount, minor_unit, quantum, round_money, to_decimal

D = Decimal


# --- minor units and rounding ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "places", "unit"),
    [("GBP", 2, D("0.01")), ("EUR", 2, D("0.01")), ("JPY", 0, D("1")), ("jpy", 0, D("1")), ("BHD", 3, D("0.001"))],
)
def test_minor_unit_follows_iso_4217_and_defaults_to_cents(currency: str, places: int, unit: Decimal) -> None:
    assert minor_unit(currency) == places
    assert quantum(currency) == unit


@pytest.mark.parametrize(
    ("amount", "currency", "rounded"),
    [
        ("2.165", "GBP", "2.17"),  # exactly half a cent: up
        ("2.164", "GBP", "2.16"),
        ("2.1650000001", "GBP", "2.17"),
        ("2.175", "GBP", "2.18"),  # half-up, not banker's rounding (which would give 2.18 here and 2.16 above)
        ("-2.165", "GBP", "-2.17"),  # ties go away from zero, so a credit mirrors its invoice
        ("1234.5", "JPY", "1235"),  # yen have no minor unit
        ("1234.49", "JPY", "1234"),
        ("1.2345", "BHD", "1.235"),
    ],
)
def test_round_money_rounds_half_up_to_the_minor_unit(amount: str, currency: str, rounded: str) -> None:
    result = round_money(D(amount), currency)
    assert result == D(rounded)
    assert result.as_tuple().exponent == -minor_unit(currency)


def test_round_money_is_half_up_where_bankers_rounding_would_differ() -> None:
    """2.125 -> 2.13 half-up; ROUND_HALF_EVEN would give 2.12."""
    assert round_money(D("2.125"), "GBP") == D("2.13")


def test_format_amount_writes_the_currencys_places() -> None:
    assert format_amount(D("12.5"), "GBP") == "12.50"
    assert format_amount(D("12"), "EUR") == "12.00"
    assert format_amount(D("1234.5"), "JPY") == "1235"


# --- no floats ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1.5, 0.1, True])
def test_money_refuses_floats_and_booleans(value: object) -> None:
    with pytest.raises(TypeError):
        to_decimal(value)
    with pytest.raises(TypeError):
        Money(value, "GBP")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["abc", "NaN", "Infinity", "-Infinity", ""])
def test_money_refuses_text_that_is_not_a_finite_number(value: str) -> None:
    with pytest.raises(ValueError, match="number"):
        to_decimal(value)


def test_money_accepts_decimal_strings_and_integers() -> None:
    assert Money("12.50", "GBP").amount == D("12.50")  # type: ignore[arg-type]
    assert Money(12, "GBP").amount == D(12)  # type: ignore[arg-type]
    assert isinstance(Money("12.50", "GBP").amount, Decimal)  # type: ignore[arg-type]


@pytest.mark.parametrize("currency", ["gbp", "GB", "GBPX", "12A", ""])
def test_money_needs_a_three_letter_capital_currency_code(currency: str) -> None:
    with pytest.raises(ValueError, match="ISO 4217"):
        Money(D("1.00"), currency)


def test_money_arithmetic_stays_in_one_currency() -> None:
    a, b = Money(D("10.10"), "GBP"), Money(D("0.05"), "GBP")
    assert a + b == Money(D("10.15"), "GBP")
    assert a - b == Money(D("10.05"), "GBP")
    assert -a == Money(D("-10.10"), "GBP")
    assert Money.zero("EUR") == Money(D(0), "EUR")
    with pytest.raises(ValueError, match="GBP with EUR"):
        _ = a + Money(D("1.00"), "EUR")
    with pytest.raises(ValueError, match="GBP with EUR"):
        _ = a - Money(D("1.00"), "EUR")


def test_money_rounded_is_half_up_and_str_shows_the_currency() -> None:
    assert Money(D("1.005"), "GBP").rounded() == Money(D("1.01"), "GBP")
    assert str(Money(D("12.50"), "GBP")) == "12.50 GBP"


# --- allocate: worked examples ----------------------------------------------------------------------------------


def test_allocate_gives_leftover_cents_to_the_largest_remainders_ties_to_the_earliest() -> None:
    """10.00 / 3 = 3.333...: floors 3.33 x 3 = 9.99, one cent left; all remainders tie, so the first part gets it."""
    assert allocate(D("10.00"), [D(1), D(1), D(1)], "GBP") == [D("3.34"), D("3.33"), D("3.33")]


def test_allocate_two_cents_over_three_equal_parts() -> None:
    """0.02 / 3 = 0.00666...: floors 0 x 3, two cents left, to the first two parts (ties to the earliest)."""
    assert allocate(D("0.02"), [D(1), D(1), D(1)], "GBP") == [D("0.01"), D("0.01"), D("0.00")]


def test_allocate_by_weights_picks_the_largest_remainder_not_the_largest_part() -> None:
    """100.00 by 1:2 -> exact 33.333 and 66.667; floors 33.33 + 66.66 = 99.99; remainders 0.0033 and 0.0067,
    so the cent goes to the second part."""
    assert allocate(D("100.00"), [D(1), D(2)], "EUR") == [D("33.33"), D("66.67")]


def test_allocate_the_xero_per_document_tax_example() -> None:
    """11.45 over 25.06, 25.61, 25.63 (sum 76.30): exact 3.7608, 3.8431, 3.8461; floors 3.76 + 3.84 + 3.84 = 11.44;
    the cent goes to the largest remainder (0.0061, the third line): 3.76, 3.84, 3.85."""
    parts = allocate(D("11.45"), [D("25.06"), D("25.61"), D("25.63")], "NZD")
    assert parts == [D("3.76"), D("3.84"), D("3.85")]


def test_allocate_negative_total_mirrors_the_positive_split() -> None:
    assert allocate(D("-10.00"), [D(1), D(1), D(1)], "GBP") == [D("-3.34"), D("-3.33"), D("-3.33")]


def test_allocate_in_yen_hands_out_whole_yen() -> None:
    """1000 JPY / 3 -> 333.33 each; floors 333 x 3 = 999; one yen to the first part."""
    assert allocate(D("1000"), [D(1), D(1), D(1)], "JPY") == [D("334"), D("333"), D("333")]


def test_allocate_with_all_weights_zero_splits_evenly() -> None:
    assert allocate(D("1.00"), [D(0), D(0), D(0)], "GBP") == [D("0.34"), D("0.33"), D("0.33")]


def test_allocate_never_gives_a_zero_weight_part_anything() -> None:
    assert allocate(D("0.05"), [D(0), D(1), D(0), D(1)], "GBP") == [D("0.00"), D("0.03"), D("0.00"), D("0.02")]


def test_allocate_over_no_parts() -> None:
    assert allocate(D("0.00"), [], "GBP") == []
    with pytest.raises(ValueError, match="no parts"):
        allocate(D("1.00"), [], "GBP")


def test_allocate_refuses_negative_weights_and_unrounded_totals() -> None:
    with pytest.raises(ValueError, match="negative"):
        allocate(D("1.00"), [D(1), D(-1)], "GBP")
    with pytest.raises(ValueError, match="not rounded"):
        allocate(D("1.005"), [D(1), D(1)], "GBP")
    with pytest.raises(ValueError, match="not rounded"):
        allocate(D("10.5"), [D(1), D(1)], "JPY")


# --- allocate: properties --------------------------------------------------------------------------------------

CURRENCIES = st.sampled_from(["GBP", "JPY", "BHD"])
WEIGHTS = st.lists(
    st.decimals(min_value=0, max_value=100_000, places=4, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=12,
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(minor_units=st.integers(min_value=-(10**9), max_value=10**9), weights=WEIGHTS, currency=CURRENCIES)
def test_allocate_parts_sum_to_the_total_and_each_is_within_one_unit_of_its_exact_share(
    minor_units: int, weights: list[Decimal], currency: str
) -> None:
    unit = quantum(currency)
    total = minor_units * unit
    parts = allocate(total, weights, currency)

    assert len(parts) == len(weights)
    assert sum(parts, D(0)) == total
    weight_sum = sum(weights, D(0))
    effective = weights if weight_sum else [D(1)] * len(weights)
    effective_sum = sum(effective, D(0))
    for part, weight in zip(parts, effective, strict=True):
        assert part == round_money(part, currency)  # every part is whole minor units
        exact = total * weight / effective_sum
        assert abs(part - exact) < unit
        if total >= 0:
            assert part >= 0
        else:
            assert part <= 0


@settings(max_examples=200, derandomize=True, deadline=None)
@given(minor_units=st.integers(min_value=0, max_value=10**7), weights=WEIGHTS)
def test_allocate_of_a_negative_total_is_the_negated_allocation_of_the_positive_one(
    minor_units: int, weights: list[Decimal]
) -> None:
    total = minor_units * D("0.01")
    assert allocate(-total, weights, "GBP") == [-p for p in allocate(total, weights, "GBP")]
