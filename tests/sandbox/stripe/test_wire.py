"""Stripe's wire format: nested form parameters, error objects, amounts as people read them."""

from __future__ import annotations

import pytest

from flexbill.sandbox.stripe.errors import StripeError, invalid_request
from flexbill.sandbox.stripe.params import parse_form
from flexbill.sandbox.stripe.render import display_amount, expand


def test_nested_parameters_are_parsed_as_stripe_writes_them() -> None:
    params = parse_form(
        "line_items[0][price_data][unit_amount]=1200&line_items[0][quantity]=1&line_items[1][quantity]=2"
        "&expand[]=latest_charge&expand[]=customer&metadata[invoice_id]=inv%5B1%5D&automatic_payment_methods"
        "[enabled]=true&description="
    )
    items = params.hashes("line_items")
    assert [item.required_integer("quantity") for item in items] == [1, 2]
    price = items[0].hash("price_data")
    assert price is not None
    assert price.required_integer("unit_amount") == 1200
    assert price.name("unit_amount") == "line_items[0][price_data][unit_amount]"
    assert params.strings("expand") == ["latest_charge", "customer"]
    assert params.metadata() == {"invoice_id": "inv[1]"}
    automatic = params.hash("automatic_payment_methods")
    assert automatic is not None
    assert automatic.boolean("enabled") is True
    assert params.string("description") is None  # an empty value unsets


def test_the_sdks_indexed_lists_read_as_lists() -> None:
    assert parse_form("expand[0]=a&expand[1]=b&payment_method_types[0]=card").strings("expand") == ["a", "b"]
    assert parse_form("metadata[0]=zero").metadata() == {"0": "zero"}  # a hash whose key looks like an index


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ("amount=1&amount[x]=2", "the parameter amount is given both as a value and as a hash or list"),
        ("expand[]=a&expand[0]=b", "the parameter expand is given both as a value and as a hash or list"),
        ("a[][b]=1", "a[] may only end a parameter name"),
        ("[x]=1", "Invalid parameter name: [x]"),
    ],
)
def test_ambiguous_parameters_are_refused(form: str, message: str) -> None:
    with pytest.raises(StripeError) as refused:
        parse_form(form)
    assert message in refused.value.message


def test_unknown_and_mistyped_parameters_name_the_parameter() -> None:
    params = parse_form("automatic_payment_methods[enabld]=true&amount=12.5")
    automatic = params.hash("automatic_payment_methods")
    assert automatic is not None
    with pytest.raises(StripeError) as unknown:
        automatic.only("enabled", "allow_redirects")
    assert (unknown.value.message, unknown.value.param) == (
        "Received unknown parameter: automatic_payment_methods[enabld]",
        "automatic_payment_methods[enabld]",
    )
    with pytest.raises(StripeError) as mistyped:
        params.integer("amount")
    assert (mistyped.value.message, mistyped.value.param) == ("Invalid integer: 12.5", "amount")


def test_error_objects_carry_only_what_applies() -> None:
    assert invalid_request("Nope.").body() == {"error": {"message": "Nope.", "type": "invalid_request_error"}}
    card = StripeError(
        402, "card_error", "Your card was declined.", code="card_declined", decline_code="generic_decline"
    )
    assert card.body("https://sandbox/requests/req_1") == {
        "error": {
            "code": "card_declined",
            "decline_code": "generic_decline",
            "doc_url": "https://stripe.com/docs/error-codes/card-declined",
            "message": "Your card was declined.",
            "request_log_url": "https://sandbox/requests/req_1",
            "type": "card_error",
        }
    }


def test_amounts_are_written_in_the_currencys_units() -> None:
    assert display_amount(123456, "gbp") == "£1,234.56"
    assert display_amount(700, "eur") == "€7.00"
    assert display_amount(700, "jpy") == "¥700"
    assert display_amount(700, "sek") == "SEK 7.00"


def test_expand_refuses_fields_that_are_not_ids() -> None:
    body = {"object": "payment_intent", "latest_charge": "ch_1", "currency": "gbp", "customer": None}
    lookup = {"ch_1": {"object": "charge", "id": "ch_1"}}.get
    assert expand(dict(body), ["latest_charge", "customer"], lookup)["latest_charge"] == {
        "object": "charge",
        "id": "ch_1",
    }
    for path in ("currency", "nothing", "a.b.c.d.e"):
        with pytest.raises(StripeError):
            expand(dict(body), [path], lookup)
