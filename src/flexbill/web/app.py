"""The web application: the JSON API under /api/v1 (the staff console and the portal join it later)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from flexbill import __version__
from flexbill.bootstrap import Context, build_context
from flexbill.db import pool_capacity
from flexbill.errors import FlexbillError
from flexbill.web import admin, mail, pay, portal
from flexbill.web.api import accounting, billing, catalog, customers, invoices, payments, webhook_endpoints
from flexbill.web.forms import describe_error
from flexbill.web.middleware import Admission, AuditActor
from flexbill.web.security import CsrfRefused, Forbidden, SignInRequired
from flexbill.web.templating import STATIC, render
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
    app.add_middleware(AuditActor)
    app.add_middleware(Admission, limit=pool_capacity(ctx.engine))  # outermost: waits before anything is held
    api = (catalog.router, customers.router, billing.router, invoices.router, accounting.router, payments.router,
           webhook_endpoints.router)  # fmt: skip
    for router in api:
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(accounting.callback_router)
    app.include_router(payment_webhooks.router)  # before /webhooks/{provider}, which would take /webhooks/stripe
    app.include_router(accounting_webhooks.router)
    if ctx.settings.smtp_host is None:  # emails go to the local capture: show what it caught
        app.include_router(mail.router)
    app.include_router(pay.router)
    app.include_router(admin.router)
    app.include_router(portal.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(SignInRequired, _sign_in_required)  # type: ignore[arg-type]
    app.add_exception_handler(Forbidden, _forbidden)  # type: ignore[arg-type]
    app.add_exception_handler(CsrfRefused, _csrf_refused)  # type: ignore[arg-type]
    app.add_exception_handler(FlexbillError, _flexbill_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(IntegrityError, _integrity_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_error)

    @app.get("/", include_in_schema=False)
    def home() -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><title>flexbill</title><h1>flexbill</h1>"
            "<p>Staff: the <a href='/admin'>console</a>. Members: the <a href='/portal'>portal</a>.</p>"
            f"<p>The API is at <a href='{API_PREFIX}/docs'>{API_PREFIX}/docs</a> "
            f"(<a href='{API_PREFIX}/openapi.json'>OpenAPI</a>).</p>"
        )

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app


def app_from_settings() -> FastAPI:
    """The app of the ``FLEXBILL_*`` settings, for a server that builds one in each of its processes (``flexbill
    serve --workers N``: see :mod:`flexbill.web.server`). It starts no task worker: ``flexbill serve`` runs that in
    its first process."""
    return create_app(build_context())


def _sign_in_required(_request: Request, needed: SignInRequired) -> Response:
    return RedirectResponse(needed.location, status_code=303)


def _page_message(request: Request, status_code: int, title: str, message: str) -> Response:
    template = "admin/message.html" if request.url.path.startswith("/admin") else "message.html"
    back = "/admin" if request.url.path.startswith("/admin") else "/portal"
    context = {"title": title, "message": message, "error": True, "back": back}
    return render(request, template, context, status=status_code)


def _forbidden(request: Request, refused: Forbidden) -> Response:
    return _page_message(request, 403, "Not allowed", refused.message)


def _csrf_refused(request: Request, _refused: CsrfRefused) -> Response:
    return _page_message(
        request,
        403,
        "Form expired",
        "This form is out of date or did not come from flexbill, so nothing was "
        "changed. Go back, reload the page and try again.",
    )


def _error(
    status_code: int, message: str, field: str | None, errors: list[dict[str, str | None]] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"message": message, "field": field}
    body["errors"] = errors if errors is not None else [{"field": field, "message": message}]
    return JSONResponse(status_code=status_code, content=body)


# People in the console and the portal get a page; programs on the API get JSON.
_PAGE_TITLES = {404: "Not found", 409: "Not possible now", 422: "Not valid", 500: "Something went wrong"}


def _is_page(request: Request) -> bool:
    return request.url.path.startswith(("/admin", "/portal"))


def _answer(request: Request, status_code: int, message: str, field: str | None, errors: Any = None) -> Response:
    if _is_page(request):
        shown = message[0].upper() + message[1:] if message else "The request could not be completed"
        return _page_message(request, status_code, _PAGE_TITLES.get(status_code, "Not possible"), shown + ".")
    return _error(status_code, message, field, errors)


def _flexbill_error(request: Request, error: FlexbillError) -> Response:
    message = f"{error.field}: {error.message}" if error.field else error.message
    return _answer(request, error.status_code, message, error.field)


def _validation_error(request: Request, error: RequestValidationError) -> Response:
    errors: list[dict[str, str | None]] = []
    for item in error.errors():
        field, text = describe_error(item)
        errors.append({"field": field, "message": f"{field}: {text}" if field else text})
    message = "; ".join(str(e["message"]) for e in errors) or "the request is not valid"
    return _answer(request, 422, message, errors[0]["field"] if errors else None, errors)


def _integrity_error(request: Request, error: IntegrityError) -> Response:
    return _answer(request, 409, f"the change conflicts with existing data ({error.orig.__class__.__name__})", None)


def _unexpected_error(request: Request, error: Exception) -> Response:
    logger.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
    return _answer(request, 500, "flexbill could not complete the request; the error is in its log", None)


def _http_error(request: Request, error: StarletteHTTPException) -> Response:
    response = _answer(request, error.status_code, str(error.detail), None)
    for name, value in (error.headers or {}).items():
        response.headers[name] = value
    return response
