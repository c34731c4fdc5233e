"""Intuit's OAuth 2.0 against the sandbox: discovery, the code flow, rolling refresh tokens, expiry, revocation."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi.testclient import TestClient

from flexbill.sandbox import SandboxClock
from flexbill.sandbox.quickbooks import QuickBooksSandbox
from flexbill.sandbox.quickbooks.demo import REALM_ID
from tests.sandbox.quickbooks.support import QuickBooks

ROOT = "/quickbooks"
REDIRECT = "https://app.example/callback"


def authorize(http: TestClient | httpx.Client, *, state: str = "xyz", client_id: str = "app-1") -> dict[str, str]:
    response = http.get(
        f"{ROOT}/connect/oauth2",
        params={
            "client_id": client_id,
            "response_type": "code",
            "scope": "com.intuit.quickbooks.accounting openid",
            "redirect_uri": REDIRECT,
            "state": state,
        },
        follow_redirects=False,
    )
    assert response.status_code == 302, response.text
    location = urlparse(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return {key: values[0] for key, values in parse_qs(location.query).items()}


def exchange(http: TestClient | httpx.Client, code: str, client_id: str = "app-1") -> httpx.Response:
    response: httpx.Response = http.post(
        f"{ROOT}/oauth2/v1/tokens/bearer",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        auth=(client_id, "any-secret"),
        headers={"Accept": "application/json"},
    )
    return response


def refresh(http: TestClient | httpx.Client, token: str, client_id: str = "app-1") -> httpx.Response:
    response: httpx.Response = http.post(
        f"{ROOT}/oauth2/v1/tokens/bearer",
        data={"grant_type": "refresh_token", "refresh_token": token},
        auth=(client_id, "any-secret"),
    )
    return response


def company_info(http: TestClient | httpx.Client, token: str) -> httpx.Response:
    response: httpx.Response = http.get(
        f"{ROOT}/v3/company/{REALM_ID}/companyinfo/{REALM_ID}",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    return response


def test_discovery_names_the_sandbox_endpoints_with_absolute_urls(qb_http: httpx.Client) -> None:
    document = qb_http.get(f"{ROOT}/.well-known/openid_configuration").json()
    base = f"{qb_http.base_url}".rstrip("/") + ROOT
    assert document["authorization_endpoint"] == f"{base}/connect/oauth2"
    assert document["token_endpoint"] == f"{base}/oauth2/v1/tokens/bearer"
    assert document["revocation_endpoint"] == f"{base}/oauth2/v1/tokens/revoke"
    assert document["userinfo_endpoint"] == f"{base}/v1/openid_connect/userinfo"
    assert document["jwks_uri"].startswith(base)
    assert document["issuer"]
    assert "code" in document["response_types_supported"]
    assert "com.intuit.quickbooks.accounting" in document["scopes_supported"]
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]


def test_the_id_token_verifies_with_the_published_key(qb_http: httpx.Client) -> None:
    tokens = exchange(qb_http, authorize(qb_http)["code"]).json()
    header, payload, signature = tokens["id_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["aud"] == ["app-1"]
    assert claims["realmid"] == REALM_ID
    assert claims["iss"] == qb_http.get(f"{ROOT}/.well-known/openid_configuration").json()["issuer"]
    kid = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
    jwk = next(key for key in qb_http.get(f"{ROOT}/oauth2/v1/keys").json()["keys"] if key["kid"] == kid)

    def number(text: str) -> int:
        return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")

    public = rsa.RSAPublicNumbers(number(jwk["e"]), number(jwk["n"])).public_key()
    raw_signature = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    public.verify(raw_signature, f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())


def test_authorize_redirects_with_code_state_and_realm_then_the_code_works_once(qb_client: TestClient) -> None:
    answer = authorize(qb_client, state="abc123")
    assert answer["state"] == "abc123"
    assert answer["realmId"] == REALM_ID
    first = exchange(qb_client, answer["code"])
    assert first.status_code == 200, first.text
    tokens = first.json()
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["x_refresh_token_expires_in"] == 8726400
    assert tokens["refresh_token"]
    assert tokens["access_token"]
    assert tokens["id_token"].count(".") == 2
    info = company_info(qb_client, tokens["access_token"])
    assert info.status_code == 200, info.text
    assert info.json()["CompanyInfo"]["CompanyName"] == "Demo Coworking Ltd"
    again = exchange(qb_client, answer["code"])
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_every_client_reaches_the_one_company(qb_client: TestClient) -> None:
    one = exchange(qb_client, authorize(qb_client, client_id="app-1")["code"], "app-1").json()
    two = exchange(qb_client, authorize(qb_client, client_id="app-2")["code"], "app-2").json()
    assert company_info(qb_client, one["access_token"]).status_code == 200
    assert company_info(qb_client, two["access_token"]).status_code == 200
    assert exchange(qb_client, authorize(qb_client)["code"], "another-client").status_code == 400


def test_refresh_tokens_roll_and_the_previous_one_has_a_day_of_grace(
    qb_client: TestClient, clock: SandboxClock
) -> None:
    first = exchange(qb_client, authorize(qb_client)["code"]).json()
    second = refresh(qb_client, first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    clock.advance(timedelta(hours=23))
    retried = refresh(qb_client, first["refresh_token"])
    assert retried.status_code == 200
    assert retried.json()["refresh_token"] == second["refresh_token"]  # the same successor, not a third token
    clock.advance(timedelta(hours=2))
    late = refresh(qb_client, first["refresh_token"])
    assert late.status_code == 400
    assert late.json()["error"] == "invalid_grant"
    third = refresh(qb_client, second["refresh_token"])
    assert third.status_code == 200
    assert company_info(qb_client, third.json()["access_token"]).status_code == 200


def test_an_access_token_expires_after_an_hour_of_sandbox_time(qb_client: TestClient, clock: SandboxClock) -> None:
    tokens = exchange(qb_client, authorize(qb_client)["code"]).json()
    clock.advance(timedelta(seconds=3599))
    assert company_info(qb_client, tokens["access_token"]).status_code == 200
    clock.advance(timedelta(seconds=1))
    expired = company_info(qb_client, tokens["access_token"])
    assert expired.status_code == 401
    error = expired.json()["fault"]["error"][0]
    assert error["code"] == "3200"
    assert error["message"] == "message=AuthenticationFailed; errorCode=003200; statusCode=401"
    assert error["detail"].startswith("Token expired")
    assert expired.json()["fault"]["type"] == "AUTHENTICATION"
    assert "Fault" not in expired.json()
    renewed = refresh(qb_client, tokens["refresh_token"]).json()
    assert company_info(qb_client, renewed["access_token"]).status_code == 200


def test_unknown_and_missing_tokens_are_401(qb_client: TestClient) -> None:
    assert company_info(qb_client, "not-a-token").status_code == 401
    bare = qb_client.get(f"{ROOT}/v3/company/{REALM_ID}/companyinfo/{REALM_ID}")
    assert bare.status_code == 401
    assert bare.headers["www-authenticate"].startswith("Bearer")


def test_revoking_a_refresh_token_ends_the_grant(qb_client: TestClient) -> None:
    tokens = exchange(qb_client, authorize(qb_client)["code"]).json()
    revoked = qb_client.post(
        f"{ROOT}/oauth2/v1/tokens/revoke", json={"token": tokens["refresh_token"]}, auth=("app-1", "secret")
    )
    assert revoked.status_code == 200
    assert company_info(qb_client, tokens["access_token"]).status_code == 401
    assert refresh(qb_client, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_a_token_for_another_realm_or_without_the_accounting_scope_is_403(
    qb_client: TestClient, qb_sandbox: QuickBooksSandbox
) -> None:
    tokens = qb_sandbox.tokens.mint(client_id="app-1")
    other = qb_client.get(
        f"{ROOT}/v3/company/1234/companyinfo/1234", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert other.status_code == 403
    assert other.json()["Fault"]["type"] == "AuthorizationFault"
    openid_only = qb_sandbox.tokens.mint(client_id="app-1", scope="openid email")
    assert company_info(qb_client, openid_only["access_token"]).status_code == 403
    info = qb_client.get(
        f"{ROOT}/v1/openid_connect/userinfo", headers={"Authorization": f"Bearer {openid_only['access_token']}"}
    )
    assert info.status_code == 200
    assert info.json()["email"] == "owner@demo-coworking.example"


def test_expire_access_and_revoke_all_control_endpoints(qbo: QuickBooks) -> None:
    assert company_info(qbo.http, qbo.token).status_code == 200
    assert qbo.control("POST", "tokens/expire-access").json()["expired"] >= 1
    assert company_info(qbo.http, qbo.token).status_code == 401
    renewed = refresh(qbo.http, qbo.refresh_token, qbo.client_id)
    assert renewed.status_code == 200
    assert company_info(qbo.http, renewed.json()["access_token"]).status_code == 200
    assert qbo.control("POST", "tokens/revoke-all").json()["revoked_grants"] >= 1
    assert company_info(qbo.http, renewed.json()["access_token"]).status_code == 401
    assert refresh(qbo.http, renewed.json()["refresh_token"], qbo.client_id).status_code == 400
