"""The pure rules of outgoing webhooks: signing and verifying a delivery, the retry schedule, the addresses and
event types an endpoint may have."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from flexbill.events.model import (
    RETRY_WINDOW,
    EventType,
    SignatureError,
    UnknownEventType,
    check_endpoint_url,
    delivered,
    event_body,
    next_attempt_at,
    normalise_event_types,
    parse_event_id,
    retry_schedule,
    sign,
    subscribes,
    verify,
    wait_after,
)
from flexbill.worker import MAX_ATTEMPTS

BODY = b'{"id":"evt_0193","type":"invoice.paid","data":{"object":{"total":"360.00"}}}'
SECRET = "whsec_abc123"
T = 1795694400  # 2026-11-26 12:00:00 UTC


# --- signing ---------------------------------------------------------------------------------------------------


def test_the_signature_is_the_hmac_of_time_dot_body_keyed_with_the_whole_secret() -> None:
    # What a receiver in any language computes: HMAC-SHA256("<t>.<raw body>", key = the secret as shown).
    expected = hmac.new(b"whsec_abc123", b"1795694400." + BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, SECRET, T) == f"t=1795694400,v1={expected}"


def test_a_genuine_delivery_verifies_up_to_five_minutes_either_side() -> None:
    header = sign(BODY, SECRET, T)
    for now in (T, T + 300, T - 300, T + 0.5):
        verify(BODY, header, SECRET, now=now)


@pytest.mark.parametrize(
    ("body", "header", "secret", "now", "reason"),
    [
        (BODY + b" ", sign(BODY, SECRET, T), SECRET, T, "does not match"),  # a byte changed (even whitespace)
        (BODY, sign(BODY, SECRET, T), "whsec_other", T, "does not match"),
        (BODY, sign(BODY, SECRET, T), SECRET, T + 301, "301 s away from now"),  # a replay, later
        (BODY, sign(BODY, SECRET, T), SECRET, T - 301, "301 s away from now"),
        (BODY, f"t={T + 10},v1=" + sign(BODY, SECRET, T).split("v1=")[1], SECRET, T, "does not match"),  # new time
        (BODY, "", SECRET, T, "is not of the form"),
        (BODY, f"t={T}", SECRET, T, "is not of the form"),
        (BODY, "v1=00", SECRET, T, "is not of the form"),
        (BODY, "t=soon,v1=00", SECRET, T, "is not of the form"),
    ],
)
def test_anything_else_is_refused_with_the_reason(
    body: bytes, header: str, secret: str, now: float, reason: str
) -> None:  # fmt: skip
    with pytest.raises(SignatureError, match=reason):
        verify(body, header, secret, now=now)


def test_one_matching_signature_among_several_is_enough() -> None:
    good = sign(BODY, SECRET, T).split("v1=")[1]
    verify(BODY, f"t={T},v1={'0' * 64},v1={good}", SECRET, now=T)
    verify(BODY, f" t={T} , v1={good} ", SECRET, now=T)


def test_the_tolerance_can_be_narrowed() -> None:
    with pytest.raises(SignatureError):
        verify(BODY, sign(BODY, SECRET, T), SECRET, now=T + 61, tolerance=60)


# --- the retry schedule ----------------------------------------------------------------------------------------


def test_waits_grow_from_a_minute_to_twelve_hours_and_stay_there() -> None:
    minutes = [wait_after(attempt) / timedelta(minutes=1) for attempt in range(1, 10)]
    assert minutes == [1, 5, 30, 120, 360, 720, 720, 720, 720]
    assert wait_after(0) == wait_after(1)


def test_an_endpoint_that_always_fails_is_tried_eight_times_in_a_day_the_last_when_the_day_is_up() -> None:
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    schedule = retry_schedule(t0)
    offsets = [(at - t0) / timedelta(minutes=1) for at in schedule]
    # 0, 1, 1+5, 6+30, 36+120, 156+360, 516+720, then 1236+720 would pass the day: 1440.
    assert offsets == [0, 1, 6, 36, 156, 516, 1236, 1440]
    assert next_attempt_at(t0, schedule[-1], len(schedule)) is None


def test_the_schedule_ends_before_the_worker_would_give_the_task_up_on_its_own() -> None:
    assert len(retry_schedule(datetime(2026, 12, 1, tzinfo=UTC))) < MAX_ATTEMPTS


def test_a_late_first_attempt_still_ends_with_the_window() -> None:
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    # The worker was down: the first attempt failed 23 h 59 after the event; one last try at the day's end.
    late = t0 + RETRY_WINDOW - timedelta(minutes=1)
    assert next_attempt_at(t0, late, 1) == t0 + RETRY_WINDOW
    assert next_attempt_at(t0, t0 + RETRY_WINDOW + timedelta(hours=5), 1) is None


def test_a_resend_opens_a_new_window_from_when_it_was_asked() -> None:
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    resent = t0 + timedelta(days=3)
    assert next_attempt_at(resent, resent, 1) == resent + timedelta(minutes=1)
    assert next_attempt_at(t0, resent, 1) is None


def test_only_a_2xx_is_a_delivery() -> None:
    assert [delivered(code) for code in (199, 200, 202, 299, 300, 302, 400, 410, 500, None)] == [
        False, True, True, True, False, False, False, False, False, False,
    ]  # fmt: skip


# --- endpoints and event types ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/flexbill",
        "https://hooks.example.com:8443/in?source=flexbill",
        "http://localhost:9000/in",
        "http://127.0.0.1/in",
        "http://127.8.9.10:81/",
        "http://[::1]:8080/in",
        "  https://hooks.example.com/trimmed  ",
    ],
)
def test_https_anywhere_and_plain_http_only_to_this_machine(url: str) -> None:
    assert check_endpoint_url(url) == url.strip()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/in", "use https"),
        ("http://10.0.0.5/in", "use https"),
        ("http://localhost.example.com/in", "use https"),
        ("ftp://hooks.example.com/in", "is not an absolute"),
        ("hooks.example.com/in", "is not an absolute"),
        ("https:///in", "is not an absolute"),
        ("https://user:secret@hooks.example.com/in", "no user name or password"),
        ("https://hooks.example.com/in#part", "#fragment"),
        ("https://hooks.example.com:99999/in", "is not a URL"),
        ("https://hooks.example.com/a b", "spaces"),
    ],
)
def test_other_addresses_are_refused_saying_why(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_endpoint_url(url)


def test_event_types_are_checked_kept_once_and_star_or_none_means_all() -> None:
    assert normalise_event_types(["invoice.paid", "sync.failed", "invoice.paid"]) == ["invoice.paid", "sync.failed"]
    assert normalise_event_types([]) == ["*"]
    assert normalise_event_types(["invoice.paid", "*"]) == ["*"]
    with pytest.raises(UnknownEventType) as refused:
        normalise_event_types(["invoice.paid", "invoice.deleted"])
    assert refused.value.index == 1
    assert "'invoice.deleted' is not an event type" in str(refused.value)
    assert "credit_note.created" in str(refused.value)  # the message lists the types there are


def test_subscriptions() -> None:
    assert subscribes(["*"], EventType.SYNC_FAILED)
    assert subscribes([], EventType.SYNC_FAILED)
    assert subscribes(["sync.failed"], EventType.SYNC_FAILED)
    assert not subscribes(["invoice.paid"], EventType.SYNC_FAILED)


def test_an_event_says_what_it_is_about() -> None:
    event_id = parse_event_id("evt_0193a6b6d2f07c2a9d1e4b5c6d7e8f90")
    assert parse_event_id(str(event_id)) == event_id
    body = event_body(event_id, EventType.INVOICE_PAID, datetime(2026, 12, 1, 9, tzinfo=UTC), "invoice", {"n": 1})
    assert body == {
        "id": "evt_0193a6b6d2f07c2a9d1e4b5c6d7e8f90",
        "type": "invoice.paid",
        "created": "2026-12-01T09:00:00Z",
        "data": {"object_type": "invoice", "object": {"n": 1}},
    }
    with pytest.raises(ValueError, match="badly formed"):
        parse_event_id("evt_nothex")
