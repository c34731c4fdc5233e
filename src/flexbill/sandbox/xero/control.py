"""Control endpoints under ``/_sandbox``: what an operator or a test does to the sandbox from outside.

They need no token (the sandbox is a local tool) and are not counted, limited or faulted. The list, with
request bodies, is in :mod:`flexbill.sandbox.xero`'s docstring.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from flexbill.sandbox.timecontrol import time_router
from flexbill.sandbox.xero import render
from flexbill.sandbox.xero.faults import FaultKind, LoseMode
from flexbill.sandbox.xero.limits import Limits
from flexbill.sandbox.xero.oauth import ALL_SCOPES
from flexbill.sandbox.xero.sandbox import XeroSandbox
from flexbill.sandbox.xero.state import Invalid, Missing
from flexbill.sandbox.xero.wire import XeroJSONResponse

router = APIRouter(prefix="/_sandbox")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResetRequest(_Body):
    tokens: bool = Field(default=False, description="Also revoke every token and connection.")


class WebhookSettings(_Body):
    url: str | None = Field(default=None, description="Where to POST events; null turns webhooks off.")
    key: str | None = Field(default=None, description="The signing key (Xero's webhook key).")


class IntentRequest(_Body):
    rounds: int = Field(default=4, ge=2, le=20)


class TokenRequest(_Body):
    client_id: str = "sandbox-client"
    scope: str = ALL_SCOPES


class LimitsRequest(_Body):
    concurrent: int | None = Field(default=None, ge=1)
    per_minute: int | None = Field(default=None, ge=1)
    per_day: int | None = Field(default=None, ge=1)
    app_per_minute: int | None = Field(default=None, ge=1)


class FaultRequest(_Body):
    kind: FaultKind
    method: str = "*"
    path: str = "*"
    count: int | None = Field(default=1, ge=1)
    seconds: float = Field(default=0.0, ge=0, le=600)
    status: int = Field(default=500, ge=500, le=599)
    problem: Literal["minute", "day", "concurrent", "appminute"] = "minute"
    retry_after: int = Field(default=1, ge=1)
    mode: LoseMode = "disconnect"


class PayRequest(_Body):
    amount: Decimal | None = Field(default=None, gt=0, description="Default: everything still due.")
    date: dt.date | None = Field(default=None, description="Default: the organisation's today.")
    account_code: str = Field(default="090", description="A bank account, or one that takes payments.")
    reference: str | None = None
    reconciled: bool = Field(default=False, description="Reconciled against a bank statement line.")


def _sandbox(request: Request) -> XeroSandbox:
    sandbox: XeroSandbox = request.app.state.sandbox
    return sandbox


def _refused(error: Invalid) -> JSONResponse:
    return JSONResponse({"error": "; ".join(error.messages), "messages": error.messages}, status_code=409)


def _missing(what: str) -> JSONResponse:
    return JSONResponse({"error": f"no such {what}"}, status_code=404)


@router.get("/state")
def state(request: Request) -> dict[str, Any]:
    return _sandbox(request).state()


@router.post("/reset")
def reset(request: Request, body: ResetRequest | None = None) -> dict[str, Any]:
    sandbox = _sandbox(request)
    sandbox.reset(tokens=bool(body and body.tokens))
    return sandbox.state()


@router.get("/webhooks")
def get_webhooks(request: Request) -> dict[str, Any]:
    return _sandbox(request).webhooks.status()


@router.put("/webhooks")
def put_webhooks(request: Request, body: WebhookSettings) -> dict[str, Any]:
    webhooks = _sandbox(request).webhooks
    webhooks.configure(body.url, body.key)
    return webhooks.status()


@router.post("/webhooks/intent-to-receive", response_model=None)
def intent_to_receive(request: Request, body: IntentRequest | None = None) -> Response:
    try:
        result = _sandbox(request).webhooks.intent_to_receive(rounds=body.rounds if body else 4)
    except ValueError as error:
        return JSONResponse({"error": str(error)}, status_code=409)
    return JSONResponse(result)


@router.post("/webhooks/flush")
def flush_webhooks(request: Request) -> dict[str, Any]:
    webhooks = _sandbox(request).webhooks
    return {"flushed": webhooks.flush(timeout=30.0), **webhooks.status()}


@router.post("/tokens")
def mint_tokens(request: Request, body: TokenRequest | None = None) -> dict[str, Any]:
    """Tokens for a client without the browser round trip (benchmarks and scripts)."""
    sandbox = _sandbox(request)
    wanted = body or TokenRequest()
    tokens = sandbox.tokens.mint(client_id=wanted.client_id, scope=wanted.scope)
    return {**tokens, "tenant_id": sandbox.tenant_id}


@router.post("/tokens/revoke-all")
def revoke_all(request: Request) -> dict[str, Any]:
    return {"revoked_grants": _sandbox(request).tokens.revoke_all()}


@router.post("/tokens/expire-access")
def expire_access(request: Request) -> dict[str, Any]:
    return {"expired": _sandbox(request).tokens.expire_access_tokens()}


@router.get("/limits")
def get_limits(request: Request) -> dict[str, int]:
    return _sandbox(request).limiter.limits.as_dict()


@router.put("/limits")
def put_limits(request: Request, body: LimitsRequest) -> dict[str, int]:
    limiter = _sandbox(request).limiter
    current = limiter.limits.as_dict()
    current.update({name: value for name, value in body.model_dump().items() if value is not None})
    limiter.limits = Limits(**current)
    return limiter.limits.as_dict()


@router.get("/faults")
def get_faults(request: Request) -> dict[str, Any]:
    faults = _sandbox(request).faults
    return {"pending": faults.pending(), "fired": dict(faults.fired)}


@router.post("/faults", status_code=201)
def add_fault(request: Request, body: FaultRequest) -> dict[str, object]:
    fault = _sandbox(request).faults.add(**body.model_dump())
    return fault.as_dict()


@router.delete("/faults")
def clear_faults(request: Request) -> dict[str, Any]:
    faults = _sandbox(request).faults
    faults.clear()
    return {"pending": [], "fired": dict(faults.fired)}


@router.post("/invoices/{identifier}/pay", response_model=None)
def pay_invoice(request: Request, identifier: str, body: PayRequest | None = None) -> Response:
    """A user records a payment against the invoice in Xero (or reconciles a bank line to it)."""
    org = _sandbox(request).org
    wanted = body or PayRequest()
    try:
        payment = org.pay_as_user(
            identifier,
            amount=wanted.amount,
            on=wanted.date,
            account_code=wanted.account_code,
            reference=wanted.reference,
            reconciled=wanted.reconciled,
        )
    except Missing:
        return _missing("invoice")
    except Invalid as error:
        return _refused(error)
    with org.lock:
        return XeroJSONResponse(render.payment(org, payment))


@router.post("/invoices/{identifier}/void", response_model=None)
def void_invoice(request: Request, identifier: str) -> Response:
    org = _sandbox(request).org
    try:
        doc = org.void_as_user(identifier)
    except Missing:
        return _missing("invoice")
    except Invalid as error:
        return _refused(error)
    with org.lock:
        return XeroJSONResponse(render.invoice(org, doc))


@router.post("/payments/{payment_id}/delete", response_model=None)
def delete_payment(request: Request, payment_id: str) -> Response:
    """A user removes a payment in Xero (even a reconciled one, which the API refuses)."""
    org = _sandbox(request).org
    try:
        payment = org.delete_payment(payment_id, as_user=True)
    except Missing:
        return _missing("payment")
    except Invalid as error:
        return _refused(error)
    with org.lock:
        return XeroJSONResponse(render.payment(org, payment))


@router.post("/contacts/{identifier}", response_model=None)
async def edit_contact(request: Request, identifier: str) -> Response:
    """A user edits a contact in Xero; the body holds Xero's contact fields (``Name``, ``EmailAddress``...)."""
    org = _sandbox(request).org
    try:
        changes = await request.json()
    except ValueError:
        return JSONResponse({"error": "the body must be a JSON object of Xero contact fields"}, status_code=400)
    try:
        contact = org.edit_contact_as_user(identifier, changes)
    except Missing:
        return _missing("contact")
    except Invalid as error:
        return _refused(error)
    with org.lock:
        return XeroJSONResponse(render.contact(contact))


router.include_router(time_router(lambda request: _sandbox(request).clock))
