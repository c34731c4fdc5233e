"""Who may come in: API keys, staff users and their passwords, browser sessions, throttled sign-in, and the
one-time links members sign in to the portal with."""

from __future__ import annotations

import hashlib
import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flexbill.access import audit
from flexbill.access.model import Actor, ActorKind, Permission, Role, allows
from flexbill.access.store import ApiKeyRow, MemberLinkRow, SignInAttemptRow, UserRow, WebSessionRow
from flexbill.errors import Conflict, FlexbillError, InvalidInput, NotFound

KEY_PREFIX = "fbk_"
SCOPES = frozenset({"read", "write"})


@dataclass(frozen=True, slots=True)
class NewApiKey:
    row: ApiKeyRow
    key: str  # shown once; only its digest is kept


def _digest(key: str) -> str:
    # A random 256-bit key needs no slow hash: SHA-256 cannot be brute-forced back to it.
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, name: str, scopes: frozenset[str] = SCOPES) -> NewApiKey:
    name = name.strip()
    if not name:
        raise InvalidInput("an API key needs a name", field="name")
    unknown = scopes - SCOPES
    if unknown or not scopes:
        raise InvalidInput(f"scopes are read and/or write, not {sorted(unknown) or 'none'}", field="scopes")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKeyRow(name=name, prefix=key[:12], digest=_digest(key), scopes=" ".join(sorted(scopes)))
    session.add(row)
    session.flush()
    return NewApiKey(row=row, key=key)


def find_api_key(session: Session, key: str) -> ApiKeyRow | None:
    if not key.startswith(KEY_PREFIX):
        return None
    row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.digest == _digest(key)))
    if row is None or row.revoked_at is not None:
        return None
    return row


def revoke_api_key(session: Session, key_id: uuid.UUID, now: datetime) -> ApiKeyRow:
    """Stop a key working, at once and for good; the row stays, so the audit trail still names it."""
    row = session.get(ApiKeyRow, key_id, with_for_update=True)
    if row is None:
        raise NotFound("API key", key_id)
    if row.revoked_at is not None:
        raise Conflict(f"the API key {row.name} ({row.prefix}…) is already revoked")
    row.revoked_at = now
    session.flush()
    return row


# --- Staff users -------------------------------------------------------------------------------------------------

_hasher = PasswordHasher()  # argon2id with the library's current recommended cost
MIN_PASSWORD_LENGTH = 12
# Checked against when the address is unknown, so a wrong address takes as long as a wrong password.
_UNKNOWN_USER_HASH = _hasher.hash(secrets.token_urlsafe(16))


def normalise_email(value: str, *, field: str = "email") -> str:
    email = value.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in email) or len(email) > 320:
        raise InvalidInput(f"{value.strip()!r} is not an email address", field=field)
    return email


def check_password_strength(password: str, *, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_LENGTH} characters", field=field)
    if len(password) > 1024:
        raise InvalidInput("a password has at most 1024 characters", field=field)


def create_user(session: Session, *, email: str, name: str, role: Role, password: str) -> UserRow:
    address = normalise_email(email)
    check_password_strength(password)
    if session.scalar(select(UserRow.id).where(UserRow.email == address)) is not None:
        raise Conflict(f"a staff user with the email {address} already exists", field="email")
    user = UserRow(email=address, name=name.strip() or address, role=role.value, password_hash=_hasher.hash(password))
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, user: UserRow, password: str, now: datetime) -> None:
    check_password_strength(password)
    user.password_hash = _hasher.hash(password)
    end_user_sessions(session, user.id, now)


def owners_left(session: Session, *, excluding: uuid.UUID) -> int:
    return len(
        session.scalars(
            select(UserRow.id).where(
                UserRow.role == Role.OWNER.value, UserRow.disabled_at.is_(None), UserRow.id != excluding
            )
        ).all()
    )


# --- Managing staff -----------------------------------------------------------------------------------------------
# Staff are managed by those with MANAGE_STAFF; an owner (or making someone an owner) only by an owner. The last
# active owner stays one, so someone can always manage everything. A new role, being disabled or a new password
# signs the user out everywhere: a session never carries rights its user no longer has.


class NotPermitted(FlexbillError):
    status_code = 403


