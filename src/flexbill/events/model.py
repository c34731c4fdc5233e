"""Outgoing webhooks, the pure rules: which events there are, who is subscribed, the addresses flexbill posts
to, how a delivery is signed and verified, and when a failed delivery is tried again.

An event is published in the transaction of the change that causes it, with a snapshot of the resource as the API
shows it; one delivery per subscribed endpoint follows through the outbox.

Signing, as a receiver checks it (``verify`` is the code to copy)::

    flexbill-signature: t=1795694400,v1=<hex HMAC-SHA256 of "1795694400.<raw body>" keyed with the secret>

>>> header = sign(b'{"id":"evt_1"}', "whsec_test", 1795694400)
>>> header
't=1795694400,v1=2753610d069e31aac98ff84eca93ef0e192b57d6d355aacb0b105b0b9732c7f9'
>>> verify(b'{"id":"evt_1"}', header, "whsec_test", now=1795694400 + 299)
>>> verify(b'{"id":"evt_2"}', header, "whsec_test", now=1795694400)
Traceback (most recent call last):
...
flexbill.events.model.SignatureError: the signature does not match the body and the secret

The retries of a failing endpoint, from the event (then one last try when the day is up):

>>> [str(wait) for wait in RETRY_WAITS]
['0:01:00', '0:05:00', '0:30:00', '2:00:00', '6:00:00', '12:00:00']
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit


class EventType(StrEnum):
    INVOICE_CREATED = "invoice.created"  # a bill run made it (as a draft or issued at once)
    INVOICE_ISSUED = "invoice.issued"  # it has its number and is owed: a draft issued, or issued by a bill run
    INVOICE_UPDATED = "invoice.updated"  # paid in part, credited, refunded, numbered by the accounting system
    INVOICE_PAID = "invoice.paid"  # nothing is due on it any more
    INVOICE_VOIDED = "invoice.voided"
    PAYMENT_SUCCEEDED = "payment.succeeded"  # a payment recorded: by staff, a gateway or the accounting system
    PAYMENT_FAILED = "payment.failed"  # a charge of a saved payment method was declined
    PAYMENT_REFUNDED = "payment.refunded"  # money a gateway took was given back, in part or in full
    CREDIT_NOTE_CREATED = "credit_note.created"
    SYNC_FAILED = "sync.failed"  # the accounting system refused a record, or the sync gave it up


ALL_TYPES = "*"
EVENT_ID_PREFIX = "evt_"
SECRET_PREFIX = "whsec_"
SIGNATURE_TOLERANCE = 300  # seconds a signature stays acceptable to ``verify``: replays of old ones are refused

# Wait after each failed attempt (the last one repeats) for as long as the retry window lasts.
RETRY_WAITS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=12),
)
RETRY_WINDOW = timedelta(days=1)
LOOPBACK_NAMES = frozenset({"localhost"})


# --- events ------------------------------------------------------------------------------------------------------


def event_public_id(event_id: uuid.UUID) -> str:
    """The id an event goes by on the wire.

    >>> event_public_id(uuid.UUID(int=255))
    'evt_000000000000000000000000000000ff'
    """
    return EVENT_ID_PREFIX + event_id.hex


def parse_event_id(text: str) -> uuid.UUID:
    """An event's id as the API accepts it: ``evt_<32 hex>``, or the plain UUID. ValueError otherwise.

    >>> parse_event_id("evt_000000000000000000000000000000ff") == uuid.UUID(int=255)
    True
    """
    return uuid.UUID(hex=text.removeprefix(EVENT_ID_PREFIX))


def event_body(event_id: uuid.UUID, event_type: EventType, created: datetime, object_type: str, obj: object) -> dict[
    str, object
]:  # fmt: skip
    """What an event says, stored once and posted as is to every endpoint (and again on a re-send)."""
    return {
        "id": event_public_id(event_id),
        "type": event_type.value,
        "created": created.isoformat().replace("+00:00", "Z"),
        "data": {"object_type": object_type, "object": obj},
    }


def invoice_event_after_settlement(status_before: str, status_after: str) -> EventType:
    """What a change to what is paid or credited on an invoice tells: ``invoice.paid`` when it has just become
    paid, ``invoice.updated`` otherwise (paid in part, paid above its total, refunded, paid on a voided invoice).

    >>> invoice_event_after_settlement("awaiting_payment", "paid").value
    'invoice.paid'
    >>> invoice_event_after_settlement("awaiting_payment", "partially_paid").value
    'invoice.updated'
    >>> invoice_event_after_settlement("paid", "paid").value
    'invoice.updated'
    """
    if status_after == "paid" and status_before != "paid":
        return EventType.INVOICE_PAID
    return EventType.INVOICE_UPDATED


# --- subscriptions -------------------------------------------------------------------------------------------------


def normalise_event_types(types: Sequence[str]) -> list[str]:
    """The event types an endpoint subscribes to, checked and without repeats; ``["*"]`` for all (also what an
    empty list means). ValueError naming the position of an unknown type.

    >>> normalise_event_types(["invoice.paid", "invoice.paid", "payment.failed"])
    ['invoice.paid', 'payment.failed']
    >>> normalise_event_types([])
    ['*']
    >>> try:
    ...     normalise_event_types(["invoice.paid", "invoice.payed"])
    ... except UnknownEventType as error:
    ...     print(error.index, str(error)[:44])
    1 'invoice.payed' is not an event type; the ty
    """
    known = {t.value for t in EventType}
    chosen: list[str] = []
    for index, name in enumerate(types):
        if name == ALL_TYPES:
            return [ALL_TYPES]
        if name not in known:
            raise UnknownEventType(name, index)
        if name not in chosen:
            chosen.append(name)
    return chosen or [ALL_TYPES]


class UnknownEventType(ValueError):
    def __init__(self, name: str, index: int) -> None:
        listed = ", ".join(t.value for t in EventType)
        super().__init__(f"{name!r} is not an event type; the types are {listed}, or * for all")
        self.index = index


def subscribes(event_types: Iterable[str], event_type: EventType) -> bool:
    """Whether an endpoint with these ``event_types`` wants events of ``event_type``.

    >>> subscribes(["*"], EventType.INVOICE_PAID), subscribes(["invoice.paid"], EventType.INVOICE_VOIDED)
    (True, False)
    """
    wanted = set(event_types)
    return not wanted or ALL_TYPES in wanted or event_type.value in wanted


# --- endpoint addresses --------------------------------------------------------------------------------------------


def check_endpoint_url(url: str) -> str:
    """The address events are posted to: https, or plain http to this machine only (a receiver under test).
    ValueError saying what is wrong.

    >>> check_endpoint_url("https://hooks.example.com/flexbill")
    'https://hooks.example.com/flexbill'
    >>> check_endpoint_url("http://127.0.0.1:9000/in")
    'http://127.0.0.1:9000/in'
    >>> check_endpoint_url("http://hooks.example.com/flexbill")
    Traceback (most recent call last):
    ...
    ValueError: use https: events are sent in plain http only to this machine (localhost, 127.0.0.1 or [::1])
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port  # reading it checks it
    except ValueError as error:
        raise ValueError(f"{text!r} is not a URL: {error}") from None
    del port
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        raise ValueError(f"{text!r} is not an absolute http(s) URL such as https://hooks.example.com/flexbill")
    if parts.username is not None or parts.password is not None:
        raise ValueError("put no user name or password in the URL: receivers check the signature instead")
    if parts.fragment:
        raise ValueError("a URL with a #fragment cannot be posted to")
    if any(character.isspace() for character in text):
        raise ValueError("the URL contains spaces")
    if scheme == "http" and not is_loopback(host):
        raise ValueError(
            "use https: events are sent in plain http only to this machine (localhost, 127.0.0.1 or [::1])"
        )
    return text


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine.

    >>> is_loopback("127.0.0.5"), is_loopback("::1"), is_loopback("localhost"), is_loopback("10.0.0.1")
    (True, True, True, False)
    """
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def private_addresses(addresses: Iterable[str]) -> list[str]:
    """Those of ``addresses`` that are not public: loopback, private networks, link-local (the cloud's metadata
    service), reserved. Events go to them only when the operator allows it, or an endpoint could reach inside.

    >>> private_addresses(["93.184.215.14", "127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "2606:4700::1111"])
    ['127.0.0.1', '10.1.2.3', '169.254.169.254', '::1']
    """
    return [address for address in addresses if not ipaddress.ip_address(address.split("%")[0]).is_global]


# --- secrets and signatures ------------------------------------------------------------------------------------


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(body: bytes, secret: str, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` keyed with the whole secret (``whsec_`` included)."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The ``flexbill-signature`` header of a delivery made at ``timestamp`` (Unix seconds)."""
    return f"t={timestamp},v1={signature(body, secret, timestamp)}"


class SignatureError(ValueError):
    """The request is not a genuine, fresh delivery from flexbill."""


def verify(body: bytes, header: str, secret: str, *, now: float, tolerance: int = SIGNATURE_TOLERANCE) -> None:
    """Check a delivery as its receiver does, with the raw request body (before any JSON parsing), the
    ``flexbill-signature`` header, the endpoint's secret and the current Unix time. Raises ``SignatureError``.

    Self-contained (hmac, hashlib) so receivers can copy it. Several ``v1`` values may be present: one matching
    is enough."""
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError("the flexbill-signature header is not of the form t=<time>,v1=<signature>")
    if abs(now - timestamp) > tolerance:
        raise SignatureError(f"the signature was made {abs(now - timestamp):.0f} s away from now (over {tolerance} s)")
    expected = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise SignatureError("the signature does not match the body and the secret")


# --- retries ---------------------------------------------------------------------------------------------------


def wait_after(attempt: int) -> timedelta:
    """How long to wait after attempt ``attempt`` (1 is the first) of one delivery run failed.

    >>> [str(wait_after(n)) for n in (1, 2, 6, 7, 9)]
    ['0:01:00', '0:05:00', '12:00:00', '12:00:00', '12:00:00']
    """
    return RETRY_WAITS[min(max(attempt, 1), len(RETRY_WAITS)) - 1]


def next_attempt_at(since: datetime, failed_at: datetime, attempt: int) -> datetime | None:
    """When to try again after attempt ``attempt`` failed at ``failed_at``, in a retry window that opened at
    ``since`` (the event, or the re-send): the scheduled wait, cut short to the window's end for one last try;
    None once the window is over (the delivery has failed).

    >>> t0 = datetime(2026, 12, 1)
    >>> next_attempt_at(t0, t0, 1)
    datetime.datetime(2026, 12, 1, 0, 1)
    >>> next_attempt_at(t0, t0 + timedelta(hours=20, minutes=36), 7)  # 12 h would pass the day: at its end
    datetime.datetime(2026, 12, 2, 0, 0)
    >>> next_attempt_at(t0, t0 + timedelta(days=1), 8) is None
    True
    """
    deadline = since + RETRY_WINDOW
    if failed_at >= deadline:
        return None
    return min(failed_at + wait_after(attempt), deadline)


def retry_schedule(since: datetime) -> list[datetime]:
    """Every attempt of a delivery that always fails, each made the moment it is due.

    >>> t0 = datetime(2026, 12, 1)
    >>> [str(at - t0) for at in retry_schedule(t0)]
    ['0:00:00', '0:01:00', '0:06:00', '0:36:00', '2:36:00', '8:36:00', '20:36:00', '1 day, 0:00:00']
    """
    attempts = [since]
    while (following := next_attempt_at(since, attempts[-1], len(attempts))) is not None:
        attempts.append(following)
    return attempts


# --- what an attempt came to ---------------------------------------------------------------------------------


EXCERPT_LIMIT = 500  # characters of a receiver's answer kept on the attempt


def delivered(status_code: int | None) -> bool:
    """Whether the receiver took the event: any 2xx (a redirect is not followed, and is not a delivery).

    >>> delivered(200), delivered(204), delivered(301), delivered(500), delivered(None)
    (True, True, False, False, False)
    """
    return status_code is not None and 200 <= status_code < 300


def excerpt(content: bytes) -> str:
    """The start of a receiver's answer, as text, for the delivery log.

    >>> excerpt(b"ok"), len(excerpt(b"x" * 2000))
    ('ok', 500)
    """
    return content[: EXCERPT_LIMIT * 4].decode("utf-8", errors="replace")[:EXCERPT_LIMIT]
