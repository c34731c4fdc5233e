"""Server-rendered pages of the console and the portal: one Jinja2 environment, the filters the pages share (money
and dates written the way the invoices write them), flash messages and the CSRF cookie."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from flexbill.formatting import format_money
from flexbill.web.security import CSRF_COOKIE, CSRF_FIELD, context_of, csrf_token, set_cookie

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
FLASH_COOKIE = "flexbill_flash"

environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,  # a misspelt name in a template fails its test instead of showing nothing
    trim_blocks=True,
    lstrip_blocks=True,
)


def _money(amount: Decimal | str | None, currency: str) -> str:
    if amount is None:
        return ""
    return format_money(Decimal(amount), currency)


def _day(value: dt.date | dt.datetime | None, style: str = "short") -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%d %b %Y %H:%M")
    return value.strftime("%d %b %Y" if style == "short" else "%A %d %B %Y")


def _label(value: str | None) -> str:
    return (value or "").replace("_", " ").capitalize()


environment.filters["money"] = _money
environment.filters["day"] = _day
environment.filters["label"] = _label


def render(request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200) -> HTMLResponse:
    token = csrf_token(request)
    values: dict[str, Any] = {
        "request": request,
        "csrf_field": Markup(f'<input type="hidden" name="{CSRF_FIELD}" value="{token}">'),
        "csrf_token": token,
        "flash": unquote(request.cookies.get(FLASH_COOKIE, ""))[:300],
        "staff": getattr(request.state, "staff", None),
        "member": getattr(request.state, "member", None),
        "today": context_of(request).clock.today(),
    }
    values.update(context or {})
    response = HTMLResponse(environment.get_template(template).render(values), status_code=status)
    response.headers["cache-control"] = "no-store"  # pages show money and personal details
    ctx = context_of(request)
    if request.cookies.get(CSRF_COOKIE) != request.state.csrf_nonce:
        set_cookie(response, ctx, CSRF_COOKIE, request.state.csrf_nonce)
    if values["flash"]:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(request: Request, location: str, flash: str | None = None) -> RedirectResponse:
    """After a form's change: go to the page that shows it (POST-redirect-GET), with a one-line message."""
    response = RedirectResponse(location, status_code=303)
    if flash:
        set_cookie(response, context_of(request), FLASH_COOKIE, quote(flash[:300]), max_age=60)
    return response
