"""A faithful, stateful local stand-in of Stripe's API in test mode, served over real HTTP.

Operators rehearse a month against it, the demo charges its members through it, and flexbill's Stripe adapter
talks to it with the official ``stripe`` SDK (``base_addresses={"api": "http://127.0.0.1:P/stripe"}``). Each
secret key (``sk_...``) is its own account, with its own objects, events and webhook endpoints; everything is
in memory. ``created`` times come from the sandbox clock shared with the other sandboxes.

Mounted at ``/stripe`` by :func:`flexbill.sandbox.app.create_sandbox_app`, so with the server on port P:

* API: ``http://127.0.0.1:P/stripe/v1/...`` — form-encoded, JSON answers, Stripe's error objects and statuses,
  ``Request-Id`` on every answer, ``Stripe-Version`` echoed, ``Idempotency-Key`` honoured on POSTs, 25
  operations a second per account (429 beyond). Customers, PaymentMethods (test tokens ``pm_card_visa``,
  ``pm_card_mastercard``, ``pm_card_amex``, ``pm_card_chargeDeclined``, ``pm_card_chargeDeclinedInsufficientFunds``,
  ``pm_card_chargeDeclinedExpiredCard``, ``pm_card_authenticationRequired``, ``pm_card_threeDSecureRequired``),
  PaymentIntents (create, confirm, cancel, update, list, search), Charges, Refunds, Disputes, SetupIntents,
  Checkout Sessions, Events and webhook endpoints. ``expand[]`` works on every id field.
* Pages: hosted Checkout (``/stripe/checkout/{cs_...}``), 3-D Secure (``/stripe/authenticate/{pi_...}``) and
  receipts (``/stripe/receipts/{ch_...}``): plain HTML forms that work in any browser without JavaScript.
* Control: ``/stripe/_sandbox/...`` (below); the OpenAPI page is ``/stripe/_sandbox/docs``.

How cards behave
----------------

A card that succeeds gives a ``succeeded`` PaymentIntent and a ``ch_`` Charge (``charge.succeeded``,
``payment_intent.succeeded``). A declined card answers 402 ``card_error`` (``card_declined`` with its
``decline_code``, or ``expired_card``) embedding the PaymentIntent, now ``requires_payment_method`` with
``last_payment_error``, and the PaymentMethod; a failed Charge is kept (``charge.failed``,
``payment_intent.payment_failed``). A card that needs 3-D Secure fails off session with 402
``authentication_required``; on session the PaymentIntent becomes ``requires_action`` with a ``redirect_to_url``
to the sandbox's 3-D Secure page, where the member completes (or fails) the authentication. Confirming a
PaymentIntent that accepts automatic payment methods (the default) without a ``return_url`` is refused, as
Stripe refuses it, unless it was created with ``automatic_payment_methods[allow_redirects]=never`` or explicit
``payment_method_types[]``.

Webhooks
--------

Create an endpoint through the API (``POST /v1/webhook_endpoints`` with ``url`` and ``enabled_events[]``; the
answer holds its ``whsec_`` secret). Every event of the account is POSTed to each enabled endpoint that wants
it, signed with ``Stripe-Signature`` (see :func:`sign_payload`), in order, from a background thread, and retried
after the configured delays when not answered with a 2xx.

Control endpoints (no key needed; never counted, limited or faulted)
--------------------------------------------------------------------

``GET /_sandbox/state?account=acct_...``
    Per account: customers, payment intents, charges, refunds, Checkout Sessions, events, webhook endpoints and
    deliveries; plus requests by operation and status, lost responses, the rate limit, idempotency keys,
    faults, webhook counts and sandbox time.
``POST /_sandbox/reset``  ``{"webhook_endpoints": false}``
    Empty every account; faults, keys and logs cleared. Webhook endpoints are kept unless asked.
``GET /_sandbox/requests?account=...``, ``GET /_sandbox/requests/{req_...}``
    The request log (an error's ``request_log_url`` points at its entry).
``GET /_sandbox/faults``, ``POST /_sandbox/faults``, ``DELETE /_sandbox/faults``
    Injected faults; POST ``{"operation": "payment_intents.create", "kind": "server_error" | "timeout" |
    "lost_response" | "rate_limited", "times": 1, "seconds": 2}`` (see :mod:`flexbill.sandbox.stripe.faults`).
``GET /_sandbox/webhooks``, ``POST /_sandbox/webhooks/flush``
    Delivery counts; deliver everything pending now and wait until done.
``POST /_sandbox/events/{evt_...}/redeliver``  ``{"times": 1}``
    Deliver an event again, to test that receivers ignore duplicates.
``POST /_sandbox/charges/{ch_...}/dispute``  ``{"reason": "fraudulent"}``
    The cardholder disputes the charge: a Dispute and ``charge.dispute.created``.
``POST /_sandbox/checkout/{cs_...}/complete``  ``{"payment_method": "pm_card_visa", "email": ..., "name": ...}``
    Complete a hosted Checkout as the member would in a browser (the same code as the page's form).
``POST /_sandbox/payment_intents/{pi_...}/authenticate``  ``{"succeed": true}``
    The 3-D Secure page's answer.
``PUT /_sandbox/accounts/{acct_...}``  ``{"business_name": "..."}``
    The merchant name the hosted pages show.
``GET /_sandbox/limits``, ``PUT /_sandbox/limits``  ``{"per_second": 25}``
    The rate limit per account.
``GET /_sandbox/time``, ``PUT /_sandbox/time``  ``{"time_scale": 60, "advance_seconds": 3600, "now": "...",
"running": true}``
    Sandbox time (shared with the other sandboxes of the server).
"""

from flexbill.sandbox.stripe.app import create_stripe_app
from flexbill.sandbox.stripe.limits import Limits
from flexbill.sandbox.stripe.sandbox import API_VERSION, StripeSandbox
from flexbill.sandbox.stripe.webhooks import sign_payload

__all__ = ["API_VERSION", "Limits", "StripeSandbox", "create_stripe_app", "sign_payload"]
