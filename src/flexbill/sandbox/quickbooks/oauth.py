"""Intuit's OAuth 2.0 for the sandbox: the code flow, rolling refresh tokens, revocation and access checks.

Any client id and secret are accepted; a code, a refresh token or an access token works only for the client it
was issued to. The user consents at once, and every client reaches the sandbox's one company (its realm id).

Lifetimes follow Intuit, in sandbox time: codes 5 minutes, access tokens 3,600 seconds, refresh tokens 100
days (``x_refresh_token_expires_in`` 8,726,400), and no refresh token outlives five years from the
authorisation (Intuit's policy for tokens issued since October 2023).

Refresh tokens roll. Intuit documents that a refresh may return a new refresh token, that the client must
always keep the latest one, and that the previous one stops working 24 hours after a new one was issued. So
here each refresh issues a new refresh token; for 24 hours of sandbox time after that the previous token still
works and answers with a new access token and the *same* new refresh token the first use issued (two workers
racing to refresh end up holding one valid refresh token); after that it is ``invalid_grant``. A used code is
``invalid_grant`` too. Revoking either token of a grant (the revoke endpoint) ends the whole grant.

With the ``openid`` scope the token answer carries an ``id_token``: a JWT signed RS256 with a key the process
makes once, whose public half the sandbox publishes at its ``jwks_uri``, so Intuit's ``intuit-oauth`` client
validates it as it validates Intuit's. Access and refresh tokens are opaque; the sandbox looks them up.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from flexbill.sandbox.clock import SandboxClock

ACCESS_TOKEN_LIFETIME = timedelta(seconds=3600)
REFRESH_TOKEN_LIFETIME = timedelta(seconds=8_726_400)  # 101 days, as Intuit answers
REFRESH_GRACE = timedelta(hours=24)
MAX_GRANT_LIFETIME = timedelta(days=5 * 365)
CODE_LIFETIME = timedelta(minutes=5)
ISSUER = "https://oauth.platform.intuit.com/op/v1"
ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
SCOPES_SUPPORTED = (
    "openid", "email", "profile", "address", "phone", ACCOUNTING_SCOPE, "com.intuit.quickbooks.payment",
)  # fmt: skip


class OAuthError(Exception):
    """An OAuth error answer: ``{"error": code}`` with a 400 (or 401 for a bad client)."""

    def __init__(self, code: str, description: str | None = None, *, status: int = 400) -> None:
        super().__init__(description or code)
        self.code = code
        self.description = description
        self.status = status


@dataclass
class Grant:
    grant_id: str
    client_id: str
    scopes: frozenset[str]
    created: datetime
    revoked: bool = False


@dataclass
class AccessToken:
    token: str
    grant_id: str
    client_id: str
    expires: datetime


@dataclass
class RefreshToken:
    token: str
    grant_id: str
    client_id: str
    expires: datetime
    used_at: datetime | None = None
    successor: str | None = None


@dataclass
class Code:
    code: str
    grant_id: str
    client_id: str
    redirect_uri: str
    expires: datetime
    used: bool = False


@dataclass(frozen=True)
class Caller:
    """Who an API call is from, once its bearer token checks out."""

    client_id: str
    grant_id: str
    scopes: frozenset[str]


@dataclass
class TokenStore:
    clock: SandboxClock
    realm_id: str
    user_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.grants: dict[str, Grant] = {}
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}
        self.codes: dict[str, Code] = {}

    def authorize(self, *, client_id: str, redirect_uri: str, scope: str) -> str:
        """The user consents at once: a grant and a one-time code."""
        scopes = frozenset(scope.split())
        if not scopes:
            raise OAuthError("invalid_scope", "at least one scope is required")
        unknown = scopes - set(SCOPES_SUPPORTED)
        if unknown:
            raise OAuthError("invalid_scope", f"unknown scope {sorted(unknown)[0]}")
        now = self.clock.now()
        with self.lock:
            grant = Grant(str(uuid.uuid4()), client_id, scopes, now)
            self.grants[grant.grant_id] = grant
            code = Code("AB" + secrets.token_urlsafe(36), grant.grant_id, client_id, redirect_uri, now + CODE_LIFETIME)
            self.codes[code.code] = code
            return code.code

    def exchange_code(self, *, client_id: str, code: str, redirect_uri: str | None) -> dict[str, Any]:
        now = self.clock.now()
        with self.lock:
            found = self.codes.get(code)
            if found is None or found.client_id != client_id or found.expires <= now or found.used:
                raise OAuthError("invalid_grant")
            if redirect_uri is not None and redirect_uri != found.redirect_uri:
                raise OAuthError("invalid_grant", "redirect_uri does not match the one authorised")
            found.used = True
            return self._issue_locked(self.grants[found.grant_id], now)

    def refresh_tokens(self, *, client_id: str, refresh_token: str) -> dict[str, Any]:
        now = self.clock.now()
        with self.lock:
            found = self.refresh.get(refresh_token)
            if found is None or found.client_id != client_id or found.expires <= now:
                raise OAuthError("invalid_grant", "Token has been expired or revoked.")
            grant = self.grants[found.grant_id]
            if grant.revoked or now >= grant.created + MAX_GRANT_LIFETIME:
                raise OAuthError("invalid_grant", "Token has been expired or revoked.")
            if found.used_at is None:
                found.used_at = now
                tokens = self._issue_locked(grant, now)
                found.successor = tokens["refresh_token"]
                return tokens
            successor = self.refresh.get(found.successor or "")
            if now - found.used_at > REFRESH_GRACE or successor is None:
                raise OAuthError("invalid_grant", "Token has been expired or revoked.")
            return self._issue_locked(grant, now, refresh_token=successor.token)

    def _issue_locked(self, grant: Grant, now: datetime, *, refresh_token: str | None = None) -> dict[str, Any]:
        access = AccessToken(
            "eyJ" + secrets.token_urlsafe(96), grant.grant_id, grant.client_id, now + ACCESS_TOKEN_LIFETIME
        )
        self.access[access.token] = access
        if refresh_token is None:
            expires = min(now + REFRESH_TOKEN_LIFETIME, grant.created + MAX_GRANT_LIFETIME)
            token = RefreshToken("AB11" + secrets.token_hex(24), grant.grant_id, grant.client_id, expires)
            self.refresh[token.token] = token
            refresh_token = token.token
        refresh = self.refresh[refresh_token]
        body: dict[str, Any] = {
            "access_token": access.token,
            "token_type": "bearer",
            "expires_in": int(ACCESS_TOKEN_LIFETIME.total_seconds()),
            "refresh_token": refresh_token,
            "x_refresh_token_expires_in": int((refresh.expires - now).total_seconds()),
        }
        if "openid" in grant.scopes:
            body["id_token"] = self._id_token(grant, now)
        return body

    def mint(self, *, client_id: str, scope: str = ACCOUNTING_SCOPE) -> dict[str, Any]:
        """Tokens without the browser round trip (control endpoint): an authorisation and its first exchange."""
        code = self.authorize(client_id=client_id, redirect_uri="urn:sandbox", scope=scope)
        return self.exchange_code(client_id=client_id, code=code, redirect_uri=None)

    def revoke(self, *, client_id: str, token: str) -> bool:
        """Revoke the grant behind an access or a refresh token of the client; unknown tokens are ignored."""
        with self.lock:
            found = self.refresh.get(token) or self.access.get(token)
            if found is None or found.client_id != client_id:
                return False
            self.grants[found.grant_id].revoked = True
            return True

    def revoke_all(self) -> int:
        with self.lock:
            live = [grant for grant in self.grants.values() if not grant.revoked]
            for grant in live:
                grant.revoked = True
            return len(live)

    def expire_access_tokens(self) -> int:
        """Every access token issued so far expires now (refresh tokens keep working)."""
        now = self.clock.now()
        with self.lock:
            live = [a for a in self.access.values() if a.expires > now]
            for access in live:
                access.expires = now
            return len(live)

    def check(self, token: str) -> Caller | str:
        """The caller, or why the token is refused (the 401's detail)."""
        now = self.clock.now()
        with self.lock:
            access = self.access.get(token)
            if access is None:
                return "Token invalid: the access token is not one the sandbox issued"
            grant = self.grants[access.grant_id]
            if grant.revoked:
                return "Token revoked: the authorisation was revoked"
            if access.expires <= now:
                return f"Token expired: {access.expires.isoformat()}"
            return Caller(access.client_id, access.grant_id, grant.scopes)

    def snapshot(self) -> dict[str, int]:
        now = self.clock.now()
        with self.lock:
            live = {g.grant_id for g in self.grants.values() if not g.revoked}
            return {
                "grants": len(live),
                "access_tokens_live": sum(1 for a in self.access.values() if a.grant_id in live and a.expires > now),
                "refresh_tokens_live": sum(
                    1 for r in self.refresh.values() if r.grant_id in live and r.used_at is None and r.expires > now
                ),
            }

    def userinfo(self) -> dict[str, Any]:
        return {
            "sub": self.user_id,
            "email": "owner@demo-coworking.example",
            "emailVerified": True,
            "givenName": "Demo",
            "familyName": "Owner",
            "phoneNumber": "+44 20 7946 0000",
            "phoneNumberVerified": False,
        }

    def _id_token(self, grant: Grant, now: datetime) -> str:
        claims = {
            "sub": self.user_id,
            "aud": [grant.client_id],
            "realmid": self.realm_id,
            "auth_time": int(grant.created.timestamp()),
            "iss": ISSUER,
            "exp": int((now + ACCESS_TOKEN_LIFETIME).timestamp()),
            "iat": int(now.timestamp()),
        }
        key = signing_key()
        header = _b64(json.dumps({"alg": "RS256", "kid": KEY_ID, "typ": "JWT"}, separators=(",", ":")).encode())
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = key.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{payload}.{_b64(signature)}"


KEY_ID = "flexbill-sandbox-1"


@cache
def signing_key() -> rsa.RSAPrivateKey:
    """The key that signs id tokens: made once per process (generating one takes a noticeable moment)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks() -> dict[str, Any]:
    """The public half of :func:`signing_key` as a JSON Web Key Set."""
    numbers = signing_key().public_key().public_numbers()

    def encode(number: int) -> str:
        return _b64(number.to_bytes((number.bit_length() + 7) // 8, "big"))

    key = {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": KEY_ID, "n": encode(numbers.n), "e": encode(numbers.e)}
    return {"keys": [key]}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
