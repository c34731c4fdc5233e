"""Control endpoints under ``/_sandbox``: what an operator or a test does to the sandbox from outside.

They need no token (the sandbox is a local tool) and are never counted, throttled or faulted. The list, with
request bodies, is in :mod:`flexbill.sandbox.quickbooks`'s docstring.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from flexbill.sandbox.quickbooks.faults import FaultKind, LoseMode
from flexbill.sandbox.quickbooks.limits import ThrottleBody
from flexbill.sandbox.quickbooks.oauth import ACCOUNTING_SCOPE
from flexbill.sandbox.quickbooks.sandbox import QuickBooksSandbox
from flexbill.sandbox.quickbooks.webhooks import WebhookFormat
from flexbill.sandbox.quickbooks.wire import QboError, QboJSONResponse, answer_time, fault_object, loads
from flexbill.sandbox.timecontrol import time_router

router = APIRouter(prefix="/_sandbox")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResetRequest(_Body):
    tokens: bool = Field(default=False, description="Also revoke every token.")


class WebhookSettings(_Body):
    url: str | None = Field(default=None, description="Where to POST notices; null turns webhooks off.")
    verifier_token: str | None = Field(default=None, description="The app's verifier token (signs the notices).")
    format: WebhookFormat | None = Field(default=None, description="cloudevents (default) or legacy.")


class TokenRequest(_Body):
    client_id: str = "sandbox-client"
    scope: str = ACCOUNTING_SCOPE


class LimitsRequest(_Body):
    per_minute: int | None = Field(default=None, ge=1)
    per_second: int | None = Field(default=None, ge=1)
    concurrent: int | None = Field(default=None, ge=1)
    batch_per_minute: int | None = Field(default=None, ge=1)
    throttle_body: ThrottleBody | None = None


class PreferencesRequest(_Body):
    custom_txn_numbers: bool | None = Field(default=None, description="SalesFormsPrefs.CustomTxnNumbers")
    custom_field: bool | None = Field(default=None, description='The sales forms\' custom field "flexbill id".')
    print_custom_field: bool | None = Field(default=None, description='The custom field\'s "Print on form".')


class FaultRequest(_Body):
    kind: FaultKind
    method: str = "*"
    path: str = "*"
    count: int | None = Field(default=1, ge=1)
    status: int | None = Field(default=None, ge=400, le=599)
    code: str = "6000"
    message: str | None = None
    detail: str | None = None
    seconds: float = Field(default=0.0, ge=0, le=600)
    xml: bool = False
    mode: LoseMode = "disconnect"
    entity: str | None = Field(default=None, description="Only calls about this entity, e.g. Invoice (batches too).")


class PayRequest(_Body):
    amount: Decimal | None = Field(default=None, gt=0, description="Default: the invoice's whole balance.")
    date: dt.date | None = Field(default=None, description="Default: the company's today.")
    account_id: str = Field(default="35", description="DepositToAccountRef (35: Business Bank Account).")
    reference: str | None = Field(default=None, description="PaymentRefNum.")


def _sandbox(request: Request) -> QuickBooksSandbox:
    sandbox: QuickBooksSandbox = request.app.state.sandbox
    return sandbox


def _as_user(request: Request, name: str, change: Callable[[], dict[str, Any]]) -> Response:
    """Run a change a user makes in QuickBooks; a broken rule is a 404 (no such record) or a 409."""
    sandbox = _sandbox(request)
    try:
        entity = change()
    except QboError as failure:
        status = 404 if failure.errors[0].code == "610" else 409
        return JSONResponse({"error": str(failure), "Fault": fault_object(failure)}, status_code=status)
    return QboJSONResponse({name: entity, "time": answer_time(sandbox.clock.now())})


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
    webhooks.configure(body.url, body.verifier_token)
    if body.format is not None:
        webhooks.set_format(body.format)
    return webhooks.status()


@router.post("/webhooks/flush")
def flush_webhooks(request: Request) -> dict[str, Any]:
    webhooks = _sandbox(request).webhooks
    return {"flushed": webhooks.flush(timeout=30.0), **webhooks.status()}


@router.post("/tokens")
def mint_tokens(request: Request, body: TokenRequest | None = None) -> dict[str, Any]:
    """Tokens for a client without the browser round trip (benchmarks, scripts and tests)."""
    sandbox = _sandbox(request)
    wanted = body or TokenRequest()
    tokens = sandbox.tokens.mint(client_id=wanted.client_id, scope=wanted.scope)
    return {**tokens, "realm_id": sandbox.realm_id}


@router.post("/tokens/revoke-all")
def revoke_all(request: Request) -> dict[str, Any]:
    return {"revoked_grants": _sandbox(request).tokens.revoke_all()}


@router.post("/tokens/expire-access")
def expire_access(request: Request) -> dict[str, Any]:
    return {"expired": _sandbox(request).tokens.expire_access_tokens()}


@router.get("/limits")
def get_limits(request: Request) -> dict[str, int | str]:
    return _sandbox(request).limiter.limits.as_dict()


@router.put("/limits")
def put_limits(request: Request, body: LimitsRequest) -> dict[str, int | str]:
    limiter = _sandbox(request).limiter
    changes = {name: value for name, value in body.model_dump().items() if value is not None}
    limiter.limits = dataclasses.replace(limiter.limits, **changes)
    return limiter.limits.as_dict()


@router.get("/preferences")
def get_preferences(request: Request) -> dict[str, bool]:
    return _sandbox(request).company.settings()


@router.put("/preferences")
def put_preferences(request: Request, body: PreferencesRequest) -> dict[str, bool]:
    company = _sandbox(request).company
    company.set_preferences(**body.model_dump(exclude_none=True))
    return company.settings()


@router.get("/faults")
def get_faults(request: Request) -> dict[str, Any]:
    faults = _sandbox(request).faults
    return {"pending": faults.pending(), "fired": dict(faults.fired)}


@router.post("/faults", status_code=201, response_model=None)
def add_fault(request: Request, body: FaultRequest) -> Response:
    try:
        fault = _sandbox(request).faults.add(**body.model_dump())
    except ValueError as problem:
        return JSONResponse({"error": str(problem)}, status_code=422)
    return JSONResponse(fault.as_dict(), status_code=201)


@router.delete("/faults")
def clear_faults(request: Request) -> dict[str, Any]:
    faults = _sandbox(request).faults
    faults.clear()
    return {"pending": [], "fired": dict(faults.fired)}


@router.post("/invoices/{identifier}/pay", response_model=None)
def pay_invoice(request: Request, identifier: str, body: PayRequest | None = None) -> Response:
    """A user receives a payment against the invoice in QuickBooks (its Id or DocNumber)."""
    wanted = body or PayRequest()
    company = _sandbox(request).company
    return _as_user(
        request,
        "Payment",
        lambda: company.pay_as_user(
            identifier, amount=wanted.amount, on=wanted.date, account_id=wanted.account_id, reference=wanted.reference
        ),
    )


@router.post("/invoices/{identifier}/void", response_model=None)
def void_invoice(request: Request, identifier: str) -> Response:
    company = _sandbox(request).company
    return _as_user(request, "Invoice", lambda: company.void_as_user(identifier))


@router.post("/invoices/{identifier}/delete", response_model=None)
def delete_invoice(request: Request, identifier: str) -> Response:
    company = _sandbox(request).company
    return _as_user(request, "Invoice", lambda: company.delete_as_user(identifier))


@router.post("/customers/{customer_id}", response_model=None)
async def edit_customer(request: Request, customer_id: str) -> Response:
    """A user edits a customer in QuickBooks; the body holds QuickBooks' customer fields (a sparse update)."""
    try:
        changes = loads(await request.body())
    except ValueError:
        changes = None
    if not isinstance(changes, dict):
        return JSONResponse({"error": "the body must be a JSON object of QuickBooks customer fields"}, status_code=400)
    company = _sandbox(request).company
    return _as_user(request, "Customer", lambda: company.edit_customer_as_user(customer_id, changes))


router.include_router(time_router(lambda request: _sandbox(request).clock))
