"""Lists (newest first, cursors, filters), search, and expand."""

from __future__ import annotations

from datetime import timedelta

import pytest
import stripe

from flexbill.sandbox import SandboxClock
from tests.sandbox.stripe.support import START_TS


def _intent(
    client: stripe.StripeClient, invoice_id: str, customer: str | None = None, card: str = "pm_card_visa"
) -> str:
    params = {
        "amount": 1000,
        "currency": "gbp",
        "payment_method": card,
        "confirm": True,
        "payment_method_types": ["card"],
        "metadata": {"invoice_id": invoice_id},
    }
    if customer is not None:
        params["customer"] = customer
    try:
        return client.v1.payment_intents.create(params=params).id
    except stripe.CardError as error:
        return str(error.error.payment_intent.id)


def test_lists_are_newest_first_with_cursors_and_filters(client: stripe.StripeClient, clock: SandboxClock) -> None:
    ada = client.v1.customers.create(params={"email": "ada@example.com"}).id
    ids = [_intent(client, f"inv_{n}", ada) for n in range(5)]
    clock.advance(timedelta(days=1))
    later = _intent(client, "inv_later")
    page = client.v1.payment_intents.list(params={"customer": ada, "limit": 2})
    assert [i.id for i in page.data] == [ids[4], ids[3]]
    assert page.has_more is True
    assert page.url == "/v1/payment_intents"
    rest = client.v1.payment_intents.list(params={"customer": ada, "limit": 10, "starting_after": ids[3]})
    assert [i.id for i in rest.data] == [ids[2], ids[1], ids[0]]
    assert rest.has_more is False
    before = client.v1.payment_intents.list(params={"customer": ada, "ending_before": ids[1]})
    assert [i.id for i in before.data] == [ids[4], ids[3], ids[2]]
    assert [i.id for i in client.v1.payment_intents.list(params={"limit": 3}).auto_paging_iter()] == [
        later,
        *reversed(ids),
    ]
    recent = client.v1.payment_intents.list(params={"created": {"gte": START_TS + 86_400}})
    assert [i.id for i in recent.data] == [later]
    older = client.v1.payment_intents.list(params={"created": {"lt": START_TS + 86_400}, "limit": 100})
    assert len(older.data) == 5
    with pytest.raises(stripe.InvalidRequestError) as too_many:
        client.v1.payment_intents.list(params={"limit": 101})
    assert too_many.value.param == "limit"
    with pytest.raises(stripe.InvalidRequestError) as unknown_cursor:
        client.v1.payment_intents.list(params={"starting_after": "pi_nothing"})
    assert unknown_cursor.value.http_status == 404


def test_search_by_metadata_and_status(client: stripe.StripeClient) -> None:
    paid = _intent(client, "inv_1")
    declined = _intent(client, "inv_1", card="pm_card_chargeDeclined")
    other = _intent(client, "inv_2")
    found = client.v1.payment_intents.search(params={"query": "metadata['invoice_id']:'inv_1'"})
    assert found.object == "search_result"
    assert [i.id for i in found.data] == [declined, paid]
    both = client.v1.payment_intents.search(params={"query": "metadata['invoice_id']:'inv_1' AND status:'succeeded'"})
    assert [i.id for i in both.data] == [paid]
    either = client.v1.payment_intents.search(
        params={"query": "metadata['invoice_id']:'inv_2' OR status:'requires_payment_method'"}
    )
    assert [i.id for i in either.data] == [other, declined]
    first = client.v1.payment_intents.search(params={"query": "amount>=1000", "limit": 2})
    assert first.has_more is True
    assert first.next_page is not None
    second = client.v1.payment_intents.search(params={"query": "amount>=1000", "limit": 2, "page": first.next_page})
    assert [i.id for i in second.data] == [paid]
    for query, message in [
        ("metadata['a']:'b' AND status:'x' OR status:'y'", "cannot mix AND and OR"),
        ("colour:'blue'", "'colour' is not a searchable field"),
        ("status", "could not read the clause"),
    ]:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            client.v1.payment_intents.search(params={"query": query})
        assert message in str(refused.value.user_message)


def test_expand_swaps_ids_for_objects(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"email": "ada@example.com"})
    intent_id = _intent(client, "inv_1", customer.id)
    intent = client.v1.payment_intents.retrieve(intent_id, params={"expand": ["latest_charge", "customer"]})
    assert intent.latest_charge.object == "charge"
    assert intent.customer.email == "ada@example.com"
    listed = client.v1.payment_intents.list(params={"expand": ["data.latest_charge", "data.payment_method"]})
    assert listed.data[0].latest_charge.amount == 1000
    assert listed.data[0].payment_method.card.last4 == "4242"
    charge = client.v1.charges.retrieve(intent.latest_charge.id, params={"expand": ["payment_intent.customer"]})
    assert charge.payment_intent.customer.id == customer.id
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.payment_intents.retrieve(intent_id, params={"expand": ["currency"]})
    assert str(refused.value.user_message) == "This property cannot be expanded (currency)."
