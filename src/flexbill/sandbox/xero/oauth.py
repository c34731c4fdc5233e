"""Xero's identity service: the OAuth 2.0 code flow, rotating refresh tokens, revocation and ``/connections``.

Any client id and secret are accepted; a code, a refresh token or an access token only works for the client it
was issued to. The user consents at once and every client gets the sandbox's one organisation.

Lifetimes follow Xero, in sandbox time: codes 5 minutes, access tokens 30 minutes, refresh tokens 60 days if
unused. Refresh tokens rotate and are single-use; for 30 minutes after one is used it may be used once more
(Xero's grace period for a response that never arrived), which answers with a new access token and the
*same* new refresh token the first use issued, so two workers racing to refresh end up holding one valid
refresh token rather than each invalidating the other's.

Access tokens are JWTs (HS256, signed with a per-process secret) carrying Xero's claims, so clients that read
``exp`` or ``authentication_event_id`` from them work; the sandbox itself looks tokens up, it never trusts them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flexbill.sandbox.clock import SandboxClock

ACCESS_TOKEN_LIFETIME = timedelta(minutes=30)
REFRESH_TOKEN_LIFETIME = timedelta(days=60)
REFRESH_GRACE = timedelta(minutes=30)
CODE_LIFETIME = timedelta(minutes=5)
ISSUER = "https://identity.xero.com"

ALL_SCOPES = (
    "openid profile email offline_access accounting.transactions accounting.contacts accounting.settings "
    "accounting.attachments"
)


class OAuthError(Exception):
    """An OAuth error answer: ``{"error": code}`` with a 400 (or 401 for a bad client)."""

    def __init__(self, code: str, description: str | None = None, *, status: int = 400) -> None:
        super().__init__(description or code)
        self.code = code
        self.description = description
        self.status = status


@dataclass
class Grant:
    """One authorisation: the user said yes to a client (Xero's ``authEventId``)."""

    grant_id: str
    client_id: str
    scopes: frozenset[str]
    user_id: str
    created: datetime
    revoked: bool = False


@dataclass
class AccessToken:
    token: str
    grant_id: str
    client_id: str
    expires: datetime
    revoked: bool = False
    tenant_free: bool = False  # a custom connection (client credentials) needs no xero-tenant-id


@dataclass
class RefreshToken:
    token: str
    grant_id: str
    client_id: str
    expires: datetime
    used_at: datetime | None = None
    successor: str | None = None
    revoked: bool = False


@dataclass
class Code:
    code: str
    grant_id: str
    client_id: str
    redirect_uri: str
    expires: datetime
    challenge: str | None = None
    challenge_method: str | None = None
    used: bool = False


@dataclass
class Connection:
    connection_id: str
    client_id: str
    tenant_id: str
    auth_event_id: str
    created: datetime
    updated: datetime


@dataclass(frozen=True)
class Caller:
    """Who an accounting call is from, once its bearer token checks out."""

    client_id: str
    grant_id: str
    scopes: frozenset[str]
    tenant_free: bool


@dataclass
class TokenStore:
    clock: SandboxClock
    tenant_id: str
    tenant_name: str
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    user_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.grants: dict[str, Grant] = {}
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}
        self.codes: dict[str, Code] = {}
        self.connections: dict[str, Connection] = {}

    # -- the code flow -----------------------------------------------------------------------------------------

    def authorize(
        self,
        *,
        client_id: str,
        redirect_uri: str,
        scope: str,
        code_challenge: str | None = None,
        code_challenge_method: str | None = None,
    ) -> str:
        """The user consents at once: a grant, a connection to the organisation and a one-time code."""
        scopes = frozenset(scope.split())
        if not scopes:
            raise OAuthError("invalid_scope", "at least one scope is required")
        if code_challenge_method not in (None, "plain", "S256"):
            raise OAuthError("invalid_request", "code_challenge_method must be S256 or plain")
        now = self.clock.now()
        with self.lock:
            grant = Grant(str(uuid.uuid4()), client_id, scopes, self.user_id, now)
            self.grants[grant.grant_id] = grant
            self._connect_locked(client_id, grant.grant_id, now)
            code = Code(
                secrets.token_urlsafe(32),
                grant.grant_id,
                client_id,
                redirect_uri,
                now + CODE_LIFETIME,
                code_challenge,
                (code_challenge_method or "plain") if code_challenge else None,
            )
            self.codes[code.code] = code
            return code.code

    def _connect_locked(self, client_id: str, grant_id: str, now: datetime) -> None:
        existing = next(
            (c for c in self.connections.values() if c.client_id == client_id and c.tenant_id == self.tenant_id),
            None,
        )
        if existing is None:
            connection = Connection(str(uuid.uuid4()), client_id, self.tenant_id, grant_id, now, now)
            self.connections[connection.connection_id] = connection
        else:
            existing.auth_event_id = grant_id
            existing.updated = now

    def exchange_code(
        self, *, client_id: str, code: str, redirect_uri: str | None, code_verifier: str | None
    ) -> dict[str, Any]:
        now = self.clock.now()
        with self.lock:
            found = self.codes.get(code)
            if found is None or found.client_id != client_id or found.expires <= now:
                raise OAuthError("invalid_grant")
            if found.used:
                self._revoke_grant_locked(found.grant_id)  # a replayed code may be stolen: revoke what it gave
                raise OAuthError("invalid_grant")
            if redirect_uri is not None and redirect_uri != found.redirect_uri:
                raise OAuthError("invalid_grant", "redirect_uri does not match the one authorised")
            if found.challenge is not None and not (
                code_verifier and _verifier_matches(code_verifier, found.challenge, found.challenge_method)
            ):
                raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
            found.used = True
            return self._issue_locked(self.grants[found.grant_id], now)

    def refresh_tokens(self, *, client_id: str, refresh_token: str) -> dict[str, Any]:
        now = self.clock.now()
        with self.lock:
            found = self.refresh.get(refresh_token)
            if found is None or found.revoked or found.client_id != client_id or found.expires <= now:
                raise OAuthError("invalid_grant")
            grant = self.grants[found.grant_id]
            if grant.revoked:
                raise OAuthError("invalid_grant")
            if found.used_at is None:
                found.used_at = now
                tokens = self._issue_locked(grant, now)
                found.successor = tokens["refresh_token"]
                return tokens
            successor = self.refresh.get(found.successor or "")
            within_grace = now - found.used_at <= REFRESH_GRACE
            if not within_grace or successor is None or successor.used_at is not None or successor.revoked:
                raise OAuthError("invalid_grant")
            return self._issue_locked(grant, now, refresh_token=successor.token)

    def client_credentials(self, *, client_id: str, scope: str | None) -> dict[str, Any]:
        """A custom connection: an access token for the one organisation, without a refresh token."""
        now = self.clock.now()
        scopes = frozenset((scope or ALL_SCOPES).split()) - {"offline_access", "openid", "profile", "email"}
        with self.lock:
            grant = Grant(str(uuid.uuid4()), client_id, scopes, self.user_id, now)
            self.grants[grant.grant_id] = grant
            return self._issue_locked(grant, now, tenant_free=True)

    def _issue_locked(
        self, grant: Grant, now: datetime, *, refresh_token: str | None = None, tenant_free: bool = False
    ) -> dict[str, Any]:
        expires = now + ACCESS_TOKEN_LIFETIME
        access = AccessToken(
            self._jwt(grant, now, expires), grant.grant_id, grant.client_id, expires, False, tenant_free
        )
        self.access[access.token] = access
        body: dict[str, Any] = {
            "access_token": access.token,
            "expires_in": int(ACCESS_TOKEN_LIFETIME.total_seconds()),
            "token_type": "Bearer",
            "scope": " ".join(sorted(grant.scopes)),
        }
        if "openid" in grant.scopes:
            body["id_token"] = self._id_token(grant, now, expires)
        if "offline_access" in grant.scopes and not tenant_free:
            if refresh_token is None:
                token = RefreshToken(
                    secrets.token_hex(32), grant.grant_id, grant.client_id, now + REFRESH_TOKEN_LIFETIME
                )
                self.refresh[token.token] = token
                refresh_token = token.token
            body["refresh_token"] = refresh_token
        return body

    def mint(self, *, client_id: str, scope: str = ALL_SCOPES) -> dict[str, Any]:
        """Tokens without the browser dance (control endpoint): an authorisation and its first exchange."""
        code = self.authorize(client_id=client_id, redirect_uri="urn:sandbox", scope=scope)
        return self.exchange_code(client_id=client_id, code=code, redirect_uri=None, code_verifier=None)

    # -- revocation and connections ----------------------------------------------------------------------------

    def revoke(self, *, client_id: str, token: str) -> None:
        """RFC 7009: revoking a refresh token ends its grant and the connection; unknown tokens are ignored."""
        with self.lock:
            refresh = self.refresh.get(token)
            if refresh is not None and refresh.client_id == client_id:
                self._revoke_grant_locked(refresh.grant_id)
                for connection_id in [
                    c.connection_id for c in self.connections.values() if c.auth_event_id == refresh.grant_id
                ]:
                    del self.connections[connection_id]
                return
            access = self.access.get(token)
            if access is not None and access.client_id == client_id:
                access.revoked = True

    def _revoke_grant_locked(self, grant_id: str) -> None:
        grant = self.grants.get(grant_id)
        if grant is not None:
            grant.revoked = True
        for access in self.access.values():
            if access.grant_id == grant_id:
                access.revoked = True
        for refresh in self.refresh.values():
            if refresh.grant_id == grant_id:
                refresh.revoked = True

    def revoke_all(self) -> int:
        with self.lock:
            for grant_id in list(self.grants):
                self._revoke_grant_locked(grant_id)
            self.connections.clear()
            return len(self.grants)

    def expire_access_tokens(self) -> int:
        """Every access token issued so far expires now (refresh tokens keep working)."""
        now = self.clock.now()
        with self.lock:
            live = [a for a in self.access.values() if a.expires > now and not a.revoked]
            for access in live:
                access.expires = now
            return len(live)

    def connections_for(self, client_id: str) -> list[Connection]:
        with self.lock:
            return [c for c in self.connections.values() if c.client_id == client_id]

    def disconnect(self, client_id: str, connection_id: str) -> bool:
        with self.lock:
            connection = self.connections.get(connection_id)
            if connection is None or connection.client_id != client_id:
                return False
            del self.connections[connection_id]
            return True

    def is_connected(self, client_id: str, tenant_id: str) -> bool:
        with self.lock:
            return any(c.client_id == client_id and c.tenant_id == tenant_id for c in self.connections.values())

    # -- checking a bearer token -------------------------------------------------------------------------------

    def check(self, token: str) -> Caller | str:
        """The caller, or why the token is refused (the 401's Detail)."""
        now = self.clock.now()
        with self.lock:
            access = self.access.get(token)
            if access is None or access.revoked or self.grants[access.grant_id].revoked:
                return "AuthenticationUnsuccessful"
            if access.expires <= now:
                return f"TokenExpired: token expired at {access.expires.strftime('%m/%d/%Y %H:%M:%S')}"
            grant = self.grants[access.grant_id]
            return Caller(access.client_id, access.grant_id, grant.scopes, access.tenant_free)

    def snapshot(self) -> dict[str, int]:
        now = self.clock.now()
        with self.lock:
            return {
                "grants": sum(1 for g in self.grants.values() if not g.revoked),
                "access_tokens_live": sum(1 for a in self.access.values() if not a.revoked and a.expires > now),
                "refresh_tokens_live": sum(
                    1 for r in self.refresh.values() if not r.revoked and r.used_at is None and r.expires > now
                ),
                "connections": len(self.connections),
            }

    # -- JWTs --------------------------------------------------------------------------------------------------

    def _jwt(self, grant: Grant, now: datetime, expires: datetime) -> str:
        claims = {
            "nbf": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "iss": ISSUER,
            "aud": f"{ISSUER}/resources",
            "client_id": grant.client_id,
            "sub": grant.user_id.replace("-", ""),
            "auth_time": int(grant.created.timestamp()),
            "xero_userid": grant.user_id,
            "global_session_id": grant.grant_id.replace("-", ""),
            "jti": secrets.token_hex(16),
            "authentication_event_id": grant.grant_id,
            "scope": sorted(grant.scopes),
        }
        return self._sign(claims)

    def _id_token(self, grant: Grant, now: datetime, expires: datetime) -> str:
        claims = {
            "nbf": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "iss": ISSUER,
            "aud": grant.client_id,
            "iat": int(now.timestamp()),
            "sub": grant.user_id.replace("-", ""),
            "auth_time": int(grant.created.timestamp()),
            "xero_userid": grant.user_id,
            "global_session_id": grant.grant_id.replace("-", ""),
            "preferred_username": "owner@demo-coworking.example",
            "email": "owner@demo-coworking.example",
            "given_name": "Demo",
            "family_name": "Owner",
        }
        return self._sign(claims)

    def _sign(self, claims: dict[str, Any]) -> str:
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(self.secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(signature)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _verifier_matches(verifier: str, challenge: str, method: str | None) -> bool:
    if method == "S256":
        return hmac.compare_digest(_b64(hashlib.sha256(verifier.encode("ascii")).digest()), challenge)
    return hmac.compare_digest(verifier, challenge)


def scopes_allow(scopes: Iterable[str], needed: tuple[str, ...]) -> bool:
    """Whether the granted scopes include one of ``needed`` (a write scope also allows reading)."""
    granted = set(scopes)
    return any(scope in granted for scope in needed)
