"""Stripe's rate limit: in test mode 25 operations a second per account (100 in live mode).

Unlike the sandbox's other windows this one is measured in real time: it limits how fast a client sends
requests, which a sped-up sandbox clock does not change. A refused request does not count.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass

WINDOW_SECONDS = 1.0


@dataclass(frozen=True)
class Limits:
    per_second: int = 25

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class RateLimiter:
    def __init__(self, limits: Limits | None = None, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or Limits()
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._recent: dict[str, deque[float]] = {}
        self.refused = 0

    def acquire(self, account_id: str) -> bool:
        """Count an operation that starts now, or refuse it (the account used its second already)."""
        now = self._monotonic()
        with self._lock:
            recent = self._recent.setdefault(account_id, deque())
            while recent and recent[0] <= now - WINDOW_SECONDS:
                recent.popleft()
            if len(recent) >= self.limits.per_second:
                self.refused += 1
                return False
            recent.append(now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._recent.clear()
            self.refused = 0

    def snapshot(self) -> dict[str, object]:
        return {"limits": self.limits.as_dict(), "refused": self.refused}
