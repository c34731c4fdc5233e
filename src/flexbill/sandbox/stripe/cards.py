"""Stripe's test payment methods and how each card behaves, as in Stripe's test mode.

``pm_card_visa`` and its siblings are not PaymentMethods but tokens: every use (attaching one, paying with one)
makes a new PaymentMethod with a fresh ``pm_`` id that carries the card's brand, last four digits, expiry and
behaviour. The behaviours are those of the card numbers behind the tokens in Stripe's documentation:

* ``succeeds``: the payment is authorised.
* ``declines``: the issuer declines (``card_declined`` with a ``decline_code``, or ``expired_card``).
* ``needs_authentication``: 3-D Secure is needed on every payment. Off session the payment fails with
  ``authentication_required``; on session the PaymentIntent asks for the member (``requires_action``).

>>> TEST_CARDS["pm_card_chargeDeclinedInsufficientFunds"].decline_code
'insufficient_funds'
>>> card_for_token("pm_card_visa").last4
'4242'
>>> card_for_token("pm_1Pxyz") is None
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Behaviour = Literal["succeeds", "declines", "needs_authentication"]


@dataclass(frozen=True)
class TestCard:
    """One test card: what it looks like on a PaymentMethod and what happens when it is charged."""

    __test__ = False  # not a pytest test class, despite the name

    token: str
    label: str
    brand: str
    last4: str
    funding: str
    behaviour: Behaviour
    fingerprint: str
    country: str = "US"
    exp_month: int = 12
    exp_year: int = 2034
    error_code: str | None = None
    decline_code: str | None = None
    message: str | None = None


TEST_CARDS: dict[str, TestCard] = {
    card.token: card
    for card in (
        TestCard("pm_card_visa", "Visa, succeeds", "visa", "4242", "credit", "succeeds", "Xt5EWLLDS7FJjR1c"),
        TestCard(
            "pm_card_mastercard", "Mastercard, succeeds", "mastercard", "4444", "credit", "succeeds", "YkmJb4xCSNIcqjzN"
        ),
        TestCard(
            "pm_card_amex", "American Express, succeeds", "amex", "8431", "credit", "succeeds", "uQhBEd1JmT5Bq0Qy"
        ),
        TestCard(
            "pm_card_chargeDeclined",
            "Visa, declined",
            "visa",
            "0002",
            "credit",
            "declines",
            "k9ZyvKbKX1sTnwjE",
            error_code="card_declined",
            decline_code="generic_decline",
            message="Your card was declined.",
        ),
        TestCard(
            "pm_card_chargeDeclinedInsufficientFunds",
            "Visa, declined for insufficient funds",
            "visa",
            "9995",
            "credit",
            "declines",
            "qGlPyzjDbcMJ1Nbd",
            error_code="card_declined",
            decline_code="insufficient_funds",
            message="Your card has insufficient funds.",
        ),
        TestCard(
            "pm_card_chargeDeclinedExpiredCard",
            "Visa, declined as expired",
            "visa",
            "0069",
            "credit",
            "declines",
            "hZjF7pQdHzhfw0bq",
            error_code="expired_card",
            decline_code="expired_card",
            message="Your card has expired.",
        ),
        TestCard(
            "pm_card_authenticationRequired",
            "Visa, always needs 3-D Secure",
            "visa",
            "3184",
            "credit",
            "needs_authentication",
            "5gKzWcvE2kXP0N7a",
            country="IE",
        ),
        TestCard(
            "pm_card_threeDSecureRequired",
            "Visa, 3-D Secure required",
            "visa",
            "3063",
            "credit",
            "needs_authentication",
            "Ao3kW1h9Tq8cFdYs",
        ),
    )
}

# What Stripe answers when a payment that needs 3-D Secure is attempted without the member.
AUTHENTICATION_REQUIRED_MESSAGE = "Your card was declined. This transaction requires authentication."
AUTHENTICATION_FAILED_MESSAGE = (
    "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new "
    "PaymentMethod to attempt to fulfill this PaymentIntent again."
)


def card_for_token(token: str) -> TestCard | None:
    """The test card a token stands for, or ``None`` for anything else (e.g. a real ``pm_`` id)."""
    return TEST_CARDS.get(token)