def check_may_manage(by: Role, *roles: Role) -> None:
    """Whether a user of role ``by`` may manage users of (or give) ``roles``."""
    if not allows(by, Permission.MANAGE_STAFF):
        raise NotPermitted(f"your role ({by.label}) does not allow managing staff; ask an owner or an admin")
    if Role.OWNER in roles and not allows(by, Permission.MANAGE_OWNERS):
        raise NotPermitted("only an owner can add, change or disable an owner", field="role")


def get_user(session: Session, user_id: uuid.UUID, *, for_update: bool = False) -> UserRow:
    user = session.get(UserRow, user_id, with_for_update=for_update)
    if user is None:
        raise NotFound("staff user", user_id)
    return user


def add_user(session: Session, *, by: Role, email: str, name: str, role: Role, password: str) -> UserRow:
    check_may_manage(by, role)
    return create_user(session, email=email, name=name, role=role, password=password)


def change_role(session: Session, now: datetime, user_id: uuid.UUID, role: Role, *, by: Role) -> UserRow:
    user = get_user(session, user_id, for_update=True)
    current = Role(user.role)
    check_may_manage(by, current, role)
    if role is current:
        return user
    if current is Role.OWNER and user.disabled_at is None:
        _keep_an_owner(session, user, f"given the {role.label} role", field="role")
    user.role = role.value
    end_user_sessions(session, user.id, now)
    session.flush()
    return user


def disable_user(session: Session, now: datetime, user_id: uuid.UUID, *, by: Role, by_user: uuid.UUID) -> UserRow:
    """The user can no longer sign in, and is signed out everywhere; their history stays theirs."""
    user = get_user(session, user_id, for_update=True)
    check_may_manage(by, Role(user.role))
    if user.id == by_user:
        raise Conflict("you cannot disable yourself; ask another owner or admin", field="disabled")
    if user.disabled_at is not None:
        raise Conflict(f"{user.email} is already disabled", field="disabled")
    if user.role == Role.OWNER.value:
        _keep_an_owner(session, user, "disabled", field="disabled")
    user.disabled_at = now
    end_user_sessions(session, user.id, now)
    session.flush()
    return user


def enable_user(session: Session, user_id: uuid.UUID, *, by: Role) -> UserRow:
    user = get_user(session, user_id, for_update=True)
    check_may_manage(by, Role(user.role))
    if user.disabled_at is None:
        raise Conflict(f"{user.email} is not disabled", field="disabled")
    user.disabled_at = None
    session.flush()
    return user


def reset_password(session: Session, now: datetime, user_id: uuid.UUID, password: str, *, by: Role) -> UserRow:
    user = get_user(session, user_id, for_update=True)
    check_may_manage(by, Role(user.role))
    set_password(session, user, password, now)
    session.flush()
    return user


def _keep_an_owner(session: Session, user: UserRow, change: str, *, field: str) -> None:
    """Refuse to take away the last active owner. The active owners are locked first, so two owners demoting each
    other at the same moment cannot both succeed."""
    owners = session.scalars(
        select(UserRow.id)
        .where(UserRow.role == Role.OWNER.value, UserRow.disabled_at.is_(None))
        .order_by(UserRow.id)
        .with_for_update()
    ).all()
    if not any(owner != user.id for owner in owners):
        raise Conflict(
            f"{user.email} is the last active owner and cannot be {change}: make another user an owner first",
            field=field,
        )


# --- Throttling ---------------------------------------------------------------------------------------------------

THROTTLE_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class ThrottleLimits:
    """How many attempts in :data:`THROTTLE_WINDOW` are allowed before waiting: from one client for one address
    (guessing), for one address from anywhere (guessing spread over many clients: high enough that a stranger
    cannot lock the owner out with a few tries), and from one client for any address (a coworking space shares
    one public address, so this one is generous)."""

    per_address_and_client: int
    per_address: int
    per_client: int


STAFF_LIMITS = ThrottleLimits(per_address_and_client=5, per_address=50, per_client=100)  # failed passwords
MEMBER_LIMITS = ThrottleLimits(per_address_and_client=5, per_address=10, per_client=60)  # links asked for


class TooManyAttempts(FlexbillError):
    status_code = 429

    def __init__(self, retry_after: timedelta) -> None:
        minutes = max(1, math.ceil(retry_after.total_seconds() / 60))
        super().__init__(f"too many attempts: try again in {minutes} minute{'s' if minutes != 1 else ''}")
        self.retry_after = retry_after


