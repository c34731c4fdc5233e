"""The identity service over real HTTP: the code flow, rotating refresh tokens with Xero's grace period,
revocation, ``/connections`` and what the Accounting API says to a bad token or tenant."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from flexbill.sandbox.clock import SandboxClock
from flexbill.sandbox.xero import XeroSandbox
from tests.sandbox.support import Xero, validate, validate_schema

REDIRECT = "https://billing.example.com/accounting/xero/callback"
SCOPE = "openid profile email offline_access accounting.transactions accounting.contacts accounting.settings"


def _authorize(http: httpx.Client, **extra: str) -> dict[str, list[str]]:
    params = {
        "response_type": "code",
        "client_id": "app-1",
        "redirect_uri": REDIRECT,
        "scope": SCOPE,
        "state": "xyz-123",
        **extra,
    }
    response = http.get("/xero/identity/connect/authorize", params=params)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return parse_qs(urlsplit(location).query)


def _token(http: httpx.Client, form: dict[str, str], *, basic: bool = True) -> httpx.Response:
    if basic:
        return http.post("/xero/identity/connect/token", data=form, auth=("app-1", "secret-1"))
    return http.post("/xero/identity/connect/token", data={**form, "client_id": "app-1", "client_secret": "secret-1"})


def _exchange(http: httpx.Client) -> dict[str, Any]:
    code = _authorize(http)["code"][0]
    response = _token(http, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT})
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def _refresh(http: httpx.Client, refresh_token: str, *, basic: bool = True) -> httpx.Response:
    return _token(http, {"grant_type": "refresh_token", "refresh_token": refresh_token}, basic=basic)


def _api(http: httpx.Client, token: str, tenant_id: str | None, resource: str = "Organisation") -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if tenant_id is not None:
        headers["xero-tenant-id"] = tenant_id
    return http.get(f"/xero/api.xro/2.0/{resource}", headers=headers)


def test_the_code_flow_end_to_end(http: httpx.Client, sandbox: XeroSandbox) -> None:
    redirect = _authorize(http)
    assert redirect["state"] == ["xyz-123"]
    assert redirect["scope"] == [SCOPE]
    response = _token(http, {"grant_type": "authorization_code", "code": redirect["code"][0], "redirect_uri": REDIRECT})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    validate_schema(tokens, "AccessToken")
    assert tokens["expires_in"] == 1800
    assert tokens["token_type"] == "Bearer"
    assert {"access_token", "refresh_token", "id_token", "scope"} <= set(tokens)
    claims = json.loads(base64.urlsafe_b64decode(tokens["access_token"].split(".")[1] + "=="))
    assert claims["client_id"] == "app-1"
    assert claims["exp"] - claims["nbf"] == 1800

    connections = http.get("/xero/connections", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    body = validate(connections, "/Connections", "get", spec="xero-identity.yaml")
    assert body == [
        {
            "id": body[0]["id"],
            "authEventId": claims["authentication_event_id"],
            "tenantId": sandbox.tenant_id,
            "tenantType": "ORGANISATION",
            "tenantName": "Demo Coworking Ltd",
            "createdDateUtc": "2026-11-02T09:30:00.0000000",
            "updatedDateUtc": "2026-11-02T09:30:00.0000000",
        }
    ]
    organisation = _api(http, tokens["access_token"], sandbox.tenant_id)
    assert organisation.status_code == 200
    assert organisation.json()["Organisations"][0]["Name"] == "Demo Coworking Ltd"


def test_every_client_gets_the_same_organisation(http: httpx.Client, sandbox: XeroSandbox) -> None:
    other = http.get(
        "/xero/identity/connect/authorize",
        params={"response_type": "code", "client_id": "app-2", "redirect_uri": "http://localhost/cb", "scope": SCOPE},
    )
    code = parse_qs(urlsplit(other.headers["location"]).query)["code"][0]
    tokens = http.post(
        "/xero/identity/connect/token", data={"grant_type": "authorization_code", "code": code}, auth=("app-2", "x")
    ).json()
    assert _api(http, tokens["access_token"], sandbox.tenant_id).status_code == 200


def test_codes_are_single_use_and_bound_to_their_client(http: httpx.Client) -> None:
    code = _authorize(http)["code"][0]
    wrong_client = http.post(
        "/xero/identity/connect/token", data={"grant_type": "authorization_code", "code": code}, auth=("app-9", "s")
    )
    assert (wrong_client.status_code, wrong_client.json()["error"]) == (400, "invalid_grant")
    assert _token(http, {"grant_type": "authorization_code", "code": code}).status_code == 200
    replay = _token(http, {"grant_type": "authorization_code", "code": code})
    assert (replay.status_code, replay.json()) == (400, {"error": "invalid_grant"})
    wrong_redirect = _token(
        http, {"grant_type": "authorization_code", "code": _authorize(http)["code"][0], "redirect_uri": "http://evil"}
    )
    assert wrong_redirect.json()["error"] == "invalid_grant"


def test_refresh_tokens_rotate_with_a_grace_period(
    http: httpx.Client, sandbox: XeroSandbox, clock: SandboxClock
) -> None:
    first = _exchange(http)
    second = _refresh(http, first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    clock.advance(timedelta(minutes=29))
    # the answer to the first refresh was lost: the old token still works, once, and gives the same new one
    retry = _refresh(http, first["refresh_token"], basic=False)
    assert retry.status_code == 200
    assert retry.json()["refresh_token"] == second["refresh_token"]
    assert _api(http, retry.json()["access_token"], sandbox.tenant_id).status_code == 200
    third = _refresh(http, second["refresh_token"]).json()
    assert _refresh(http, first["refresh_token"]).json() == {"error": "invalid_grant"}  # its successor is used
    clock.advance(timedelta(minutes=31))
    assert _refresh(http, second["refresh_token"]).status_code == 400  # past the grace period
    assert _refresh(http, third["refresh_token"]).status_code == 200


def test_the_grace_period_ends_after_thirty_minutes(http: httpx.Client, clock: SandboxClock) -> None:
    first = _exchange(http)
    _refresh(http, first["refresh_token"])
    clock.advance(timedelta(minutes=30, seconds=1))
    assert _refresh(http, first["refresh_token"]).json() == {"error": "invalid_grant"}


def test_refresh_tokens_expire_after_sixty_days_unused(http: httpx.Client, clock: SandboxClock) -> None:
    tokens = _exchange(http)
    clock.advance(timedelta(days=60, seconds=1))
    assert _refresh(http, tokens["refresh_token"]).json() == {"error": "invalid_grant"}


def test_access_tokens_last_thirty_minutes(http: httpx.Client, sandbox: XeroSandbox, clock: SandboxClock) -> None:
    tokens = _exchange(http)
    clock.advance(timedelta(minutes=29, seconds=59))
    assert _api(http, tokens["access_token"], sandbox.tenant_id).status_code == 200
    clock.advance(timedelta(seconds=1))
    expired = _api(http, tokens["access_token"], sandbox.tenant_id)
    assert expired.status_code == 401
    assert expired.headers["www-authenticate"] == "Bearer error=invalid_token"
    body = expired.json()
    assert body["Title"] == "Unauthorized"
    assert body["Status"] == 401
    assert body["Detail"].startswith("TokenExpired: token expired at 11/02/2026 10:00:00")


def test_tenant_and_scope_checks(http: httpx.Client, sandbox: XeroSandbox) -> None:
    tokens = _exchange(http)
    for tenant in (None, "", "00000000-0000-0000-0000-000000000000", "nonsense"):
        refused = _api(http, tokens["access_token"], tenant)
        assert refused.status_code == 403, tenant
        assert refused.json()["Detail"] == "AuthenticationUnsuccessful"
        assert "x-appminlimit-remaining" in refused.headers
        assert "x-minlimit-remaining" not in refused.headers
    code = _authorize(http, scope="offline_access accounting.contacts.read")["code"][0]
    narrow = _token(http, {"grant_type": "authorization_code", "code": code}).json()
    assert _api(http, narrow["access_token"], sandbox.tenant_id, "Contacts").status_code == 200
    denied = _api(http, narrow["access_token"], sandbox.tenant_id, "Invoices")
    assert (denied.status_code, denied.json()["Detail"]) == (403, "AuthorizationUnsuccessful")
    assert "refresh_token" in narrow
    assert "id_token" not in narrow


def test_revocation_ends_the_grant_and_the_connection(http: httpx.Client, sandbox: XeroSandbox) -> None:
    tokens = _exchange(http)
    response = http.post(
        "/xero/identity/connect/revocation", data={"token": tokens["refresh_token"]}, auth=("app-1", "s")
    )
    assert response.status_code == 200
    assert _refresh(http, tokens["refresh_token"]).json() == {"error": "invalid_grant"}
    assert _api(http, tokens["access_token"], sandbox.tenant_id).status_code == 401
    again = _exchange(http)
    connections = http.get("/xero/connections", headers={"Authorization": f"Bearer {again['access_token']}"}).json()
    assert len(connections) == 1
    deleted = http.delete(
        f"/xero/connections/{connections[0]['id']}", headers={"Authorization": f"Bearer {again['access_token']}"}
    )
    assert deleted.status_code == 204
    assert _api(http, again["access_token"], sandbox.tenant_id).status_code == 403  # the tenant is disconnected
    assert http.get("/xero/connections").status_code == 401


def test_pkce(http: httpx.Client) -> None:
    verifier = "a" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = _authorize(http, code_challenge=challenge, code_challenge_method="S256")["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "client_id": "app-1"}
    wrong = http.post("/xero/identity/connect/token", data={**form, "code_verifier": "b" * 50})
    assert wrong.json()["error"] == "invalid_grant"
    code = _authorize(http, code_challenge=challenge, code_challenge_method="S256")["code"][0]
    right = http.post("/xero/identity/connect/token", data={**form, "code": code, "code_verifier": verifier})
    assert right.status_code == 200


@pytest.mark.parametrize(
    ("form", "auth", "error"),
    [
        ({"grant_type": "password"}, ("app-1", "s"), "unsupported_grant_type"),
        ({"grant_type": "refresh_token"}, ("app-1", "s"), "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "nope"}, ("app-1", "s"), "invalid_grant"),
        ({"grant_type": "refresh_token", "refresh_token": "nope"}, None, "invalid_client"),
    ],
)
def test_token_errors(http: httpx.Client, form: dict[str, str], auth: tuple[str, str] | None, error: str) -> None:
    response = http.post("/xero/identity/connect/token", data=form, auth=auth or httpx.USE_CLIENT_DEFAULT)
    assert response.status_code in (400, 401)
    assert response.json()["error"] == error


def test_authorize_errors_go_back_to_the_app(http: httpx.Client) -> None:
    params = {"response_type": "token", "client_id": "a", "redirect_uri": REDIRECT, "state": "s"}
    wrong_type = http.get("/xero/identity/connect/authorize", params=params)
    assert parse_qs(urlsplit(wrong_type.headers["location"]).query) == {
        "error": ["unsupported_response_type"],
        "state": ["s"],
    }
    no_scope = http.get(
        "/xero/identity/connect/authorize", params={"response_type": "code", "client_id": "a", "redirect_uri": REDIRECT}
    )
    assert parse_qs(urlsplit(no_scope.headers["location"]).query) == {"error": ["invalid_scope"]}
    assert http.get("/xero/identity/connect/authorize", params={"client_id": "a"}).status_code == 400


def test_client_credentials_for_a_custom_connection(http: httpx.Client, sandbox: XeroSandbox) -> None:
    response = http.post(
        "/xero/identity/connect/token", data={"grant_type": "client_credentials"}, auth=("custom", "s")
    )
    tokens = response.json()
    assert "refresh_token" not in tokens
    assert _api(http, tokens["access_token"], None).status_code == 200  # no tenant header needed


def test_control_endpoints_expire_and_revoke_tokens(remote: Xero, sandbox: XeroSandbox) -> None:
    assert remote.get("Organisation").status_code == 200
    assert remote.control("POST", "tokens/expire-access").json() == {"expired": 1}
    assert remote.get("Organisation").status_code == 200  # the client refreshed
    assert remote.control("POST", "tokens/revoke-all").json()["revoked_grants"] == 1
    assert remote.get("Organisation").status_code == 401
    discovery = remote.http.get("/xero/identity/.well-known/openid-configuration").json()
    assert discovery["token_endpoint"].endswith("/xero/identity/connect/token")
