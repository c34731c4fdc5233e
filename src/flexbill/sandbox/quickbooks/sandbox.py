"""One QuickBooks sandbox: the company, its tokens, limits, faults, ``requestid`` answers, webhooks and counters."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

from flexbill.sandbox.clock import SandboxClock
from flexbill.sandbox.idempotency import IdempotencyStore
from flexbill.sandbox.quickbooks import demo
from flexbill.sandbox.quickbooks.company import Company
from flexbill.sandbox.quickbooks.faults import FaultInjector
from flexbill.sandbox.quickbooks.limits import Limits, RateLimiter
from flexbill.sandbox.quickbooks.oauth import TokenStore
from flexbill.sandbox.quickbooks.webhooks import WebhookDispatcher
from flexbill.sandbox.quickbooks.wire import answer_time


class Stats:
    """What clients did: calls by endpoint, answers by status, 429s by limit, Faults by code, lost answers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.calls: Counter[str] = Counter()
            self.statuses: Counter[int] = Counter()
            self.throttled: Counter[str] = Counter()
            self.faults: Counter[str] = Counter()
            self.lost = 0

    def call(self, endpoint: str) -> None:
        with self._lock:
            self.calls[endpoint] += 1

    def answered(self, status: int) -> None:
        with self._lock:
            self.statuses[status] += 1

    def throttle(self, limit: str) -> None:
        with self._lock:
            self.throttled[limit] += 1

    def fault(self, code: str) -> None:
        with self._lock:
            self.faults[code] += 1

    def lost_response(self) -> None:
        with self._lock:
            self.lost += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": sum(self.calls.values()),
                "by_endpoint": dict(sorted(self.calls.items())),
                "by_status": {str(status): count for status, count in sorted(self.statuses.items())},
                "throttled": sum(self.throttled.values()),
                "throttled_by_limit": dict(self.throttled),
                "faults_by_code": dict(sorted(self.faults.items())),
                "lost_responses": self.lost,
            }


class QuickBooksSandbox:
    """Everything one QuickBooks sandbox holds; :func:`flexbill.sandbox.quickbooks.app.create_quickbooks_app`
    serves it over HTTP.

    The realm id is the same in every run (:data:`flexbill.sandbox.quickbooks.demo.REALM_ID`), so a flexbill
    connected to the sandbox finds its company again after a restart (only the tokens are new). ``public_url``
    is where clients reach the sandbox's root (``http://127.0.0.1:P/quickbooks``); the server sets it, otherwise
    the first request does.
    """

    def __init__(
        self,
        *,
        clock: SandboxClock | None = None,
        time_scale: float = 1.0,
        limits: Limits | None = None,
        webhook_url: str | None = None,
        webhook_verifier: str | None = None,
        public_url: str | None = None,
        webhook_batch_seconds: float = 0.5,
        webhook_retry_delays: Sequence[float] = (1.0, 5.0, 25.0),
    ) -> None:
        self.clock = clock or SandboxClock(time_scale=time_scale)
        self.realm_id = demo.REALM_ID
        self.public_url = public_url
        self.faults = FaultInjector()
        self.webhooks = WebhookDispatcher(
            clock=self.clock,
            realm_id=self.realm_id,
            should_drop=self.faults.take_webhook_drop,
            batch_seconds=webhook_batch_seconds,
            retry_delays=webhook_retry_delays,
        )
        self.webhooks.configure(webhook_url, webhook_verifier)
        self.company = Company(now=self.clock.now, realm_id=self.realm_id, events=self.webhooks.emit)
        self.tokens = TokenStore(self.clock, self.realm_id)
        self.limiter = RateLimiter(self.clock, limits)
        # requestid answers: one store per company, kept until reset (Intuit documents no expiry)
        self.requests = IdempotencyStore(self.clock, lifetime=None)
        self.stats = Stats()

    def reset(self, *, tokens: bool = False) -> None:
        """A fresh demo company: no customers or transactions, preferences back to their defaults, counters at
        zero, no faults, requestids or windows. Webhook settings, limits and the clock are kept; tokens too
        unless ``tokens`` is set."""
        self.company.reset()
        self.requests.clear()
        self.limiter.reset()
        self.stats.reset()
        self.faults.clear()
        self.webhooks.reset()
        if tokens:
            self.tokens.revoke_all()

    def state(self) -> dict[str, Any]:
        return {
            "realm_id": self.realm_id,
            "company_name": demo.NAME,
            "now": answer_time(self.clock.now()),
            "time_scale": self.clock.time_scale,
            "counts": self.company.counts(),
            "calls": self.stats.snapshot(),
            "rate_limits": self.limiter.snapshot(),
            "requestids": self.requests.snapshot(),
            "faults": {"pending": self.faults.pending(), "fired": dict(self.faults.fired)},
            "tokens": self.tokens.snapshot(),
            "webhooks": self.webhooks.status(),
            "preferences": self.company.settings(),
        }

    def close(self) -> None:
        self.webhooks.close()
