"""Browser security shared by the staff console and the members' portal: session cookies, CSRF tokens, the
signed-in staff user or member of a request, permissions, and writing under the actor's name (for the audit trail).

- Sessions live in the database (``web_sessions``); the cookie holds a random token whose digest finds the row.
  Cookies are HTTP-only and SameSite=Lax, and Secure whenever flexbill is reached over HTTPS (``FLEXBILL_PUBLIC_URL``).
- CSRF: every form carries a token, an HMAC (keyed by flexbill's secret) of a random per-browser nonce kept in its own
  cookie and of the session cookie. A forged form has neither, a form from before signing in stops working once the
  session changes, and a request whose ``Origin`` is another site is refused outright.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote, urlsplit

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from flexbill.access import audit
from flexbill.access.model import Actor, ActorKind, Permission, Role, allows
from flexbill.access.service import Client, find_session, session_needs_touch, touch_session
from flexbill.access.store import UserRow, WebSessionRow
from flexbill.bootstrap import Context
from flexbill.keys import secret_key
from flexbill.links import public_base_url

STAFF_COOKIE = "flexbill_staff"
MEMBER_COOKIE = "flexbill_member"
CSRF_COOKIE = "flexbill_csrf"
CSRF_FIELD = "csrf_token"


class SignInRequired(Exception):
    """Raised by a page that needs a signed-in browser; answered with a redirect to the sign-in page."""

    def __init__(self, sign_in_path: str, back_to: str) -> None:
        super().__init__(sign_in_path)
        self.location = f"{sign_in_path}?next={quote(back_to, safe='/')}"


class Forbidden(Exception):
    """The signed-in user's role does not allow this; nothing was changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CsrfRefused(Exception):
    """The form did not come from a page flexbill served to this browser; nothing was changed."""


@dataclass(frozen=True, slots=True)
class StaffUser:
    id: uuid.UUID
    email: str
    name: str
    role: Role
    session_id: uuid.UUID

    def can(self, permission: Permission) -> bool:
        return allows(self.role, permission)

    def actor(self, ip: str | None) -> Actor:
        return Actor(ActorKind.USER, self.email, self.id, ip)


@dataclass(frozen=True, slots=True)
class Member:
    email: str
    session_id: uuid.UUID

    def actor(self, ip: str | None) -> Actor:
        return Actor(ActorKind.MEMBER, self.email, None, ip)


def context_of(request: Request) -> Context:
    ctx: Context = request.app.state.context
    return ctx


def client_of(request: Request) -> Client:
    host = request.client.host if request.client else "unknown"
    return Client(ip=host, user_agent=request.headers.get("user-agent"))


def uses_https(ctx: Context) -> bool:
    return public_base_url(ctx.settings).startswith("https://")


def set_cookie(response: Response, ctx: Context, name: str, value: str, *, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, secure=uses_https(ctx), samesite="lax", path="/")


def clear_cookie(response: Response, ctx: Context, name: str) -> None:
    response.delete_cookie(name, path="/", httponly=True, secure=uses_https(ctx), samesite="lax")


# --- Who is signed in ---------------------------------------------------------------------------------------------


def current_staff(request: Request) -> StaffUser:
    """The signed-in staff user, or a redirect to the console's sign-in page. Also names the actor of the
    request's changes."""
    cached = getattr(request.state, "staff", None)
    if isinstance(cached, StaffUser):
        return cached

    def staff_of(db: Session, row: WebSessionRow) -> StaffUser | None:
        user = db.get(UserRow, row.user_id) if row.user_id is not None else None
        if user is None or user.disabled_at is not None:
            return None
        return StaffUser(user.id, user.email, user.name, Role(user.role), row.id)

    staff = _signed_in(request, "staff", STAFF_COOKIE, "/admin/sign-in", staff_of)
    request.state.staff = staff
    return staff


