"""Control endpoints under ``/_sandbox``: what an operator or a test does to the Stripe sandbox from outside.

They need no key (the sandbox is a local tool) and are never counted, limited or faulted. The list, with
request bodies, is in :mod:`flexbill.sandbox.stripe`'s docstring; the OpenAPI page is ``/_sandbox/docs``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from flexbill.sandbox.stripe import pages
from flexbill.sandbox.stripe.errors import StripeError
from flexbill.sandbox.stripe.faults import FaultKind
from flexbill.sandbox.stripe.limits import Limits
from flexbill.sandbox.stripe.sandbox import StripeSandbox
from flexbill.sandbox.stripe.state import Account
from flexbill.sandbox.timecontrol import time_router

router = APIRouter(prefix="/_sandbox")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResetRequest(_Body):
    webhook_endpoints: bool = Field(default=False, description="Also delete every webhook endpoint.")


class FaultRequest(_Body):
    operation: str = Field(default="*", description="payment_intents.create, refunds.create, a glob, or *.")
    kind: FaultKind
    times: int | None = Field(default=1, ge=1, description="How many requests; null keeps it until cleared.")
    seconds: float = Field(default=0.0, ge=0, le=600, description="How long a timeout fault holds the request.")


class RedeliverRequest(_Body):
    times: int = Field(default=1, ge=1, le=100)


class DisputeRequest(_Body):
    reason: str = Field(
        default="fraudulent",
        pattern="^(bank_cannot_process|check_returned|credit_not_processed|customer_initiated|debit_not_authorized|"
        "duplicate|fraudulent|general|incorrect_account_details|insufficient_funds|product_not_received|"
        "product_unacceptable|subscription_canceled|unrecognized)$",
    )


class CompleteRequest(_Body):
    payment_method: str = Field(default="pm_card_visa", description="A test card token, e.g. pm_card_visa.")
    email: str | None = None
    name: str | None = None


class AuthenticateRequest(_Body):
    succeed: bool = True


class LimitsRequest(_Body):
    per_second: int = Field(ge=1)


class AccountRequest(_Body):
    business_name: str = Field(min_length=1, max_length=100)


def _sandbox(request: Request) -> StripeSandbox:
    sandbox: StripeSandbox = request.app.state.sandbox
    return sandbox


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _owner(sandbox: StripeSandbox, object_id: str) -> Account | None:
    return sandbox.owner_of(object_id)


@router.get("/state")
def state(request: Request, account: str | None = None) -> dict[str, Any]:
    """Every account (or the one whose id is ``account``): its objects, events and webhook deliveries."""
    return _sandbox(request).state(account)


@router.post("/reset")
def reset(request: Request, body: ResetRequest | None = None) -> dict[str, Any]:
    sandbox = _sandbox(request)
    sandbox.reset(webhook_endpoints=bool(body and body.webhook_endpoints))
    return sandbox.state()


@router.get("/requests")
def requests(request: Request, account: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    return _sandbox(request).requests.recent(account, limit)


@router.get("/requests/{request_id}", response_model=None)
def one_request(request: Request, request_id: str) -> Response:
    found = _sandbox(request).requests.find(request_id)
    if found is None:
        return _error(404, f"no request {request_id} in the log")
    return JSONResponse(asdict(found))


@router.get("/faults")
def get_faults(request: Request) -> dict[str, Any]:
    faults = _sandbox(request).faults
    return {"pending": faults.pending(), "fired": dict(faults.fired), "operations": list(faults.operations)}


@router.post("/faults", status_code=201, response_model=None)
def add_fault(request: Request, body: FaultRequest) -> Response:
    try:
        fault = _sandbox(request).faults.add(
            body.kind, operation=body.operation, times=body.times, seconds=body.seconds
        )
    except ValueError as error:
        return _error(422, str(error))
    return JSONResponse(fault.as_dict(), status_code=201)


@router.delete("/faults")
def clear_faults(request: Request) -> dict[str, Any]:
    faults = _sandbox(request).faults
    faults.clear()
    return {"pending": [], "fired": dict(faults.fired)}


@router.get("/webhooks")
def webhooks(request: Request) -> dict[str, Any]:
    return _sandbox(request).webhooks.status()


@router.post("/webhooks/flush")
async def flush(request: Request) -> dict[str, Any]:
    """Deliver every pending webhook now (retries skip their delay) and wait until done."""
    dispatcher = _sandbox(request).webhooks
    flushed = await run_in_threadpool(dispatcher.flush, 30.0)
    return {"flushed": flushed, **dispatcher.status()}


@router.post("/events/{event_id}/redeliver", response_model=None)
def redeliver(request: Request, event_id: str, body: RedeliverRequest | None = None) -> Response:
    """Deliver an event again (receivers must ignore the duplicates)."""
    sandbox = _sandbox(request)
    with sandbox.lock:
        account = _owner(sandbox, event_id)
        if account is None:
            return _error(404, f"no event {event_id}")
        queued = sandbox.redeliver(account, event_id, body.times if body else 1)
    return JSONResponse({"event": event_id, "queued": queued})


@router.post("/charges/{charge_id}/dispute", response_model=None)
def dispute(request: Request, charge_id: str, body: DisputeRequest | None = None) -> Response:
    """The cardholder disputes the charge with their bank: a Dispute and ``charge.dispute.created``."""
    sandbox = _sandbox(request)
    with sandbox.lock:
        account = _owner(sandbox, charge_id)
        if account is None:
            return _error(404, f"no charge {charge_id}")
        try:
            created = account.open_dispute(charge_id, (body or DisputeRequest()).reason)
        except StripeError as error:
            return _error(409, error.message)
        return JSONResponse(account.render(created))


@router.post("/checkout/{session_id}/complete", response_model=None)
def complete(request: Request, session_id: str, body: CompleteRequest | None = None) -> Response:
    """Complete a hosted Checkout as the member would in a browser (same code as the page's form)."""
    wanted = body or CompleteRequest()
    sandbox = _sandbox(request)
    try:
        account, outcome = pages.complete_checkout(
            sandbox, session_id, wanted.payment_method, email=wanted.email, name=wanted.name
        )
    except pages.PageMissing:
        return _error(404, f"no checkout session {session_id}")
    except StripeError as error:
        return _error(409, error.message)
    with sandbox.lock:
        answer = {
            "outcome": outcome.kind,
            "message": outcome.message,
            "redirect_url": outcome.redirect_url,
            "session": account.render(outcome.session),
        }
    return JSONResponse(answer, status_code=402 if outcome.kind == "declined" else 200)


@router.post("/payment_intents/{intent_id}/authenticate", response_model=None)
def authenticate(request: Request, intent_id: str, body: AuthenticateRequest | None = None) -> Response:
    """The member's answer on the 3-D Secure page (``succeed: false`` fails the authentication)."""
    sandbox = _sandbox(request)
    try:
        account, intent, redirect = pages.authenticate(
            sandbox, intent_id, succeed=(body or AuthenticateRequest()).succeed
        )
    except pages.PageMissing:
        return _error(404, f"no payment intent {intent_id}")
    except StripeError as error:
        return _error(409, error.message)
    with sandbox.lock:
        return JSONResponse({"payment_intent": account.render(intent), "redirect_url": redirect})


@router.put("/accounts/{account_id}", response_model=None)
def name_account(request: Request, account_id: str, body: AccountRequest) -> Response:
    """The business name the hosted pages show for an account (as in Stripe's account settings)."""
    sandbox = _sandbox(request)
    with sandbox.lock:
        account = sandbox.account(account_id)
        if account is None:
            return _error(404, f"no account {account_id}: it opens with the first API request made with its key")
        account.business_name = body.business_name
        return JSONResponse({"id": account.id, "business_name": account.business_name})


@router.get("/limits")
def get_limits(request: Request) -> dict[str, int]:
    return _sandbox(request).limiter.limits.as_dict()


@router.put("/limits")
def put_limits(request: Request, body: LimitsRequest) -> dict[str, int]:
    limiter = _sandbox(request).limiter
    limiter.limits = Limits(per_second=body.per_second)
    return limiter.limits.as_dict()


router.include_router(time_router(lambda request: _sandbox(request).clock))
