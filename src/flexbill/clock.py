"""Time is injected: the domain asks a Clock, never ``date.today()``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...

    def today(self) -> date:
        """Today's date (UTC)."""
        ...


def local_today(clock: Clock, timezone: str) -> date:
    """Today's date where a location is: an invoice due today in Sydney is overdue from Sydney's midnight."""
    return clock.now().astimezone(ZoneInfo(timezone)).date()


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return self.now().date()


@dataclass
class FixedClock:
    """A clock that shows what it is told; tests and replays use it."""

    instant: datetime

    def now(self) -> datetime:
        return self.instant

    def today(self) -> date:
        return self.instant.date()


@dataclass
class ShiftedClock:
    """A clock that started at ``start`` and runs on at the real pace: rehearsing a month ahead
    (``FLEXBILL_TODAY``) with retries, leases and rate-limit waits that still come due."""

    start: datetime
    _origin: float = field(default_factory=time.monotonic)

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self._origin)

    def today(self) -> date:
        return self.now().date()
