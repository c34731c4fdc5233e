"""Routes of Intuit's OAuth 2.0 service: discovery, authorize, token, revoke, userinfo and the (empty) key set.

The discovery document names every endpoint with an absolute URL built from the request's base, so Intuit's
own ``intuit-oauth`` client (and any OpenID client) can be pointed at the sandbox. Token requests are
form-encoded and authenticate the client with HTTP Basic (``client_id``/``client_secret`` in the form work
too); revocation takes ``{"token": ...}`` as JSON, as Intuit's client sends it, or as a form.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from flexbill.sandbox.quickbooks.gateway import own_url
from flexbill.sandbox.quickbooks.oauth import ISSUER, SCOPES_SUPPORTED, OAuthError, TokenStore, jwks
from flexbill.sandbox.quickbooks.sandbox import QuickBooksSandbox

router = APIRouter()
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _sandbox(request: Request) -> QuickBooksSandbox:
    sandbox: QuickBooksSandbox = request.app.state.sandbox
    return sandbox


def _tokens(request: Request) -> TokenStore:
    return _sandbox(request).tokens


def _oauth_error(error: OAuthError) -> JSONResponse:
    body: dict[str, str] = {"error": error.code}
    if error.description:
        body["error_description"] = error.description
    return JSONResponse(body, status_code=error.status, headers=_NO_STORE)


def _client(request: Request, form: dict[str, str]) -> str:
    """The client id, from HTTP Basic or the form. Any id and secret are accepted; an id is required."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
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
    raw = (await request.body()).decode("utf-8", "replace")
    if "json" in request.headers.get("content-type", ""):
        try:
            loaded = json.loads(raw or "{}")
        except ValueError:
            raise OAuthError("invalid_request", "the body is not valid JSON") from None
        return {str(key): str(value) for key, value in loaded.items()} if isinstance(loaded, dict) else {}
    return {key: values[-1] for key, values in parse_qs(raw, keep_blank_values=True).items()}


@router.get("/.well-known/openid_configuration")
def discovery(request: Request) -> dict[str, Any]:
    """Intuit's OpenID discovery document, with the sandbox's own endpoints."""
    base = own_url(request.scope)
    return {
        "issuer": ISSUER,
        "authorization_endpoint": f"{base}/connect/oauth2",
        "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
        "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo",
        "revocation_endpoint": f"{base}/oauth2/v1/tokens/revoke",
        "jwks_uri": f"{base}/oauth2/v1/keys",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": list(SCOPES_SUPPORTED),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"],
    }


@router.get("/oauth2/v1/keys")
def keys() -> dict[str, Any]:
    """The public key that id tokens are signed with (RS256)."""
    return jwks()


@router.get("/connect/oauth2", response_model=None)
def authorize(request: Request) -> Response:
    """The user signs in and consents at once; the browser goes back with a code, the state and the realm id."""
    params = request.query_params
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    if not client_id or not redirect_uri:
        page = "<!doctype html><title>QuickBooks sandbox</title><p>client_id and redirect_uri are required.</p>"
        return HTMLResponse(page, 400)
    separator = "&" if "?" in redirect_uri else "?"
    state = params.get("state")

    def back(values: dict[str, str]) -> RedirectResponse:
        if state is not None:
            values["state"] = state
        return RedirectResponse(f"{redirect_uri}{separator}{urlencode(values)}", status_code=302)

    if params.get("response_type") != "code":
        return back({"error": "unsupported_response_type"})
    try:
        code = _tokens(request).authorize(client_id=client_id, redirect_uri=redirect_uri, scope=params.get("scope", ""))
    except OAuthError as error:
        return back({"error": error.code})
    return back({"code": code, "realmId": _sandbox(request).realm_id})


@router.post("/oauth2/v1/tokens/bearer", response_model=None)
async def token(request: Request) -> Response:
    store = _tokens(request)
    try:
        form = await _form(request)
        client_id = _client(request, form)
        grant_type = form.get("grant_type", "")
        if grant_type == "authorization_code":
            if not form.get("code"):
                raise OAuthError("invalid_request", "code is required")
            body = store.exchange_code(client_id=client_id, code=form["code"], redirect_uri=form.get("redirect_uri"))
        elif grant_type == "refresh_token":
            if not form.get("refresh_token"):
                raise OAuthError("invalid_request", "refresh_token is required")
            body = store.refresh_tokens(client_id=client_id, refresh_token=form["refresh_token"])
        else:
            raise OAuthError("unsupported_grant_type")
    except OAuthError as error:
        return _oauth_error(error)
    return JSONResponse(body, headers=_NO_STORE)


@router.post("/oauth2/v1/tokens/revoke", response_model=None)
async def revoke(request: Request) -> Response:
    """Ends the grant behind the token (access or refresh); an unknown token is answered 200 too."""
    try:
        form = await _form(request)
        client_id = _client(request, form)
        if not form.get("token"):
            raise OAuthError("invalid_request", "token is required")
    except OAuthError as error:
        return _oauth_error(error)
    _tokens(request).revoke(client_id=client_id, token=form["token"])
    return Response(status_code=200)


@router.get("/v1/openid_connect/userinfo", response_model=None)
def userinfo(request: Request) -> Response:
    store = _tokens(request)
    scheme, _, token_value = request.headers.get("authorization", "").partition(" ")
    caller = store.check(token_value.strip()) if scheme.lower() == "bearer" else "no bearer token"
    if isinstance(caller, str):
        return JSONResponse(
            {"error": "invalid_token", "error_description": caller},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return JSONResponse(store.userinfo())
