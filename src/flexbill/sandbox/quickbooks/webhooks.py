"""QuickBooks' webhooks: signed POSTs telling a receiver that a customer or a transaction changed.

Each change notes an event (entity, Id, operation: Create, Update, Delete, Void, Emailed); the events of a short
window go out in one POST with ``intuit-signature`` = base64(HMAC-SHA256(raw body, verifier token)), in one of
Intuit's two formats (the ``format`` setting, CloudEvents by default):

``cloudevents``
    a JSON array of CloudEvents 1.0, one per change: ``{"specversion": "1.0", "id", "source", "type":
    "qbo.invoice.updated.v1", "datacontenttype": "application/json", "time", "intuitentityid",
    "intuitaccountid": <realm id>, "data": {}}``.
``legacy``
    ``{"eventNotifications": [{"realmId", "dataChangeEvent": {"entities": [{"name", "id", "operation",
    "lastUpdated"}]}}]}``.

A delivery not answered 200 is retried after each of the retry delays (real seconds; Intuit retries for hours,
a rehearsal needs to see the failure sooner) and then logged as failed. The queue, retries and the log are
shared with the other sandboxes (:mod:`flexbill.sandbox.webhooks`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC
from typing import Any, Literal

from flexbill.sandbox.clock import SandboxClock
from flexbill.sandbox.quickbooks.wire import ZONE, answer_time
from flexbill.sandbox.webhooks import QueuedEvent, WebhookQueue

WebhookFormat = Literal["cloudevents", "legacy"]
_PAST = {"Create": "created", "Update": "updated", "Delete": "deleted", "Void": "voided", "Emailed": "emailed"}
SOURCE = "intuit.quickbooks.sandbox"


def sign(body: bytes, verifier_token: str) -> str:
    """The ``intuit-signature`` of a payload."""
    return base64.b64encode(hmac.new(verifier_token.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


class WebhookDispatcher(WebhookQueue):
    thread_name = "quickbooks-sandbox-webhooks"

    def __init__(
        self,
        *,
        clock: SandboxClock,
        realm_id: str,
        should_drop: Callable[[], bool] = lambda: False,
        batch_seconds: float = 0.5,
        retry_delays: Sequence[float] = (1.0, 5.0, 25.0),
        timeout: float = 5.0,
    ) -> None:
        super().__init__(
            clock=clock,
            should_drop=should_drop,
            batch_seconds=batch_seconds,
            retry_delays=retry_delays,
            timeout=timeout,
        )
        self.realm_id = realm_id
        self.format: WebhookFormat = "cloudevents"

    def set_format(self, chosen: WebhookFormat) -> None:
        with self._cond:
            self.format = chosen

    def emit(self, name: str, id_: str, operation: str) -> None:
        """Note that a record changed (called with the company's lock held, so events keep their order)."""
        if not self.enabled:
            return
        self.enqueue({"name": name, "id": id_, "operation": operation, "at": self._clock.now()})

    def encode_batch(self, batch: list[QueuedEvent], key: str) -> tuple[bytes, dict[str, str]]:
        payload: Any
        if self.format == "legacy":
            entities = [
                {
                    "name": event.body["name"],
                    "id": event.body["id"],
                    "operation": event.body["operation"],
                    "lastUpdated": event.body["at"].astimezone(ZONE).strftime("%Y-%m-%dT%H:%M:%S%z"),
                }
                for event in batch
            ]
            payload = {"eventNotifications": [{"realmId": self.realm_id, "dataChangeEvent": {"entities": entities}}]}
        else:
            payload = [
                {
                    "specversion": "1.0",
                    "id": str(uuid.uuid4()),
                    "source": SOURCE,
                    "type": f"qbo.{event.body['name'].lower()}.{_PAST[event.body['operation']]}.v1",
                    "datacontenttype": "application/json",
                    "time": event.body["at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "intuitentityid": event.body["id"],
                    "intuitaccountid": self.realm_id,
                    "data": {},
                }
                for event in batch
            ]
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        return body, {"Content-Type": "application/json", "intuit-signature": sign(body, key)}

    def delivered_at(self) -> str:
        return answer_time(self._clock.now())

    def status(self) -> dict[str, Any]:
        return {**super().status(), "format": self.format}
