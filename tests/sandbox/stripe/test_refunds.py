"""Refunds: all that is left by default, partial refunds, and refusals beyond the charge's balance."""

from __future__ import annotations

import pytest
import stripe

from tests.sandbox.stripe.support import charge_saved_card


def test_a_refund_by_payment_intent_takes_everything_left(client: stripe.StripeClient) -> None:
    intent = charge_saved_card(client, amount=1200)
    refund = client.v1.refunds.create(
        params={"payment_intent": intent.id, "reason": "requested_by_customer", "metadata": {"credit_note": "CN-7"}}
    )
    assert refund.id.startswith("re_")
    assert (refund.amount, refund.status, refund.charge, refund.payment_intent) == (
        1200,
        "succeeded",
        intent.latest_charge,
        intent.id,
    )
    assert (refund.reason, refund.metadata["credit_note"]) == ("requested_by_customer", "CN-7")
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (1200, True)
    assert [r.id for r in charge.refunds.data] == [refund.id]
    assert client.v1.refunds.retrieve(refund.id).amount == 1200
    refunded = client.v1.events.list(params={"type": "charge.refunded"}).data[0]
    assert refunded.data.object.id == charge.id
    assert refunded.data.object.amount_refunded == 1200
    assert refunded.data.previous_attributes.amount_refunded == 0
    created = client.v1.events.list(params={"type": "refund.created"}).data[0]
    assert created.data.object.id == refund.id


def test_partial_refunds_then_the_balance_is_enforced(client: stripe.StripeClient) -> None:
    intent = charge_saved_card(client, amount=1200)
    first = client.v1.refunds.create(params={"charge": intent.latest_charge, "amount": 500})
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 800})
    assert too_much.value.http_status == 400
    assert (too_much.value.code, too_much.value.param) == ("amount_too_large", "amount")
    assert too_much.value.user_message == ("Refund amount (£8.00) is greater than unrefunded amount on charge (£7.00)")
    rest = client.v1.refunds.create(params={"payment_intent": intent.id})
    assert rest.amount == 700
    with pytest.raises(stripe.InvalidRequestError) as nothing_left:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1})
    assert nothing_left.value.code == "charge_already_refunded"
    listed = client.v1.refunds.list(params={"payment_intent": intent.id}).data
    assert [r.id for r in listed] == [rest.id, first.id]  # newest first
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (1200, True)


def test_refunds_need_a_successful_charge(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.CardError) as declined:
        charge_saved_card(client, "pm_card_chargeDeclined")
    intent_id = declined.value.error.payment_intent.id
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.refunds.create(params={"payment_intent": intent_id})
    assert "does not have a successful charge to refund" in str(refused.value.user_message)
    with pytest.raises(stripe.InvalidRequestError) as neither:
        client.v1.refunds.create(params={"amount": 100})
    assert "payment_intent or charge" in str(neither.value.user_message)
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.refunds.create(params={"charge": "ch_nothing"})
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
