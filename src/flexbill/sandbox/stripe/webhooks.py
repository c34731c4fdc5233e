"""Stripe's webhooks: each event POSTed as JSON to every enabled endpoint of its account that wants its type.

The ``Stripe-Signature`` header is ``t=<unix time>,v1=<hex HMAC-SHA256 of "t.body" with the endpoint's secret>``.
Its timestamp is real wall-clock time even when sandbox time runs faster: receivers compare it with their own
clock (Stripe's libraries allow 300 seconds). Each endpoint gets its events one at a time in the order they
happened; a delivery not answered with a 2xx is retried after growing delays (real seconds; 1, 5 and 25 by
default, where Stripe keeps trying for three days) and then recorded as failed, and the endpoint's next event
waits meanwhile. A background thread per endpoint does the sending, so no request waits for a receiver.

>>> sign_payload("whsec_test", b'{"id":"evt_1"}', 1767225600)
't=1767225600,v1=45b40331de0325606dc5400202ade162460fbe48daf9401adfdcd0d7b4f35470'
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
MAX_RECORDS = 1000


def sign_payload(secret: str, payload: bytes, timestamp: int) -> str:
    """The ``Stripe-Signature`` header value for ``payload`` sent at ``timestamp`` (Unix seconds)."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass
class Delivery:
    """One event owed to one endpoint."""

    delivery_id: int
    account_id: str
    endpoint_id: str
    url: str
    secret: str
    event_id: str
    event_type: str
    body: bytes
    attempts: int = 0
    status: str = "pending"  # then "delivered" or "failed"
    last_response: str | None = None
    finished_at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.delivery_id,
            "account": self.account_id,
            "endpoint": self.endpoint_id,
            "url": self.url,
            "event": self.event_id,
            "type": self.event_type,
            "attempts": self.attempts,
            "status": self.status,
            "last_response": self.last_response,
            "finished_at": self.finished_at,
        }


class WebhookDispatcher:
    def __init__(
        self,
        *,
        now: Callable[[], str],
        retry_delays: Sequence[float] = (1.0, 5.0, 25.0),
        timeout: float = 5.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._now = now  # sandbox time, for the records
        self._wall_clock = wall_clock
        self.retry_delays = tuple(retry_delays)
        self.timeout = timeout
        self._cond = threading.Condition()
        self._queues: dict[str, deque[Delivery]] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._busy: set[str] = set()
        self._hurry = 0
        self._stopped = False
        self._ids = itertools.count(1)
        self.records: deque[Delivery] = deque(maxlen=MAX_RECORDS)
        self.counts = {"queued": 0, "delivered": 0, "failed": 0, "attempts": 0}

    def enqueue(
        self, *, account_id: str, endpoint_id: str, url: str, secret: str, event_id: str, event_type: str, body: bytes
    ) -> Delivery:
        with self._cond:
            delivery = Delivery(next(self._ids), account_id, endpoint_id, url, secret, event_id, event_type, body)
            self._queues.setdefault(endpoint_id, deque()).append(delivery)
            self.records.append(delivery)
            self.counts["queued"] += 1
            self._stopped = False
            thread = self._threads.get(endpoint_id)
            if thread is None or not thread.is_alive():
                thread = threading.Thread(
                    target=self._run, args=(endpoint_id,), name=f"stripe-sandbox-webhooks-{endpoint_id}", daemon=True
                )
                self._threads[endpoint_id] = thread
                thread.start()
            self._cond.notify_all()
            return delivery

    def pending_for(self, event_id: str) -> int:
        with self._cond:
            return sum(1 for queue in self._queues.values() for delivery in queue if delivery.event_id == event_id)

    def pending(self) -> int:
        with self._cond:
            return sum(len(queue) for queue in self._queues.values())

    def flush(self, timeout: float = 10.0) -> bool:
        """Deliver everything pending now, skipping retry delays; ``False`` if it took longer than ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._hurry += 1
            self._cond.notify_all()
            try:
                while any(self._queues.values()) or self._busy:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._cond.wait(left)
                return True
            finally:
                self._hurry -= 1

    def reset(self) -> None:
        """Forget pending deliveries and history."""
        with self._cond:
            for queue in self._queues.values():
                queue.clear()
            self.records.clear()
            self.counts = dict.fromkeys(self.counts, 0)
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout=self.timeout + 1)

    def for_account(self, account_id: str, limit: int = 100) -> list[dict[str, Any]]:
        with self._cond:
            found = [d.as_dict() for d in self.records if d.account_id == account_id]
        return found[-limit:]

    def _run(self, endpoint_id: str) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            while True:
                with self._cond:
                    queue = self._queues[endpoint_id]
                    while not queue and not self._stopped:
                        self._cond.wait()
                    if self._stopped:
                        return
                    delivery = queue[0]
                    self._busy.add(endpoint_id)
                try:
                    self._deliver(client, delivery)
                finally:
                    with self._cond:
                        if queue and queue[0] is delivery:
                            queue.popleft()
                        self._busy.discard(endpoint_id)
                        self._cond.notify_all()

    def _deliver(self, client: httpx.Client, delivery: Delivery) -> None:
        for attempt in range(len(self.retry_delays) + 1):
            if attempt and self._wait(self.retry_delays[attempt - 1]):
                return
            timestamp = int(self._wall_clock())
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": USER_AGENT,
                "Stripe-Signature": sign_payload(delivery.secret, delivery.body, timestamp),
            }
            with self._cond:
                delivery.attempts += 1
                self.counts["attempts"] += 1
            try:
                response = client.post(delivery.url, content=delivery.body, headers=headers)
                outcome = str(response.status_code)
                succeeded = 200 <= response.status_code < 300
            except httpx.HTTPError as error:
                outcome, succeeded = f"{type(error).__name__}: {error}", False
            with self._cond:
                delivery.last_response = outcome
                if succeeded or attempt == len(self.retry_delays):
                    delivery.status = "delivered" if succeeded else "failed"
                    delivery.finished_at = self._now()
                    self.counts[delivery.status] += 1
                    return

    def _wait(self, seconds: float) -> bool:
        """Sleep before a retry (cut short by :meth:`flush`); ``True`` if the dispatcher is closing."""
        deadline = time.monotonic() + seconds
        with self._cond:
            while not self._stopped and not self._hurry:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return self._stopped

    def status(self) -> dict[str, Any]:
        with self._cond:
            return {
                "pending": sum(len(queue) for queue in self._queues.values()),
                "counts": dict(self.counts),
                "retry_delays": list(self.retry_delays),
            }
