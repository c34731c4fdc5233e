"""``Idempotency-Key``: a retried PUT or POST is answered with the first answer and not done again.

Keys belong to one app and one organisation and are kept 24 hours (sandbox time) from their first use. The
same key with a different request (another body, path or query) is refused with a 400, so a client bug that
reuses keys cannot silently drop a change. A second request with a key whose first request is still running
waits for it and then replays its answer. Answers of 5xx are not kept: the work may not have happened, and
the retry should do it. The store itself is shared with the other sandboxes (:mod:`flexbill.sandbox.idempotency`).
"""

from __future__ import annotations

from datetime import timedelta

from flexbill.sandbox.clock import SandboxClock
from flexbill.sandbox.idempotency import IdempotencyStore as ReplayStore
from flexbill.sandbox.idempotency import StoredResponse, fingerprint

LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 128

__all__ = ["LIFETIME", "MAX_KEY_LENGTH", "IdempotencyStore", "StoredResponse", "fingerprint"]


class IdempotencyStore(ReplayStore):
    """Keys scoped by (tenant id, client id, key), kept for :data:`LIFETIME`."""

    def __init__(self, clock: SandboxClock) -> None:
        super().__init__(clock, LIFETIME)
