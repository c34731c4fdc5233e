"""Xero's webhooks: signed POSTs telling a receiver that a contact, invoice or credit note changed.

A change notes an event at once (under the organisation's lock); a background thread gathers the events of a
short window into one payload and POSTs it with ``x-xero-signature`` = base64(HMAC-SHA256(raw body, key)).
A delivery that is not answered 200 is retried with growing delays (real seconds: 1, 5 and 25 by default),
then given up and recorded as failed (Xero keeps retrying for up to a day; a rehearsal needs to see the failure
sooner). Each event takes the next sequence number when it happens, so a receiver can notice events that never
arrived. A payload may hold events of several categories, as Xero's one webhook per app does.

The intent-to-receive check sends empty payloads, some signed with the key and some not, and records whether
the receiver answered 200 to the former and 401 to the latter, as Xero does before it enables a webhook.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import json
import secrets
import string
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from flexbill.sandbox.clock import SandboxClock
from flexbill.sandbox.xero.wire import event_date

RESOURCES = {"CONTACT": "Contacts", "INVOICE": "Invoices", "CREDITNOTE": "CreditNotes"}


def sign(body: bytes, key: str) -> str:
    """The ``x-xero-signature`` of a payload."""
    return base64.b64encode(hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def entropy() -> str:
    return "".join(secrets.choice(string.ascii_uppercase) for _ in range(20))


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


@dataclass
class _Event:
    sequence: int
    body: dict[str, Any]
    noted_at: float  # real monotonic time, for the batching window


class WebhookDispatcher:
    def __init__(
        self,
        *,
        clock: SandboxClock,
        tenant_id: str,
        resource_base: Callable[[], str],
        should_drop: Callable[[], bool] = lambda: False,
        batch_seconds: float = 0.5,
        retry_delays: Sequence[float] = (1.0, 5.0, 25.0),
        timeout: float = 5.0,
        max_batch: int = 100,
    ) -> None:
        self._clock = clock
        self._tenant_id = tenant_id
        self._resource_base = resource_base
        self._should_drop = should_drop
        self.batch_seconds = batch_seconds
        self.retry_delays = tuple(retry_delays)
        self.timeout = timeout
        self.max_batch = max_batch
        self._cond = threading.Condition()
        self._pending: list[_Event] = []
        self._sequence = 0
        self._busy = False
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.url: str | None = None
        self.key: str | None = None
        self.deliveries: collections.deque[dict[str, Any]] = collections.deque(maxlen=500)
        self.counts = {"events": 0, "dropped": 0, "delivered": 0, "failed": 0, "attempts": 0}
        self.intent: dict[str, Any] | None = None

    # -- configuration -----------------------------------------------------------------------------------------

    def configure(self, url: str | None, key: str | None) -> None:
        with self._cond:
            changed = url != self.url
            self.url = url or None
            self.key = key or None
            if changed:
                self.intent = None

    @property
    def enabled(self) -> bool:
        return bool(self.url and self.key)

    def reset(self) -> None:
        """Forget pending events and history (the configuration stays)."""
        with self._cond:
            self._pending.clear()
            self._sequence = 0
            self.deliveries.clear()
            self.counts = dict.fromkeys(self.counts, 0)
            self._cond.notify_all()

    # -- events ------------------------------------------------------------------------------------------------

    def emit(self, category: str, event_type: str, resource_id: str, data: dict[str, str] | None = None) -> None:
        """Note that a record changed; delivered in the next batch (or dropped by an injected fault)."""
        if not self.enabled:
            return
        event: dict[str, Any] = {
            "resourceUrl": f"{self._resource_base()}/api.xro/2.0/{RESOURCES[category]}/{resource_id}",
            "resourceId": resource_id,
            "eventDateUtc": event_date(self._clock.now()),
            "eventType": event_type,
            "eventCategory": category,
            "tenantId": self._tenant_id,
            "tenantType": "ORGANISATION",
        }
        if data is not None:
            event["data"] = dict(data)
        with self._cond:
            self._sequence = self._sequence % 2_147_483_647 + 1
            self.counts["events"] += 1
            if self._should_drop():
                self.counts["dropped"] += 1
                return
            self._pending.append(_Event(self._sequence, event, time.monotonic()))
            self._start_locked()
            self._cond.notify_all()

    def _start_locked(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopped = False
            self._thread = threading.Thread(target=self._run, name="xero-sandbox-webhooks", daemon=True)
            self._thread.start()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every noted event is delivered or given up (tests and the demo use it)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=self.timeout + 1)

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            while True:
                with self._cond:
                    while not self._pending and not self._stopped:
                        self._cond.wait()
                    if self._stopped:
                        return
                    ready_at = self._pending[0].noted_at + self.batch_seconds
                    while not self._stopped and time.monotonic() < ready_at:
                        self._cond.wait(ready_at - time.monotonic())
                    if self._stopped:
                        return
                    batch = self._pending[: self.max_batch]
                    del self._pending[: len(batch)]
                    url, key = self.url, self.key
                    self._busy = bool(batch)
                try:
                    if batch and url and key:
                        self._deliver(client, url, key, batch)
                finally:
                    with self._cond:
                        self._busy = False
                        self._cond.notify_all()

    def _deliver(self, client: httpx.Client, url: str, key: str, batch: list[_Event]) -> None:
        payload = {
            "events": [event.body for event in batch],
            "firstEventSequence": batch[0].sequence,
            "lastEventSequence": batch[-1].sequence,
            "entropy": entropy(),
        }
        body = encode(payload)
        headers = {"Content-Type": "application/json", "x-xero-signature": sign(body, key)}
        record: dict[str, Any] = {
            "first_sequence": batch[0].sequence,
            "last_sequence": batch[-1].sequence,
            "events": len(batch),
            "attempts": 0,
        }
        outcome = ""
        for attempt in range(len(self.retry_delays) + 1):
            if attempt:
                with self._cond:
                    if self._cond.wait_for(lambda: self._stopped, timeout=self.retry_delays[attempt - 1]):
                        break
            record["attempts"] = attempt + 1
            with self._cond:
                self.counts["attempts"] += 1
            try:
                response = client.post(url, content=body, headers=headers)
                outcome = str(response.status_code)
                if response.status_code == 200:
                    break
            except httpx.HTTPError as error:
                outcome = f"{type(error).__name__}: {error}"
        delivered = outcome == "200"
        record["status"] = "delivered" if delivered else "failed"
        record["last_response"] = outcome
        record["at"] = event_date(self._clock.now())
        with self._cond:
            self.counts["delivered" if delivered else "failed"] += len(batch)
            self.deliveries.append(record)

    # -- intent to receive -------------------------------------------------------------------------------------

    def intent_to_receive(self, rounds: int = 4) -> dict[str, Any]:
        """Send ``rounds`` empty payloads, alternately signed wrongly and rightly; record how the receiver did."""
        url, key = self.url, self.key
        if not url or not key:
            raise ValueError("configure the webhook url and key first")
        checks: list[dict[str, Any]] = []
        with httpx.Client(timeout=self.timeout) as client:
            for index in range(max(2, rounds)):
                correct = index % 2 == 1
                body = encode({"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": entropy()})
                signature = sign(body, key if correct else secrets.token_urlsafe(32))
                expected = 200 if correct else 401
                check: dict[str, Any] = {"signature": "correct" if correct else "incorrect", "expected": expected}
                started = time.monotonic()
                try:
                    response = client.post(
                        url, content=body, headers={"Content-Type": "application/json", "x-xero-signature": signature}
                    )
                    check["status"] = response.status_code
                    check["ok"] = response.status_code == expected
                except httpx.HTTPError as error:
                    check["status"] = None
                    check["error"] = f"{type(error).__name__}: {error}"
                    check["ok"] = False
                check["elapsed_ms"] = round((time.monotonic() - started) * 1000)
                checks.append(check)
        result = {
            "status": "OK" if all(check["ok"] for check in checks) else "FAILED",
            "url": url,
            "checked_at": event_date(self._clock.now()),
            "checks": checks,
        }
        with self._cond:
            self.intent = result
        return result

    def status(self) -> dict[str, Any]:
        with self._cond:
            return {
                "url": self.url,
                "configured": self.enabled,
                "pending": len(self._pending),
                "last_sequence": self._sequence,
                "counts": dict(self.counts),
                "deliveries": list(self.deliveries)[-50:],
                "intent_to_receive": self.intent,
                "batch_seconds": self.batch_seconds,
                "retry_delays": list(self.retry_delays),
            }
