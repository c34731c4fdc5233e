"""Xero's API rate limits: per tenant 5 calls at once, 60 a minute and 5,000 a day; per app 10,000 a minute.

The windows are fixed and start with the first call after the previous one ended, so they reset at different
times for each tenant, as Xero's do. They are measured in sandbox time; ``Retry-After`` is in real seconds
(the client sleeps in real time), rounded up to a whole second and never below 1.

A call that is refused does not count against the limits (nothing was done for it).
"""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from flexbill.sandbox.clock import SandboxClock

MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)


SANDBOX_MINUTE_HEADER = "X-Sandbox-Minute-Seconds"


@dataclass(frozen=True)
class Limits:
    concurrent: int = 5
    per_minute: int = 60
    per_day: int = 5000
    app_per_minute: int = 10_000

    def as_dict(self) -> dict[str, int]:
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

    def seconds_left(self, now: datetime) -> float:
        if self.start is None:
            return 0.0
        return max(0.0, (self.start + self.length - now).total_seconds())


@dataclass(frozen=True)
class Verdict:
    """The answer to "may this call go ahead?", with the headers every response carries."""

    allowed: bool
    headers: dict[str, str]
    problem: str | None = None
    retry_after: int | None = None


class RateLimiter:
    def __init__(self, clock: SandboxClock, limits: Limits | None = None) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.limits = limits or Limits()
        self._minute: dict[str, _Window] = {}
        self._day: dict[str, _Window] = {}
        self._app: dict[str, _Window] = {}
        self._in_flight: dict[str, int] = {}

    def reset(self) -> None:
        with self._lock:
            self._minute.clear()
            self._day.clear()
            self._app.clear()
            self._in_flight.clear()

    def acquire(self, tenant_id: str, app_id: str) -> Verdict:
        """Count a call that starts now, or refuse it; an allowed call must be :meth:`release`\\ d when done."""
        now = self._clock.now()
        limits = self.limits
        with self._lock:
            minute = self._minute.setdefault(tenant_id, _Window(MINUTE))
            day = self._day.setdefault(tenant_id, _Window(DAY))
            app = self._app.setdefault(app_id, _Window(MINUTE))
            for window in (minute, day, app):
                window.roll(now)
            in_flight = self._in_flight.get(tenant_id, 0)
            problem: str | None = None
            wait: float | None = None
            if day.count >= limits.per_day:
                problem, wait = "day", day.seconds_left(now)
            elif minute.count >= limits.per_minute:
                problem, wait = "minute", minute.seconds_left(now)
            elif app.count >= limits.app_per_minute:
                problem = "appminute"
            elif in_flight >= limits.concurrent:
                problem = "concurrent"
            else:
                for window in (minute, day, app):
                    window.add(now)
                self._in_flight[tenant_id] = in_flight + 1
            headers = {
                "X-DayLimit-Remaining": str(max(0, limits.per_day - day.count)),
                "X-MinLimit-Remaining": str(max(0, limits.per_minute - minute.count)),
                "X-AppMinLimit-Remaining": str(max(0, limits.app_per_minute - app.count)),
                # Not Xero's: how many real seconds the sandbox's (possibly compressed) minute lasts, so a client's
                # rate limiter can keep to it. Xero's minute is 60 s and it sends no such header.
                SANDBOX_MINUTE_HEADER: f"{self._clock.real_seconds(60.0):g}",
            }
        if problem is None:
            return Verdict(True, headers)
        retry_after = self.real_seconds(wait) if wait is not None else None
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        headers["X-Rate-Limit-Problem"] = problem
        return Verdict(False, headers, problem, retry_after)

    def release(self, tenant_id: str) -> None:
        with self._lock:
            self._in_flight[tenant_id] = max(0, self._in_flight.get(tenant_id, 0) - 1)

    def in_flight(self, tenant_id: str) -> int:
        """Calls of the tenant running now."""
        with self._lock:
            return self._in_flight.get(tenant_id, 0)

    def app_headers(self, app_id: str) -> dict[str, str]:
        """The app-wide header, for answers given before the tenant is known (a 403)."""
        now = self._clock.now()
        with self._lock:
            app = self._app.setdefault(app_id, _Window(MINUTE))
            app.roll(now)
            return {"X-AppMinLimit-Remaining": str(max(0, self.limits.app_per_minute - app.count))}

    def real_seconds(self, sandbox_seconds: float) -> int:
        """Sandbox seconds as the whole real seconds a client should wait (at least 1)."""
        return max(1, math.ceil(self._clock.real_seconds(sandbox_seconds) - 1e-9))

    def snapshot(self) -> dict[str, object]:
        now = self._clock.now()
        with self._lock:
            tenants = {}
            for tenant_id, minute in self._minute.items():
                day = self._day.get(tenant_id, _Window(DAY))
                tenants[tenant_id] = {
                    "minute_calls": minute.count if minute.start and now < minute.start + MINUTE else 0,
                    "day_calls": day.count if day.start and now < day.start + DAY else 0,
                    "in_flight": self._in_flight.get(tenant_id, 0),
                }
            return {"limits": self.limits.as_dict(), "tenants": tenants}