def current_member(request: Request) -> Member:
    """The signed-in member, or a redirect to the portal's sign-in page. Also names the actor of the request's
    changes."""
    cached = getattr(request.state, "member", None)
    if isinstance(cached, Member):
        return cached
    member = _signed_in(request, "member", MEMBER_COOKIE, "/portal/sign-in", lambda _db, row: Member(row.email, row.id))
    request.state.member = member
    return member


SignedInT = TypeVar("SignedInT", StaffUser, Member)


def _signed_in(
    request: Request,
    kind: str,
    cookie: str,
    sign_in_path: str,
    who: Callable[[Session, WebSessionRow], SignedInT | None],
) -> SignedInT:
    """The one way a browser's session is found: by the cookie's token, read-only, noting the session's use at
    most every few minutes (so reading pages writes nothing), and naming the request's actor."""
    ctx = context_of(request)
    token = request.cookies.get(cookie, "")
    now = ctx.clock.now()
    with ctx.lookups() as db:
        row = find_session(db, token, kind, now) if token else None
        signed_in = who(db, row) if row is not None else None
        if row is None or signed_in is None:
            raise SignInRequired(sign_in_path, _back_to(request))
        stale = session_needs_touch(row, now)
    if stale:
        with ctx.sessions() as db, db.begin():
            touch_session(db, signed_in.session_id, now)
    request.state.actor = signed_in.actor(client_of(request).ip)
    return signed_in


def require(staff: StaffUser, permission: Permission) -> None:
    if not staff.can(permission):
        raise Forbidden(f"your role ({staff.role.label}) does not allow this; ask an owner or an admin")


def _back_to(request: Request) -> str:
    if request.method != "GET":
        return request.url.path
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def safe_next(value: str | None, default: str) -> str:
    """Only a path of this site is followed after signing in, never another site."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


@contextmanager
def writing(request: Request) -> Iterator[Session]:
    """One transaction for a form's change, recorded under the signed-in actor's name; rolled back on any error,
    so a refused form leaves nothing half-written."""
    ctx = context_of(request)
    actor = getattr(request.state, "actor", None)
    with ctx.sessions() as db, db.begin():
        if isinstance(actor, Actor):
            audit.act_as(db, actor)
        yield db


# --- CSRF ---------------------------------------------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    """The token to put in this page's forms (the nonce cookie is set by :func:`flexbill.web.templating.render`)."""
    nonce = getattr(request.state, "csrf_nonce", None) or request.cookies.get(CSRF_COOKIE)
    if not nonce or len(nonce) > 100:
        nonce = secrets.token_urlsafe(24)
    request.state.csrf_nonce = nonce
    return _csrf_for(request, nonce, _session_cookie(request))


def _session_cookie(request: Request) -> str:
    if request.url.path.startswith("/portal"):
        return getattr(request.state, "new_session_token", None) or request.cookies.get(MEMBER_COOKIE, "")
    return getattr(request.state, "new_session_token", None) or request.cookies.get(STAFF_COOKIE, "")


def _csrf_for(request: Request, nonce: str, session_token: str) -> str:
    key = hashlib.sha256(b"flexbill csrf\0" + secret_key(context_of(request).settings)).digest()
    return hmac.new(key, f"{nonce}|{session_token}".encode(), hashlib.sha256).hexdigest()


async def check_csrf(request: Request) -> None:
    """Refuse a state-changing request that did not come from one of flexbill's own pages."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and not _same_site(request, origin):
        raise CsrfRefused()
    nonce = request.cookies.get(CSRF_COOKIE, "")
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if not nonce or not isinstance(sent, str):
        raise CsrfRefused()
    expected = _csrf_for(request, nonce, _session_cookie(request))
    if not hmac.compare_digest(sent, expected):
        raise CsrfRefused()


def _same_site(request: Request, origin: str) -> bool:
    parsed = urlsplit(origin)
    allowed = {request.url.netloc, urlsplit(public_base_url(context_of(request).settings)).netloc}
    return parsed.netloc in allowed
