"""The delivery loop of the sandboxes' webhooks: queue events, batch them, POST them signed, retry, log.

A change notes an event at once (:meth:`WebhookQueue.enqueue`); a background thread gathers the events of a
short window (``batch_seconds``, real time) into one payload, which the sandbox builds and signs in its own
format (:meth:`WebhookQueue.encode_batch`), and POSTs it. A delivery that is not answered 200 is retried after
each of ``retry_delays`` (real seconds), then given up and recorded as failed. Each event takes the next
sequence number when it happens, so the log shows which events a delivery carried. An injected fault may drop
an event before it is queued (``should_drop``). :meth:`WebhookQueue.flush` waits until every noted event is
delivered or given up.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from flexbill.sandbox.clock import SandboxClock


@dataclass
class QueuedEvent:
    sequence: int
    body: dict[str, Any]
    noted_at: float  # real monotonic time, for the batching window


class WebhookQueue:
    """Subclasses build the payload and its headers from a batch of events (:meth:`encode_batch`)."""

    thread_name = "sandbox-webhooks"

    def __init__(
        self,
        *,
        clock: SandboxClock,
        should_drop: Callable[[], bool] = lambda: False,
        batch_seconds: float = 0.5,
        retry_delays: Sequence[float] = (1.0, 5.0, 25.0),
        timeout: float = 5.0,
        max_batch: int = 100,
    ) -> None:
        self._clock = clock
        self._should_drop = should_drop
        self.batch_seconds = batch_seconds
        self.retry_delays = tuple(retry_delays)
        self.timeout = timeout
        self.max_batch = max_batch
        self._cond = threading.Condition()
        self._pending: list[QueuedEvent] = []
        self._sequence = 0
        self._busy = False
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.url: str | None = None
        self.key: str | None = None
        self.deliveries: collections.deque[dict[str, Any]] = collections.deque(maxlen=500)
        self.counts = {"events": 0, "dropped": 0, "delivered": 0, "failed": 0, "attempts": 0}

    # -- what a sandbox provides -------------------------------------------------------------------------------

    def encode_batch(self, batch: list[QueuedEvent], key: str) -> tuple[bytes, dict[str, str]]:
        """The body to POST for ``batch`` and its headers (content type and signature)."""
        raise NotImplementedError

    def delivered_at(self) -> str:
        """When a delivery was made, as the delivery log shows it (sandbox time)."""
        return self._clock.now().isoformat()

    # -- configuration -----------------------------------------------------------------------------------------

    def configure(self, url: str | None, key: str | None) -> None:
        with self._cond:
            self.url = url or None
            self.key = key or None

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

    def enqueue(self, body: dict[str, Any]) -> None:
        """Note an event; delivered in the next batch (or dropped by an injected fault)."""
        with self._cond:
            self._sequence = self._sequence % 2_147_483_647 + 1
            self.counts["events"] += 1
            if self._should_drop():
                self.counts["dropped"] += 1
                return
            self._pending.append(QueuedEvent(self._sequence, body, time.monotonic()))
            self._start_locked()
            self._cond.notify_all()

    def _start_locked(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopped = False
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
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

    def _deliver(self, client: httpx.Client, url: str, key: str, batch: list[QueuedEvent]) -> None:
        body, headers = self.encode_batch(batch, key)
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
        record["at"] = self.delivered_at()
        with self._cond:
            self.counts["delivered" if delivered else "failed"] += len(batch)
            self.deliveries.append(record)

    def status(self) -> dict[str, Any]:
        with self._cond:
            return {
                "url": self.url,
                "configured": self.enabled,
                "pending": len(self._pending),
                "last_sequence": self._sequence,
                "counts": dict(self.counts),
                "deliveries": list(self.deliveries)[-50:],
                "batch_seconds": self.batch_seconds,
                "retry_delays": list(self.retry_delays),
            }
