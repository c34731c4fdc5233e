"""The QuickBooks sandbox as an ASGI app: the routes behind the gateway, with QuickBooks-shaped errors."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

from flexbill.sandbox.quickbooks import api, control, identity
from flexbill.sandbox.quickbooks.gateway import API_PREFIX, Gateway, route_path
from flexbill.sandbox.quickbooks.sandbox import QuickBooksSandbox
from flexbill.sandbox.quickbooks.wire import QboError, QboJSONResponse, error, fault_body


def create_quickbooks_app(sandbox: QuickBooksSandbox) -> ASGIApp:
    """Intuit's hosts under one root: ``/v3/company/{realmId}`` (accounting), the OAuth endpoints and
    ``/_sandbox`` (control). Its OpenAPI page is ``/_sandbox/docs``."""
    app = FastAPI(
        title="QuickBooks Online sandbox",
        description="A local stand-in of QuickBooks Online's Accounting API, Intuit's OAuth 2.0 and webhooks.",
        docs_url="/_sandbox/docs",
        openapi_url="/_sandbox/openapi.json",
        redoc_url=None,
    )
    app.state.sandbox = sandbox
    app.include_router(api.router)
    app.include_router(identity.router)
    app.include_router(control.router)
    app.add_exception_handler(QboError, _fault)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    return Gateway(app, sandbox)


def _fault(request: Request, failure: QboError) -> Response:
    sandbox: QuickBooksSandbox = request.app.state.sandbox
    sandbox.stats.fault(failure.errors[0].code)
    return QboJSONResponse(fault_body(failure, now=sandbox.clock.now()), status_code=failure.status)


def _invalid_request(request: Request, problem: RequestValidationError) -> Response:
    details = "; ".join(
        f"{'.'.join(str(p) for p in item.get('loc', ()))}: {item.get('msg')}" for item in problem.errors()
    )
    if route_path(request.scope).startswith(API_PREFIX):
        return _fault(request, error("2010", "Request has invalid or unsupported property", details))
    return JSONResponse({"error": details, "detail": problem.errors()}, status_code=422)


def _http_error(request: Request, problem: StarletteHTTPException) -> Response:
    if route_path(request.scope).startswith(API_PREFIX):
        failure = error(
            "500", "Unsupported Operation", f"Operation {request.method} {request.url.path} is not supported."
        )
        failure.status = problem.status_code
        return _fault(request, failure)
    return JSONResponse({"error": str(problem.detail)}, status_code=problem.status_code)
