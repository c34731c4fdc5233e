"""Sandbox time: real time sped up by a factor, or a clock that only moves when told.

Operators rehearse a month against a sandbox in an afternoon, so every window a sandbox keeps (token lifetimes,
rate-limit windows, idempotency keys) is measured on this clock rather than on the wall clock. With
``time_scale=60`` a sandbox minute lasts one real second. Tests use a stopped clock and :meth:`SandboxClock.advance`.

>>> from datetime import UTC, datetime, timedelta
>>> clock = SandboxClock(start=datetime(2026, 11, 1, tzinfo=UTC), time_scale=60, running=False)
>>> clock.advance(timedelta(minutes=5))
>>> clock.now().isoformat()
'2026-11-01T00:05:00+00:00'
>>> clock.real_seconds(120.0)  # two sandbox minutes pass in two real seconds
2.0
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta


class SandboxClock:
    """A thread-safe clock whose time runs ``time_scale`` times faster than real time (or not at all)."""

    def __init__(self, *, start: datetime | None = None, time_scale: float = 1.0, running: bool = True) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be greater than 0")
        if start is not None and start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._lock = threading.Lock()
        self._anchor = (start or datetime.now(UTC)).astimezone(UTC)
        self._anchor_real = time.monotonic()
        self._scale = float(time_scale)
        self._running = running

    @property
    def time_scale(self) -> float:
        return self._scale

    @property
    def running(self) -> bool:
        return self._running

    def now(self) -> datetime:
        with self._lock:
            return self._now_locked()

    def today(self) -> date:
        return self.now().date()

    def _now_locked(self) -> datetime:
        if not self._running:
            return self._anchor
        return self._anchor + timedelta(seconds=(time.monotonic() - self._anchor_real) * self._scale)

    def _reanchor(self) -> None:
        self._anchor = self._now_locked()
        self._anchor_real = time.monotonic()

    def set_time_scale(self, time_scale: float) -> None:
        """Change the speed from now on; the time already shown is kept (time never jumps)."""
        if time_scale <= 0:
            raise ValueError("time_scale must be greater than 0")
        with self._lock:
            self._reanchor()
            self._scale = float(time_scale)

    def advance(self, delta: timedelta) -> None:
        """Move sandbox time forward (a stopped clock moves only this way)."""
        if delta < timedelta(0):
            raise ValueError("a sandbox clock only moves forward")
        with self._lock:
            self._reanchor()
            self._anchor += delta

    def set(self, instant: datetime) -> None:
        """Show ``instant`` from now on (forward or back: a rehearsal may restart a month)."""
        if instant.tzinfo is None:
            raise ValueError("instant must be timezone-aware")
        with self._lock:
            self._anchor = instant.astimezone(UTC)
            self._anchor_real = time.monotonic()

    def set_running(self, running: bool) -> None:
        with self._lock:
            self._reanchor()
            self._running = running

    def real_seconds(self, sandbox_seconds: float) -> float:
        """How long ``sandbox_seconds`` of sandbox time last in real time."""
        return sandbox_seconds / self._scale
