"""``Idempotency-Key``: a retried POST gets the first answer, and nothing is done again.

As at Stripe, keys belong to one account and are kept 24 hours (of sandbox time). The first request's
fingerprint (method, path and parameters, whatever their order on the wire) and its answer are saved once the
request starts to execute: successes, card errors and 500s alike. A retry with the same parameters gets the saved
answer with ``Idempotent-Replayed: true``; the same key with other parameters is refused (400
``idempotency_error``); a retry while the first request still runs is refused with a 409. A request refused by
validation (400 before anything was done) saves nothing, so it can be corrected and sent again with its key.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from flexbill.sandbox.clock import SandboxClock

LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 255

KeyScope = tuple[str, str]  # (account id, key)
Verdict = Literal["run", "mismatch", "in_progress"]


@dataclass(frozen=True)
class SavedResponse:
    fingerprint: str
    status: int
    body: bytes
    request_id: str
    expires: datetime


def fingerprint(method: str, path: str, params: dict[str, Any]) -> str:
    canonical = json.dumps([method.upper(), path, params], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class IdempotencyStore:
    def __init__(self, clock: SandboxClock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._saved: dict[KeyScope, SavedResponse] = {}
        self._running: dict[KeyScope, str] = {}
        self.replays = 0
        self.mismatches = 0
        self.conflicts = 0

    def claim(self, scope: KeyScope, print_: str) -> Verdict | SavedResponse:
        """``run`` (the caller must :meth:`save` or :meth:`release`), a saved answer to replay, or a refusal."""
        now = self._clock.now()
        with self._lock:
            for expired in [key for key, saved in self._saved.items() if saved.expires <= now]:
                del self._saved[expired]
            saved = self._saved.get(scope)
            if saved is not None:
                if saved.fingerprint != print_:
                    self.mismatches += 1
                    return "mismatch"
                self.replays += 1
                return saved
            running = self._running.get(scope)
            if running is not None:
                if running != print_:
                    self.mismatches += 1
                    return "mismatch"
                self.conflicts += 1
                return "in_progress"
            self._running[scope] = print_
            return "run"

    def save(self, scope: KeyScope, print_: str, status: int, body: bytes, request_id: str) -> None:
        with self._lock:
            self._running.pop(scope, None)
            self._saved[scope] = SavedResponse(print_, status, body, request_id, self._clock.now() + LIFETIME)

    def release(self, scope: KeyScope) -> None:
        """The request was refused before it executed: the key stays free."""
        with self._lock:
            self._running.pop(scope, None)

    def clear(self) -> None:
        with self._lock:
            self._saved.clear()
            self._running.clear()
            self.replays = self.mismatches = self.conflicts = 0

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {
                "keys": len(self._saved),
                "running": len(self._running),
                "replays": self.replays,
                "mismatches": self.mismatches,
                "conflicts": self.conflicts,
            }
