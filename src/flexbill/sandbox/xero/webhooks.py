"""Xero's webhooks: signed POSTs telling a receiver that a contact, invoice or credit note changed.

A change notes an event at once (under the organisation's lock); a background thread gathers the events of a
short window into one payload and POSTs it with ``x-xero-signature`` = base64(HMAC-SHA256(raw body, key)).
A delivery that is not answered 200 is retried with growing delays (real seconds: 1, 5 and 25 by default),
then given up and recorded as failed (Xero keeps retrying for up to a day; a rehearsal needs to see the failure
sooner). Each event takes the next sequence number when it happens, so a receiver can notice events that never
arrived. A payload may hold events of several categories, as Xero's one webhook per app does.

The intent-to-receive check sends empty payloads, some signed with the key and some not, and records whether
the receiver answered 200 to the former and 401 to the latter, as Xero does before it enables a webhook.

The queue, batching, retries and delivery log are shared with the other sandboxes
(:mod:`flexbill.sandbox.webhooks`); this module adds Xero's payload, signature and intent-to-receive check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import string
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from flexbill.sandbox.clock import SandboxClock
from flexbill.sandbox.webhooks import QueuedEvent, WebhookQueue
from flexbill.sandbox.xero.wire import event_date

RESOURCES = {"CONTACT": "Contacts", "INVOICE": "Invoices", "CREDITNOTE": "CreditNotes"}


def sign(body: bytes, key: str) -> str:
    """The ``x-xero-signature`` of a payload."""
    return base64.b64encode(hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def entropy() -> str:
    return "".join(secrets.choice(string.ascii_uppercase) for _ in range(20))


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


class WebhookDispatcher(WebhookQueue):
    thread_name = "xero-sandbox-webhooks"

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
        super().__init__(
            clock=clock,
            should_drop=should_drop,
            batch_seconds=batch_seconds,
            retry_delays=retry_delays,
            timeout=timeout,
            max_batch=max_batch,
        )
        self._tenant_id = tenant_id
        self._resource_base = resource_base
        self.intent: dict[str, Any] | None = None

    def configure(self, url: str | None, key: str | None) -> None:
        if url != self.url:
            self.intent = None
        super().configure(url, key)

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
        self.enqueue(event)

    def encode_batch(self, batch: list[QueuedEvent], key: str) -> tuple[bytes, dict[str, str]]:
        payload = {
            "events": [event.body for event in batch],
            "firstEventSequence": batch[0].sequence,
            "lastEventSequence": batch[-1].sequence,
            "entropy": entropy(),
        }
        body = encode(payload)
        return body, {"Content-Type": "application/json", "x-xero-signature": sign(body, key)}

    def delivered_at(self) -> str:
        return event_date(self._clock.now())

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
            intent = self.intent
        return {**super().status(), "intent_to_receive": intent}
