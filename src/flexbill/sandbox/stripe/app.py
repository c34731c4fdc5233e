"""The Stripe sandbox as an ASGI app: the API behind the gateway, the member's pages and the control endpoints."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp

from flexbill.sandbox.stripe import control, pages
from flexbill.sandbox.stripe.gateway import Gateway
from flexbill.sandbox.stripe.sandbox import StripeSandbox


def create_stripe_app(sandbox: StripeSandbox) -> ASGIApp:
    """Stripe under one root: ``/v1`` (the API, handled by the gateway), ``/checkout``, ``/authenticate`` and
    ``/receipts`` (pages) and ``/_sandbox`` (control). Its OpenAPI page is ``/_sandbox/docs``."""
    app = FastAPI(
        title="Stripe sandbox",
        description=_DESCRIPTION,
        docs_url="/_sandbox/docs",
        openapi_url="/_sandbox/openapi.json",
        redoc_url=None,
    )
    app.state.sandbox = sandbox
    app.include_router(control.router)
    app.include_router(pages.router)
    return Gateway(app, sandbox)


_DESCRIPTION = """A local, stateful stand-in of Stripe's API in test mode (see the package documentation of
`flexbill.sandbox.stripe` for everything it does).

**API** at `/v1` (form-encoded requests, JSON answers, `Authorization: Bearer sk_test_...`; each secret key is its
own account): customers, payment methods (test tokens such as `pm_card_visa`), payment intents (create, confirm,
cancel, list, search), charges, refunds, disputes, setup intents, Checkout Sessions, events and webhook endpoints.

**Pages**: hosted Checkout at `/checkout/{session id}`, 3-D Secure at `/authenticate/{payment intent id}`,
receipts at `/receipts/{charge id}`.

**Control** (below): state, reset, faults, webhook flush and redelivery, disputes, completing a checkout or a
3-D Secure challenge without a browser, the rate limit, sandbox time and the request log."""