def _check_throttle(session: Session, kind: str, email: str, ip: str, now: datetime, *, count_successes: bool) -> None:
    """Refuse while there are too many recent attempts (failures for passwords; all of them for emailed links,
    which cost a mail each). Concurrent attempts for one address queue here, so a burst cannot all be checked
    before any is counted (SQLite's writers queue anyway; PostgreSQL takes a lock on the address)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"flexbill sign-in {kind} {email}"))))
    limits = STAFF_LIMITS if kind == "staff" else MEMBER_LIMITS
    since = now - THROTTLE_WINDOW
    recent = select(SignInAttemptRow.at).where(SignInAttemptRow.kind == kind, SignInAttemptRow.at > since)
    if not count_successes:
        recent = recent.where(SignInAttemptRow.succeeded.is_(False))
    for where, limit in (
        ((SignInAttemptRow.email == email) & (SignInAttemptRow.ip == ip), limits.per_address_and_client),
        (SignInAttemptRow.email == email, limits.per_address),
        (SignInAttemptRow.ip == ip, limits.per_client),
    ):
        times = sorted(session.scalars(recent.where(where).order_by(SignInAttemptRow.at.desc()).limit(limit)).all())
        if len(times) >= limit:
            oldest_counted = _aware(times[0])
            raise TooManyAttempts(oldest_counted + THROTTLE_WINDOW - now)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # SQLite forgets the zone


def _note_attempt(session: Session, kind: str, email: str, ip: str, now: datetime, succeeded: bool) -> None:
    session.add(SignInAttemptRow(kind=kind, email=email, ip=ip, at=now, succeeded=succeeded))
    session.flush()


# --- Sessions -----------------------------------------------------------------------------------------------------

STAFF_IDLE = timedelta(hours=12)
MEMBER_IDLE = timedelta(days=14)
SESSION_LIFETIME = timedelta(days=30)
SEEN_EVERY = timedelta(minutes=5)  # last_seen_at is written at most this often, so reading a page writes nothing
SESSION_PREFIX = "fbs_"


@dataclass(frozen=True, slots=True)
class NewSession:
    row: WebSessionRow
    token: str  # goes into the cookie; only its digest is kept


@dataclass(frozen=True, slots=True)
class Client:
    ip: str
    user_agent: str | None = None


class SignInRefused(FlexbillError):
    status_code = 401

    def __init__(self) -> None:
        super().__init__("the email address or the password is not right")


def sign_in_staff(session: Session, now: datetime, *, email: str, password: str, client: Client) -> NewSession | None:
    """Check the password and open a console session; None when the address or the password is wrong. The
    attempt is recorded either way, so the caller commits in both cases (a failure must count towards the
    throttle) and answers a failure with :class:`SignInRefused`, which says the same whichever was wrong."""
    address = email.strip().lower()
    _check_throttle(session, "staff", address, client.ip, now, count_successes=False)
    user = session.scalar(select(UserRow).where(UserRow.email == address))
    hashed = user.password_hash if user is not None else _UNKNOWN_USER_HASH
    try:
        _hasher.verify(hashed, password)
        valid = user is not None and user.disabled_at is None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        valid = False
    _note_attempt(session, "staff", address, client.ip, now, valid)
    if not valid or user is None:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_sign_in_at = now
    made = _open_session(session, now, kind="staff", email=address, user_id=user.id, client=client)
    audit.record(session, "user.sign_in", entity_type="users", entity_id=user.id, actor=staff_actor(user, client))
    return made


def staff_actor(user: UserRow, client: Client | None = None) -> Actor:
    return Actor(ActorKind.USER, user.email, user.id, client.ip if client else None)


def _open_session(
    session: Session, now: datetime, *, kind: str, email: str, user_id: uuid.UUID | None, client: Client
) -> NewSession:
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    idle = STAFF_IDLE if kind == "staff" else MEMBER_IDLE
    row = WebSessionRow(
        kind=kind,
        digest=_digest(token),
        user_id=user_id,
        email=email,
        created_at=now,
        expires_at=now + idle,
        last_seen_at=now,
        ip=client.ip[:45],
        user_agent=(client.user_agent or "")[:300] or None,
    )
    session.add(row)
    session.flush()
    return NewSession(row=row, token=token)


def open_member_session(session: Session, now: datetime, *, email: str, client: Client) -> NewSession:
    """A portal session for ``email`` opened without an emailed link, for tooling that acts as a member (a load
    test, a support tool). Members themselves only ever sign in through :func:`redeem_member_link`."""
    return _open_session(session, now, kind="member", email=normalise_email(email), user_id=None, client=client)


def find_session(session: Session, token: str, kind: str, now: datetime) -> WebSessionRow | None:
    """The live session of this cookie, or None. Read-only unless it is time to note the session's use."""
    if not token.startswith(SESSION_PREFIX):
        return None
    row = session.scalar(select(WebSessionRow).where(WebSessionRow.digest == _digest(token)))
    if row is None or row.kind != kind or row.ended_at is not None:
        return None
    if now >= _aware(row.expires_at) or now >= _aware(row.created_at) + SESSION_LIFETIME:
        return None
    return row


