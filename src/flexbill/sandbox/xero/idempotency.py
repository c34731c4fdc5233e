"""``Idempotency-Key``: a retried PUT or POST is answered with the first answer and not done again.

Keys belong to one app and one organisation and are kept 24 hours (sandbox time) from their first use. The
same key with a different request (another body, path or query) is refused with a 400, so a client bug that
reuses keys cannot silently drop a change. A second request with a key whose first request is still running
waits for it and then replays its answer. Answers of 5xx are not kept: the work may not have happened, and
the retry should do it.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from flexbill.sandbox.clock import SandboxClock

LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 128

Scope = tuple[str, str, str]  # (tenant id, client id, key)


@dataclass(frozen=True)
class StoredResponse:
    fingerprint: str
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    expires: datetime


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.lower().encode(), query, body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


class IdempotencyStore:
    def __init__(self, clock: SandboxClock) -> None:
        self._clock = clock
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
            for expired in [key for key, stored in self._done.items() if stored.expires <= now]:
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
                self._done[scope] = StoredResponse(print_, status, headers, body, self._clock.now() + LIFETIME)

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
