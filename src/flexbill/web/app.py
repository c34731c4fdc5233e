"""The web application: the JSON API under /api/v1 (the staff console and the portal join it later)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from flexbill import __version__
from flexbill.bootstrap import Context
from flexbill.errors import FlexbillError
from flexbill.web import mail, pay
from flexbill.web.api import accounting, billing, catalog, customers, invoices, payments
from flexbill.web.webhooks import accounting as accounting_webhooks
from flexbill.web.webhooks import payments as payment_webhooks

API_PREFIX = "/api/v1"
logger = logging.getLogger("flexbill.web")


def create_app(ctx: Context) -> FastAPI:
    app = FastAPI(
        title="flexbill API",
        version=__version__,
        description="Billing for flexible workspaces. Amounts are decimal strings; dates are YYYY-MM-DD; "
        "end dates are inclusive. Authenticate with `Authorization: Bearer <api key>`.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.context = ctx
    api = (catalog.router, customers.router, billing.router, invoices.router, accounting.router, payments.router)
    for router in api:
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(accounting.callback_router)
    app.include_router(payment_webhooks.router)  # before /webhooks/{provider}, which would take /webhooks/stripe
    app.include_router(accounting_webhooks.router)
    if ctx.settings.smtp_host is None:  # emails go to the local capture: show what it caught
        app.include_router(mail.router)
    app.include_router(pay.router)
    app.add_exception_handler(FlexbillError, _flexbill_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(IntegrityError, _integrity_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_error)

    @app.get("/", include_in_schema=False)
    def home() -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><title>flexbill</title><h1>flexbill</h1>"
            f"<p>The API is at <a href='{API_PREFIX}/docs'>{API_PREFIX}/docs</a> "
            f"(<a href='{API_PREFIX}/openapi.json'>OpenAPI</a>).</p>"
        )

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app


def _error(
    status_code: int, message: str, field: str | None, errors: list[dict[str, str | None]] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"message": message, "field": field}
    body["errors"] = errors if errors is not None else [{"field": field, "message": message}]
    return JSONResponse(status_code=status_code, content=body)


def _flexbill_error(_request: Request, error: FlexbillError) -> JSONResponse:
    message = f"{error.field}: {error.message}" if error.field else error.message
    return _error(error.status_code, message, error.field)


def _validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
    errors: list[dict[str, str | None]] = []
    for item in error.errors():
        field, text = _describe(item)
        errors.append({"field": field, "message": f"{field}: {text}" if field else text})
    message = "; ".join(str(e["message"]) for e in errors) or "the request is not valid"
    return _error(422, message, errors[0]["field"] if errors else None, errors)


_DATE_ERRORS = frozenset({"date_parsing", "date_from_datetime_parsing", "date_from_datetime_inexact", "date_type"})


def _describe(item: Mapping[str, Any]) -> tuple[str | None, str]:
    """The field (wire name, dotted) and the message of one of pydantic's errors, in words a caller can act on."""
    raw_location = tuple(item.get("loc", ()))
    in_body = bool(raw_location) and raw_location[0] == "body"
    location = [str(part) for part in raw_location if part not in ("body", "query", "path")]
    kind = item.get("type")
    field = ".".join(location) or None
    text = str(item.get("msg", "is not valid")).removeprefix("Value error, ")
    if kind == "json_invalid":
        detail = (item.get("ctx") or {}).get("error")
        return None, "the request body is not valid JSON" + (f" ({detail})" if detail else "")
    if in_body and field is None:
        if kind == "missing":
            return None, "the request needs a JSON object as its body"
        if kind in ("model_attributes_type", "dict_type"):
            return None, "the request body must be a JSON object"
    if kind == "missing":
        text = "is required"
    elif kind == "extra_forbidden":
        text = "is not a field of this request"
    elif kind in _DATE_ERRORS:
        value = item.get("input")
        shown = f"{value!r} is not a date" if value is not None else "a date is required"
        detail = (item.get("ctx") or {}).get("error")
        text = f"{shown}: dates are YYYY-MM-DD, such as 2026-11-01" + (f" ({detail})" if detail else "")
    return field, text


def _integrity_error(_request: Request, error: IntegrityError) -> JSONResponse:
    return _error(409, f"the change conflicts with existing data ({error.orig.__class__.__name__})", None)


def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    logger.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
    return _error(500, "flexbill could not complete the request; the error is in its log", None)


def _http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
    response = _error(error.status_code, str(error.detail), None)
    for name, value in (error.headers or {}).items():
        response.headers[name] = value
    return response