def session_needs_touch(row: WebSessionRow, now: datetime) -> bool:
    return now - _aware(row.last_seen_at) >= SEEN_EVERY


def touch_session(session: Session, session_id: uuid.UUID, now: datetime) -> None:
    row = session.get(WebSessionRow, session_id)
    if row is None:
        return
    idle = STAFF_IDLE if row.kind == "staff" else MEMBER_IDLE
    row.last_seen_at = now
    row.expires_at = min(now + idle, _aware(row.created_at) + SESSION_LIFETIME)


def end_session(session: Session, token: str, now: datetime) -> None:
    row = session.scalar(select(WebSessionRow).where(WebSessionRow.digest == _digest(token)))
    if row is not None and row.ended_at is None:
        row.ended_at = now


def end_user_sessions(session: Session, user_id: uuid.UUID, now: datetime) -> None:
    """Sign a user out everywhere: after a password change, a new role, or being disabled."""
    for row in session.scalars(
        select(WebSessionRow).where(WebSessionRow.user_id == user_id, WebSessionRow.ended_at.is_(None))
    ):
        row.ended_at = now


# --- Members' sign-in links ---------------------------------------------------------------------------------------

MEMBER_LINK_LIFETIME = timedelta(minutes=30)
LINK_PREFIX = "fbl_"


@dataclass(frozen=True, slots=True)
class NewMemberLink:
    row: MemberLinkRow
    token: str  # goes into the emailed URL


def issue_member_link(session: Session, now: datetime, *, email: str, client: Client) -> NewMemberLink:
    """A one-time sign-in link for an address. Throttled per address and per client, whether or not the address
    is a customer's, so the answer never tells which addresses are customers'."""
    address = normalise_email(email)
    _check_throttle(session, "member", address, client.ip, now, count_successes=True)
    _note_attempt(session, "member", address, client.ip, now, True)
    token = LINK_PREFIX + secrets.token_urlsafe(32)
    row = MemberLinkRow(digest=_digest(token), email=address, created_at=now, expires_at=now + MEMBER_LINK_LIFETIME)
    session.add(row)
    session.flush()
    return NewMemberLink(row=row, token=token)


class LinkNotValid(FlexbillError):
    status_code = 400

    def __init__(self, message: str, email: str | None = None) -> None:
        super().__init__(message)
        self.email = email  # the address of a used or expired link, to offer it a new one


def check_member_link(session: Session, now: datetime, token: str, *, lock: bool = False) -> MemberLinkRow:
    """The link of ``token`` while it can still be used, without using it: the page a link opens only asks the
    member to confirm, because mail scanners open links too. Raises ``LinkNotValid`` saying why not."""
    row = None
    if token.startswith(LINK_PREFIX):
        query = select(MemberLinkRow).where(MemberLinkRow.digest == _digest(token))
        row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise LinkNotValid("this sign-in link is not valid: ask for a new one")
    if row.used_at is not None:
        raise LinkNotValid("this sign-in link has already been used: ask for a new one", row.email)
    if now >= _aware(row.expires_at):
        raise LinkNotValid("this sign-in link has expired: ask for a new one", row.email)
    return row


def redeem_member_link(session: Session, now: datetime, token: str, *, client: Client) -> NewSession:
    """Use a sign-in link (once) and open a portal session for its address."""
    row = check_member_link(session, now, token, lock=True)
    row.used_at = now
    return _open_session(session, now, kind="member", email=row.email, user_id=None, client=client)
