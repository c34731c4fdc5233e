"""The replay store behind the sandboxes' idempotency keys (Xero's ``Idempotency-Key``, QuickBooks' ``requestid``).

A key's first request runs and its answer is kept; the same key again is answered with that answer and not done
again. Each sandbox decides what a key belongs to (the scope tuple), how long answers are kept and whether the
same key with a different request is a conflict (by what it puts in the fingerprint). A second request with a key
whose first request is still running waits for it and then replays its answer. Answers of 5xx are not kept: the
work may not have happened, and the retry should do it.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from flexbill.sandbox.clock import SandboxClock

Scope = tuple[str, ...]  # what a key belongs to, ending with the key itself


@dataclass(frozen=True)
class StoredResponse:
    fingerprint: str
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    expires: datetime | None


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.lower().encode(), query, body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


class IdempotencyStore:
    def __init__(self, clock: SandboxClock, lifetime: timedelta | None = None) -> None:
        """Answers are kept for ``lifetime`` of sandbox time from their first use (``None``: until cleared)."""
        self._clock = clock
        self._lifetime = lifetime
        self._lock = threading.Lock()
        self._done: dict[Scope, StoredResponse] = {}
        self._running: dict[Scope, str] = {}
        self.replays = 0
        self.conflicts = 0

    def claim(
        self, scope: Scope, print_: str
    ) -> tuple[Literal["run", "wait", "conflict"], None] | tuple[Literal["replay"], StoredResponse]:
        now = self._clock.now()
        with self._lock:
            for expired in [
                k for k, stored in self._done.items() if stored.expires is not None and stored.expires <= now
            ]:
                del self._done[expired]
            stored = self._done.get(scope)
            if stored is not None:
                if stored.fingerprint != print_:
                    self.conflicts += 1
                    return "conflict", None
                self.replays += 1
                return "replay", stored
            running = self._running.get(scope)
            if running is not None:
                if running != print_:
                    self.conflicts += 1
                    return "conflict", None
                return "wait", None
            self._running[scope] = print_
            return "run", None

    def finish(self, scope: Scope, print_: str, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        with self._lock:
            self._running.pop(scope, None)
            if status < 500:
                expires = self._clock.now() + self._lifetime if self._lifetime is not None else None
                self._done[scope] = StoredResponse(print_, status, headers, body, expires)

    def abandon(self, scope: Scope) -> None:
        with self._lock:
            self._running.pop(scope, None)

    def clear(self) -> None:
        with self._lock:
            self._done.clear()
            self._running.clear()
            self.replays = 0
            self.conflicts = 0

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {
                "keys": len(self._done),
                "running": len(self._running),
                "replays": self.replays,
                "conflicts": self.conflicts,
            }
