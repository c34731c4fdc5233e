"""The parent app that mounts every sandbox under its own prefix (``/xero``, ``/stripe``, ``/quickbooks``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from flexbill import __version__
from flexbill.sandbox.clock import SandboxClock
from flexbill.sandbox.quickbooks import QuickBooksSandbox, create_quickbooks_app
from flexbill.sandbox.stripe import Limits as StripeLimits
from flexbill.sandbox.stripe import StripeSandbox, create_stripe_app
from flexbill.sandbox.xero import Limits, XeroSandbox, create_xero_app


def create_sandbox_app(
    *,
    xero: XeroSandbox | None = None,
    clock: SandboxClock | None = None,
    time_scale: float = 1.0,
    webhook_url: str | None = None,
    webhook_key: str | None = None,
    limits: Limits | None = None,
    webhook_batch_seconds: float = 0.5,
    webhook_retry_delays: Sequence[float] = (1.0, 5.0, 25.0),
    stripe: StripeSandbox | None = None,
    stripe_limits: StripeLimits | None = None,
    stripe_webhook_retry_delays: Sequence[float] = (1.0, 5.0, 25.0),
    quickbooks: QuickBooksSandbox | None = None,
) -> FastAPI:
    """The sandboxes' app. Pass a ready :class:`XeroSandbox`, :class:`StripeSandbox` or
    :class:`QuickBooksSandbox` to share it (tests keep a handle on it); otherwise each is made from the other
    arguments, the Stripe and QuickBooks sandboxes on the Xero sandbox's clock. ``app.state.xero``,
    ``app.state.stripe`` and ``app.state.quickbooks`` are the sandboxes either way."""
    sandbox = xero or XeroSandbox(
        clock=clock,
        time_scale=time_scale,
        webhook_url=webhook_url,
        webhook_key=webhook_key,
        limits=limits,
        webhook_batch_seconds=webhook_batch_seconds,
        webhook_retry_delays=webhook_retry_delays,
    )
    stripe_sandbox = stripe or StripeSandbox(
        clock=sandbox.clock, limits=stripe_limits, webhook_retry_delays=stripe_webhook_retry_delays
    )
    quickbooks_sandbox = quickbooks or QuickBooksSandbox(clock=sandbox.clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        sandbox.close()
        stripe_sandbox.close()
        quickbooks_sandbox.close()

    app = FastAPI(title="flexbill sandboxes", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.xero = sandbox
    app.state.stripe = stripe_sandbox
    app.state.quickbooks = quickbooks_sandbox
    app.mount("/xero", create_xero_app(sandbox))
    app.mount("/stripe", create_stripe_app(stripe_sandbox))
    app.mount("/quickbooks", create_quickbooks_app(quickbooks_sandbox))

    @app.get("/", include_in_schema=False)
    def home() -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><title>flexbill sandboxes</title><h1>flexbill sandboxes</h1>"
            "<p>Xero: API at <code>/xero/api.xro/2.0</code>, OAuth at <code>/xero/identity/connect/authorize</code>, "
            "control and docs at <a href='/xero/_sandbox/docs'>/xero/_sandbox/docs</a>.</p>"
            "<p>Stripe: API at <code>/stripe/v1</code> (any <code>sk_test_...</code> key is an account), hosted "
            "Checkout at <code>/stripe/checkout/{session}</code>, control and docs at "
            "<a href='/stripe/_sandbox/docs'>/stripe/_sandbox/docs</a>.</p>"
            "<p>QuickBooks Online: API at <code>/quickbooks/v3/company/{realmId}</code>, OAuth discovery at "
            "<code>/quickbooks/.well-known/openid_configuration</code>, control and docs at "
            "<a href='/quickbooks/_sandbox/docs'>/quickbooks/_sandbox/docs</a>.</p>"
        )

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
