"""QuickBooks Online's throttles, per company (realm): 500 requests a minute, 10 a second, 10 at once, and 40
batch requests a minute (batches count against the other limits too).

The windows are fixed and start with the first call after the previous one ended; they are measured in sandbox
time. A call over any limit gets 429 with Fault 3001 "ThrottleExceeded" (JSON, or by the ``throttle_body``
setting the XML QuickBooks historically sent even to JSON clients). QuickBooks sends no ``Retry-After`` and no
remaining-count headers, so neither does the sandbox: a client must back off on its own (Intuit says to wait
60 seconds). A call that is refused does not count against the limits.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Literal

from flexbill.sandbox.clock import SandboxClock

ThrottleBody = Literal["json", "xml"]
LIMIT_NAMES = ("per_minute", "per_second", "concurrent", "batch_per_minute")


@dataclass(frozen=True)
class Limits:
    per_minute: int = 500
    per_second: int = 10
    concurrent: int = 10
    batch_per_minute: int = 40
    throttle_body: ThrottleBody = "json"

    def as_dict(self) -> dict[str, int | str]:
        return asdict(self)


@dataclass
class _Window:
    length: timedelta
    start: datetime | None = None
    count: int = 0

    def roll(self, now: datetime) -> None:
        if self.start is None or now >= self.start + self.length:
            self.start = None
            self.count = 0

    def add(self, now: datetime) -> None:
        if self.start is None:
            self.start = now
        self.count += 1


class RateLimiter:
    def __init__(self, clock: SandboxClock, limits: Limits | None = None) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.limits = limits or Limits()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._minute: dict[str, _Window] = {}
            self._second: dict[str, _Window] = {}
            self._batch: dict[str, _Window] = {}
            self._in_flight: dict[str, int] = {}

    def acquire(self, realm_id: str, *, batch: bool) -> str | None:
        """Count a call that starts now and return ``None``, or the name of the limit that refuses it. An
        allowed call must be :meth:`release`\\ d when done."""
        now = self._clock.now()
        limits = self.limits
        with self._lock:
            minute = self._minute.setdefault(realm_id, _Window(timedelta(minutes=1)))
            second = self._second.setdefault(realm_id, _Window(timedelta(seconds=1)))
            batches = self._batch.setdefault(realm_id, _Window(timedelta(minutes=1)))
            for window in (minute, second, batches):
                window.roll(now)
            in_flight = self._in_flight.get(realm_id, 0)
            if minute.count >= limits.per_minute:
                return "per_minute"
            if second.count >= limits.per_second:
                return "per_second"
            if batch and batches.count >= limits.batch_per_minute:
                return "batch_per_minute"
            if in_flight >= limits.concurrent:
                return "concurrent"
            minute.add(now)
            second.add(now)
            if batch:
                batches.add(now)
            self._in_flight[realm_id] = in_flight + 1
            return None

    def release(self, realm_id: str) -> None:
        with self._lock:
            self._in_flight[realm_id] = max(0, self._in_flight.get(realm_id, 0) - 1)

    def snapshot(self) -> dict[str, object]:
        now = self._clock.now()
        with self._lock:
            realms = {}
            for realm_id, minute in self._minute.items():
                second = self._second[realm_id]
                batches = self._batch[realm_id]
                realms[realm_id] = {
                    "minute_calls": minute.count if minute.start and now < minute.start + minute.length else 0,
                    "second_calls": second.count if second.start and now < second.start + second.length else 0,
                    "batch_calls": batches.count if batches.start and now < batches.start + batches.length else 0,
                    "in_flight": self._in_flight.get(realm_id, 0),
                }
            return {"limits": self.limits.as_dict(), "realms": realms}
