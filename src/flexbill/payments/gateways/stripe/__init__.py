"""Stripe: cards and direct debits through PaymentIntents, Checkout for pay-now and saving a method."""

from flexbill.payments.gateways.stripe.client import STRIPE_API_VERSION, StripeGateway

__all__ = ["STRIPE_API_VERSION", "StripeGateway"]
