"""One Xero sandbox: the organisation, its tokens, limits, faults, idempotency keys, webhooks and counters."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

from flexbill.sandbox.clock import SandboxClock
from flexbill.sandbox.xero import demo
from flexbill.sandbox.xero.faults import FaultInjector
from flexbill.sandbox.xero.idempotency import IdempotencyStore
from flexbill.sandbox.xero.limits import Limits, RateLimiter
from flexbill.sandbox.xero.oauth import TokenStore
from flexbill.sandbox.xero.state import IdFactory, Organisation
from flexbill.sandbox.xero.webhooks import WebhookDispatcher
from flexbill.sandbox.xero.wire import event_date

XERO_API_BASE = "https://api.xero.com"


class Stats:
    """What clients did to the sandbox: calls by endpoint, answers by status, 429s by limit, lost answers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.calls: Counter[str] = Counter()
            self.statuses: Counter[int] = Counter()
            self.throttled: Counter[str] = Counter()
            self.lost = 0

    def call(self, endpoint: str) -> None:
        with self._lock:
            self.calls[endpoint] += 1

    def answered(self, status: int, problem: str | None) -> None:
        with self._lock:
            self.statuses[status] += 1
            if status == 429:
                self.throttled[problem or "unknown"] += 1

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
                "throttled_by_problem": dict(self.throttled),
                "lost_responses": self.lost,
            }


class XeroSandbox:
    """Everything one Xero sandbox holds; :func:`flexbill.sandbox.xero.app.create_xero_app` serves it over HTTP.

    The organisation's tenant id is the same in every run (:data:`flexbill.sandbox.xero.demo.TENANT_ID`), so a
    flexbill connected to the sandbox finds its organisation again after a restart (only the tokens are new).
    ``public_url`` is where clients reach the sandbox's Xero root (``http://127.0.0.1:P/xero``); webhooks point
    their ``resourceUrl`` there. The server sets it; otherwise the first request does.
    """

    def __init__(
        self,
        *,
        clock: SandboxClock | None = None,
        time_scale: float = 1.0,
        limits: Limits | None = None,
        webhook_url: str | None = None,
        webhook_key: str | None = None,
        tenant_id: str | None = None,
        seed: int | None = None,
        provider_name: str = "flexbill",
        public_url: str | None = None,
        webhook_batch_seconds: float = 0.5,
        webhook_retry_delays: Sequence[float] = (1.0, 5.0, 25.0),
    ) -> None:
        self.clock = clock or SandboxClock(time_scale=time_scale)
        ids = IdFactory(seed)
        self.tenant_id = tenant_id or demo.TENANT_ID
        self.provider_name = provider_name
        self.public_url = public_url
        self.faults = FaultInjector()
        self.webhooks = WebhookDispatcher(
            clock=self.clock,
            tenant_id=self.tenant_id,
            resource_base=lambda: self.public_url or XERO_API_BASE,
            should_drop=self.faults.take_webhook_drop,
            batch_seconds=webhook_batch_seconds,
            retry_delays=webhook_retry_delays,
        )
        self.webhooks.configure(webhook_url, webhook_key)
        self.org = Organisation(now=self.clock.now, tenant_id=self.tenant_id, ids=ids, events=self.webhooks.emit)
        self.tokens = TokenStore(self.clock, self.tenant_id, self.org.profile.name)
        self.limiter = RateLimiter(self.clock, limits)
        self.idempotency = IdempotencyStore(self.clock)
        self.stats = Stats()

    def reset(self, *, tokens: bool = False) -> None:
        """A fresh organisation: no contacts or transactions, counters at zero, no faults, no keys or windows.

        Webhook settings, limits and the clock are kept; tokens too unless ``tokens`` is set.
        """
        self.org.reset()
        self.idempotency.clear()
        self.limiter.reset()
        self.stats.reset()
        self.faults.clear()
        self.webhooks.reset()
        if tokens:
            self.tokens.revoke_all()

    def state(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "tenant_name": self.org.profile.name,
            "now": event_date(self.clock.now()),
            "time_scale": self.clock.time_scale,
            "counts": self.org.counts(),
            "calls": self.stats.snapshot(),
            "rate_limits": self.limiter.snapshot(),
            "idempotency": self.idempotency.snapshot(),
            "faults": {"pending": self.faults.pending(), "fired": dict(self.faults.fired)},
            "tokens": self.tokens.snapshot(),
            "webhooks": self.webhooks.status(),
        }

    def close(self) -> None:
        self.webhooks.close()
