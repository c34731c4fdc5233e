"""The pages a member sees: hosted Checkout, the 3-D Secure page and the receipt. Plain HTML forms, no JavaScript.

Checkout (``/checkout/{session id}``) shows the merchant, what is paid (or "save a card"), the test cards as
radio buttons, a Pay or Save button and the cancel link. Submitting pays (or saves the card) and redirects (303)
to the session's ``success_url``; a declined card is shown on the page so the member can choose another; a card
that needs 3-D Secure goes to ``/authenticate/{payment intent id}`` first. The control endpoints complete a
checkout or authenticate a payment through the same functions, :func:`complete_checkout` and
:func:`authenticate`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from flexbill.sandbox.stripe.cards import TEST_CARDS
from flexbill.sandbox.stripe.errors import StripeError
from flexbill.sandbox.stripe.model import PaymentIntent
from flexbill.sandbox.stripe.params import form_pairs
from flexbill.sandbox.stripe.render import display_amount
from flexbill.sandbox.stripe.sandbox import StripeSandbox
from flexbill.sandbox.stripe.state import Account, CheckoutOutcome, success_redirect

router = APIRouter(include_in_schema=False)
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"])
)


class PageMissing(Exception):
    """No such session, payment or charge in any account."""


def _sandbox(request: Request) -> StripeSandbox:
    sandbox: StripeSandbox = request.app.state.sandbox
    return sandbox


def _page(template: str, account: Account | None, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = _templates.get_template(template).render(
        merchant=account.business_name if account else "Stripe sandbox",
        account_id=account.id if account else "",
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


def _missing(what: str) -> HTMLResponse:
    return _page("missing.html", None, 404, message=f"There is no {what} here: the link may be wrong or old.")


def _owner(sandbox: StripeSandbox, object_id: str) -> Account:
    account = sandbox.owner_of(object_id)
    if account is None:
        raise PageMissing(object_id)
    return account


def complete_checkout(
    sandbox: StripeSandbox, session_id: str, token: str, *, email: str | None = None, name: str | None = None
) -> tuple[Account, CheckoutOutcome]:
    """Pay (or save a card on) a hosted Checkout Session with a test card, as the member does on the page."""
    with sandbox.lock:
        account = _owner(sandbox, session_id)
        return account, account.complete_checkout(session_id, token, email=email, name=name)


def authenticate(sandbox: StripeSandbox, intent_id: str, *, succeed: bool) -> tuple[Account, PaymentIntent, str | None]:
    """The member's answer on the 3-D Secure page; also where to send them next."""
    with sandbox.lock:
        account = _owner(sandbox, intent_id)
        intent = account.authenticate(intent_id, succeed=succeed)
        return account, intent, account.after_authentication(intent)


def _checkout_page(account: Account, session_id: str, status_code: int = 200) -> HTMLResponse:
    account.sweep()
    session = account.checkout_session(session_id)
    customer = account.customers.get(session.customer or "")
    details = session.customer_details or {}
    return _page(
        "checkout.html",
        account,
        status_code,
        payment=session.mode == "payment",
        total=display_amount(session.amount_total, session.currency or "usd"),
        items=[
            {"name": item.name, "quantity": item.quantity, "amount": display_amount(item.amount, item.currency)}
            for item in session.line_items
        ],
        status=session.status,
        error=session.last_error,
        email=details.get("email") or session.customer_email or (customer.email if customer else None),
        name=details.get("name") or (customer.name if customer else None),
        cards=list(TEST_CARDS.values()),
        action=f"{account.base_url}/checkout/{session.id}",
        cancel_url=session.cancel_url,
        success_url=success_redirect(session),
    )


@router.get("/checkout/{session_id}")
def checkout_page(request: Request, session_id: str) -> Response:
    sandbox = _sandbox(request)
    with sandbox.lock:
        account = sandbox.owner_of(session_id)
        if account is None:
            return _missing("checkout page")
        return _checkout_page(account, session_id)


@router.post("/checkout/{session_id}")
async def submit_checkout(request: Request, session_id: str) -> Response:
    sandbox = _sandbox(request)
    form = dict(form_pairs(await request.body()))
    token = form.get("payment_method", "")
    try:
        account, outcome = await run_in_threadpool(
            complete_checkout,
            sandbox,
            session_id,
            token,
            email=form.get("email") or None,
            name=form.get("name") or None,
        )
    except PageMissing:
        return _missing("checkout page")
    except StripeError as error:
        with sandbox.lock:
            account = _owner(sandbox, session_id)
            account.checkout_session(session_id).last_error = error.message
            return _checkout_page(account, session_id, 400)
    if outcome.kind == "declined":
        with sandbox.lock:
            return _checkout_page(account, session_id, 402)
    if outcome.redirect_url is None:
        with sandbox.lock:
            return _checkout_page(account, session_id)
    return RedirectResponse(outcome.redirect_url, status_code=303)


@router.get("/authenticate/{intent_id}")
def authenticate_page(request: Request, intent_id: str) -> Response:
    sandbox = _sandbox(request)
    with sandbox.lock:
        account = sandbox.owner_of(intent_id)
        if account is None:
            return _missing("payment to authenticate")
        intent = account.payment_intent(intent_id)
        method = account.payment_methods.get(intent.payment_method or "")
        return _page(
            "authenticate.html",
            account,
            amount=display_amount(intent.amount, intent.currency),
            last4=method.card.last4 if method else "",
            pending=intent.status == "requires_action",
            status=intent.status.replace("_", " "),
            action=f"{account.base_url}/authenticate/{intent.id}",
        )


@router.post("/authenticate/{intent_id}")
async def submit_authentication(request: Request, intent_id: str) -> Response:
    sandbox = _sandbox(request)
    form = dict(form_pairs(await request.body()))
    try:
        _account, _intent, redirect = await run_in_threadpool(
            authenticate, sandbox, intent_id, succeed=form.get("outcome") == "succeed"
        )
    except PageMissing:
        return _missing("payment to authenticate")
    except StripeError:
        return authenticate_page(request, intent_id)
    if redirect is None:
        return authenticate_page(request, intent_id)
    return RedirectResponse(redirect, status_code=303)


@router.get("/receipts/{charge_id}")
def receipt_page(request: Request, charge_id: str) -> Response:
    sandbox = _sandbox(request)
    with sandbox.lock:
        account = sandbox.owner_of(charge_id)
        if account is None:
            return _missing("receipt")
        charge = account.charge(charge_id)
        return _page(
            "receipt.html",
            account,
            amount=display_amount(charge.amount, charge.currency),
            paid_on=datetime.fromtimestamp(charge.created, UTC).strftime("%d %B %Y"),
            brand=charge.card.brand.title(),
            last4=charge.card.last4,
            description=charge.description,
            refunded=display_amount(charge.amount_refunded, charge.currency) if charge.amount_refunded else None,
            charge_id=charge.id,
        )
