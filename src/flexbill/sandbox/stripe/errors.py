"""Stripe's error object, and the errors the sandbox answers with.

Stripe writes only the fields that apply: ``{"error": {"type", "code", "decline_code", "message", "param",
"payment_intent", "payment_method", "setup_intent", "charge", "doc_url", "request_log_url"}}``. The HTTP status
says what kind of failure it was: 400 a bad request, 401 a bad key, 402 a card that failed, 404 an unknown
object, 409 an idempotency key in use, 429 too many requests, 500 Stripe's own trouble.

>>> error = resource_missing("customer", "cus_nope", param="customer")
>>> (error.status, error.body()["error"]["message"], error.body()["error"]["param"])
(404, "No such customer: 'cus_nope'", 'customer')
"""

from __future__ import annotations

from typing import Any, Literal

ErrorType = Literal["api_error", "card_error", "idempotency_error", "invalid_request_error"]

SERVER_ERROR_MESSAGE = (
    "Sorry, something went wrong. We've already been notified of the problem, but if you need any help, "
    "you can reach us at support.stripe.com/contact."
)
RATE_LIMIT_MESSAGE = (
    "Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits."
)


def doc_url(code: str) -> str:
    """Stripe's page about an error code (``card_declined`` -> ``.../error-codes/card-declined``)."""
    return f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"


class StripeError(Exception):
    """An answer in Stripe's error shape; raised by handlers, rendered by the gateway."""

    def __init__(
        self,
        status: int,
        error_type: ErrorType,
        message: str,
        *,
        code: str | None = None,
        decline_code: str | None = None,
        param: str | None = None,
        payment_intent: dict[str, Any] | None = None,
        payment_method: dict[str, Any] | None = None,
        charge: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.code = code
        self.decline_code = decline_code
        self.param = param
        self.payment_intent = payment_intent
        self.payment_method = payment_method
        self.charge = charge
        self.headers = headers or {}

    def fields(self) -> dict[str, Any]:
        """The error object without ``request_log_url`` (what a PaymentIntent keeps as ``last_payment_error``)."""
        error: dict[str, Any] = {}
        if self.charge is not None:
            error["charge"] = self.charge
        if self.code is not None:
            error["code"] = self.code
        if self.decline_code is not None:
            error["decline_code"] = self.decline_code
        if self.code is not None:
            error["doc_url"] = doc_url(self.code)
        error["message"] = self.message
        if self.param is not None:
            error["param"] = self.param
        if self.payment_intent is not None:
            error["payment_intent"] = self.payment_intent
        if self.payment_method is not None:
            error["payment_method"] = self.payment_method
        error["type"] = self.error_type
        return error

    def body(self, request_log_url: str | None = None) -> dict[str, Any]:
        error = self.fields()
        if request_log_url is not None:
            error["request_log_url"] = request_log_url
        return {"error": error}


def invalid_request(message: str, *, param: str | None = None, code: str | None = None) -> StripeError:
    return StripeError(400, "invalid_request_error", message, param=param, code=code)


def resource_missing(kind: str, object_id: str, *, param: str | None = "id") -> StripeError:
    """404 for an id this account does not have (``kind`` as Stripe names it: ``payment_intent``, ``charge``)."""
    return StripeError(
        404, "invalid_request_error", f"No such {kind}: '{object_id}'", code="resource_missing", param=param
    )


def unexpected_state(message: str, *, param: str | None = None) -> StripeError:
    return invalid_request(message, param=param, code="payment_intent_unexpected_state")


def server_error() -> StripeError:
    return StripeError(500, "api_error", SERVER_ERROR_MESSAGE)


def rate_limited() -> StripeError:
    return StripeError(
        429, "invalid_request_error", RATE_LIMIT_MESSAGE, code="rate_limit", headers={"Stripe-Should-Retry": "true"}
    )


def unrecognised_url(method: str, path: str) -> StripeError:
    message = (
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at "
        "https://support.stripe.com/."
    )
    return StripeError(404, "invalid_request_error", message)
