"""Routes of Xero's identity service: authorize, token, revocation, ``/connections`` and the OIDC discovery.

Token requests are form-encoded (``application/x-www-form-urlencoded``); the client authenticates with HTTP
Basic or with ``client_id``/``client_secret`` in the form (a PKCE client may send its id alone).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from flexbill.sandbox.xero.gateway import own_url
from flexbill.sandbox.xero.oauth import OAuthError, TokenStore
from flexbill.sandbox.xero.sandbox import XeroSandbox

router = APIRouter()
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _tokens(request: Request) -> TokenStore:
    sandbox: XeroSandbox = request.app.state.sandbox
    return sandbox.tokens


def _oauth_error(error: OAuthError) -> JSONResponse:
    body: dict[str, str] = {"error": error.code}
    if error.description:
        body["error_description"] = error.description
    return JSONResponse(body, status_code=error.status, headers=_NO_STORE)


def _client(request: Request, form: dict[str, str]) -> str:
    """The client id, from HTTP Basic or the form. Any id and secret are accepted; an id is required."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            client_id, _, _secret = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError("invalid_client", "the Basic credentials are not base64", status=401) from None
        if client_id:
            return client_id
    client_id = form.get("client_id", "")
    if not client_id:
        raise OAuthError("invalid_client", "authenticate with HTTP Basic or send client_id", status=401)
    return client_id


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", "replace")
    return {key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()}


@router.get("/identity/connect/authorize", response_model=None)
def authorize(request: Request) -> Response:
    """The user signs in and consents at once; the browser goes straight back to the app with a code."""
    params = request.query_params
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    if not client_id or not redirect_uri:
        return HTMLResponse(
            "<!doctype html><title>Xero sandbox</title><p>client_id and redirect_uri are required.</p>", 400
        )
    separator = "&" if "?" in redirect_uri else "?"
    state = params.get("state")

    def back(values: dict[str, str]) -> RedirectResponse:
        if state is not None:
            values["state"] = state
        return RedirectResponse(f"{redirect_uri}{separator}{urlencode(values)}", status_code=302)

    if params.get("response_type") != "code":
        return back({"error": "unsupported_response_type"})
    try:
        code = _tokens(request).authorize(
            client_id=client_id,
            redirect_uri=redirect_uri,
            scope=params.get("scope", ""),
            code_challenge=params.get("code_challenge") or None,
            code_challenge_method=params.get("code_challenge_method") or None,
        )
    except OAuthError as error:
        return back({"error": error.code})
    return back({"code": code, "scope": params.get("scope", ""), "session_state": code[:16]})


@router.post("/identity/connect/token", response_model=None)
async def token(request: Request) -> Response:
    form = await _form(request)
    store = _tokens(request)
    try:
        client_id = _client(request, form)
        grant_type = form.get("grant_type", "")
        if grant_type == "authorization_code":
            if not form.get("code"):
                raise OAuthError("invalid_request", "code is required")
            body = store.exchange_code(
                client_id=client_id,
                code=form["code"],
                redirect_uri=form.get("redirect_uri"),
                code_verifier=form.get("code_verifier"),
            )
        elif grant_type == "refresh_token":
            if not form.get("refresh_token"):
                raise OAuthError("invalid_request", "refresh_token is required")
            body = store.refresh_tokens(client_id=client_id, refresh_token=form["refresh_token"])
        elif grant_type == "client_credentials":
            body = store.client_credentials(client_id=client_id, scope=form.get("scope"))
        else:
            raise OAuthError("unsupported_grant_type")
    except OAuthError as error:
        return _oauth_error(error)
    return JSONResponse(body, headers=_NO_STORE)


@router.post("/identity/connect/revocation", response_model=None)
async def revocation(request: Request) -> Response:
    form = await _form(request)
    try:
        client_id = _client(request, form)
    except OAuthError as error:
        return _oauth_error(error)
    if not form.get("token"):
        return _oauth_error(OAuthError("invalid_request", "token is required"))
    _tokens(request).revoke(client_id=client_id, token=form["token"])
    return Response(status_code=200)


@router.get("/identity/.well-known/openid-configuration")
def discovery(request: Request) -> dict[str, Any]:
    base = own_url(request.scope)
    return {
        "issuer": f"{base}/identity",
        "authorization_endpoint": f"{base}/identity/connect/authorize",
        "token_endpoint": f"{base}/identity/connect/token",
        "revocation_endpoint": f"{base}/identity/connect/revocation",
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": sorted(
            {
                "openid",
                "profile",
                "email",
                "offline_access",
                "accounting.transactions",
                "accounting.transactions.read",
                "accounting.contacts",
                "accounting.contacts.read",
                "accounting.settings",
                "accounting.settings.read",
                "accounting.attachments",
                "accounting.attachments.read",
            }
        ),
    }


@router.get("/connections", response_model=None)
@router.get("/Connections", response_model=None, include_in_schema=False)
def connections(request: Request) -> Response:
    caller = request.state.caller
    store = _tokens(request)
    wanted = request.query_params.get("authEventId")
    items = [
        {
            "id": c.connection_id,
            "authEventId": c.auth_event_id,
            "tenantId": c.tenant_id,
            "tenantType": "ORGANISATION",
            "tenantName": store.tenant_name,
            "createdDateUtc": c.created.strftime("%Y-%m-%dT%H:%M:%S.%f0"),
            "updatedDateUtc": c.updated.strftime("%Y-%m-%dT%H:%M:%S.%f0"),
        }
        for c in store.connections_for(caller.client_id)
        if not wanted or c.auth_event_id == wanted
    ]
    return JSONResponse(items)


@router.delete("/connections/{connection_id}", response_model=None)
@router.delete("/Connections/{connection_id}", response_model=None, include_in_schema=False)
def disconnect(request: Request, connection_id: str) -> Response:
    if not _tokens(request).disconnect(request.state.caller.client_id, connection_id):
        return JSONResponse({"Title": "NotFound", "Status": 404, "Detail": "No such connection"}, status_code=404)
    return Response(status_code=204)
