"""The Xero sandbox as an ASGI app: the routes behind the gateway, with Xero-shaped errors."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

from flexbill.sandbox.xero import api, control, identity
from flexbill.sandbox.xero.gateway import API_PREFIX, Gateway, route_path
from flexbill.sandbox.xero.sandbox import XeroSandbox
from flexbill.sandbox.xero.wire import XeroJSONResponse, api_error, problem


def create_xero_app(sandbox: XeroSandbox) -> ASGIApp:
    """Xero's hosts under one root: ``/api.xro/2.0`` (accounting), ``/identity`` and ``/connections`` (identity)
    and ``/_sandbox`` (control). Its OpenAPI page is ``/_sandbox/docs``."""
    app = FastAPI(
        title="Xero sandbox",
        description="A local stand-in of Xero's Accounting API, identity service and webhooks.",
        docs_url="/_sandbox/docs",
        openapi_url="/_sandbox/openapi.json",
        redoc_url=None,
    )
    app.state.sandbox = sandbox
    app.include_router(api.router, prefix=API_PREFIX)
    app.include_router(identity.router)
    app.include_router(control.router)
    app.add_exception_handler(api.ApiProblem, _api_problem)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    return Gateway(app, sandbox)


def _api_problem(_request: Request, error: api.ApiProblem) -> Response:
    return XeroJSONResponse(error.body, status_code=error.status)


def _invalid_request(request: Request, error: RequestValidationError) -> Response:
    details = "; ".join(
        f"{'.'.join(str(p) for p in item.get('loc', ()))}: {item.get('msg')}" for item in error.errors()
    )
    if route_path(request.scope).lower().startswith(API_PREFIX.lower()):
        return XeroJSONResponse(api_error(10, "ValidationException", details), status_code=400)
    return JSONResponse({"error": details, "detail": error.errors()}, status_code=422)


def _http_error(request: Request, error: StarletteHTTPException) -> Response:
    if error.status_code == 404:
        body = problem(404, "NotFound", "The resource you're looking for cannot be found")
    else:
        body = problem(error.status_code, str(error.detail), str(error.detail))
    return XeroJSONResponse(body, status_code=error.status_code, headers=getattr(error, "headers", None))
