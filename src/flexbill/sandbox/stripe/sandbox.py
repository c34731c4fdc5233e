"""One Stripe sandbox: its accounts (one per secret key), faults, idempotency keys, rate limit, webhooks and log."""

from __future__ import annotations

import json
import threading
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from flexbill.sandbox.clock import SandboxClock
from flexbill.sandbox.stripe import render
from flexbill.sandbox.stripe.api import OPERATIONS
from flexbill.sandbox.stripe.faults import FaultInjector
from flexbill.sandbox.stripe.idempotency import IdempotencyStore
from flexbill.sandbox.stripe.limits import Limits, RateLimiter
from flexbill.sandbox.stripe.model import Event, IdFactory, account_id_for
from flexbill.sandbox.stripe.state import Account
from flexbill.sandbox.stripe.webhooks import WebhookDispatcher

# The API version of the pinned ``stripe`` SDK: what an account uses when a request names none.
API_VERSION = "2026-10-28.endive"
STRIPE_API_BASE = "https://api.stripe.com"
MAX_LOGGED_REQUESTS = 2000


@dataclass(frozen=True)
class LoggedRequest:
    """One API request, as the dashboard's request log shows it (``request_log_url`` points here)."""

    id: str
    account: str | None
    method: str
    path: str
    operation: str | None
    status: int
    at: str
    idempotency_key: str | None = None
    replayed: bool = False
    error_type: str | None = None
    error_code: str | None = None
    fault: str | None = None


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._recent: deque[LoggedRequest] = deque(maxlen=MAX_LOGGED_REQUESTS)
            self.by_operation: Counter[str] = Counter()
            self.by_status: Counter[int] = Counter()
            self.lost = 0

    def add(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._recent.append(entry)
            self.by_operation[entry.operation or "unrecognised"] += 1
            self.by_status[entry.status] += 1
            if entry.fault == "lost_response":
                self.lost += 1

    def find(self, request_id: str) -> LoggedRequest | None:
        with self._lock:
            return next((entry for entry in self._recent if entry.id == request_id), None)

    def recent(self, account_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        with self._lock:
            entries = [asdict(e) for e in self._recent if account_id is None or e.account == account_id]
        return entries[-limit:]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": sum(self.by_operation.values()),
                "by_operation": dict(sorted(self.by_operation.items())),
                "by_status": {str(status): count for status, count in sorted(self.by_status.items())},
                "lost_responses": self.lost,
            }


class StripeSandbox:
    """Everything one Stripe sandbox holds; :func:`flexbill.sandbox.stripe.create_stripe_app` serves it.

    ``public_url`` is where clients reach the sandbox's root (``http://127.0.0.1:P/stripe``): hosted Checkout
    pages, 3-D Secure pages and receipts hang off it. The server sets it; otherwise the first request does.
    """

    def __init__(
        self,
        *,
        clock: SandboxClock | None = None,
        time_scale: float = 1.0,
        limits: Limits | None = None,
        webhook_retry_delays: Sequence[float] = (1.0, 5.0, 25.0),
        webhook_timeout: float = 5.0,
        seed: int | None = None,
        public_url: str | None = None,
        api_version: str = API_VERSION,
    ) -> None:
        self.clock = clock or SandboxClock(time_scale=time_scale)
        self.ids = IdFactory(seed)
        self.public_url = public_url
        self.api_version = api_version
        self.lock = threading.RLock()
        self.accounts: dict[str, Account] = {}  # by secret key
        self.faults = FaultInjector(OPERATIONS)
        self.idempotency = IdempotencyStore(self.clock)
        self.limiter = RateLimiter(limits)
        self.requests = RequestLog()
        self.webhooks = WebhookDispatcher(
            now=lambda: self.clock.now().isoformat(), retry_delays=webhook_retry_delays, timeout=webhook_timeout
        )

    @property
    def base_url(self) -> str:
        return self.public_url or STRIPE_API_BASE

    def now(self) -> int:
        return int(self.clock.now().timestamp())

    def account_for_key(self, secret_key: str) -> Account:
        """The account a secret key reaches, opened on first use."""
        with self.lock:
            account = self.accounts.get(secret_key)
            if account is None:
                account = Account(
                    account_id=account_id_for(secret_key),
                    now=self.now,
                    ids=self.ids,
                    base_url=lambda: self.base_url,
                    publish=self._deliver,
                    api_version=self.api_version,
                )
                self.accounts[secret_key] = account
            return account

    def account(self, account_id: str) -> Account | None:
        with self.lock:
            return next((a for a in self.accounts.values() if a.id == account_id), None)

    def owner_of(self, object_id: str) -> Account | None:
        """The account holding an object (the hosted pages and control endpoints are reached by object id)."""
        with self.lock:
            return next((a for a in self.accounts.values() if a.find(object_id) is not None), None)

    def _deliver(self, account: Account, event: Event, *, pending: int | None = None) -> int:
        """Queue an event for every enabled endpoint of the account that wants it; the number queued."""
        endpoints = [e for e in account.webhook_endpoints.values() if e.wants(event.type)]
        owed = len(endpoints) if pending is None else pending
        body = json.dumps(render.event(event, owed), indent=2).encode("utf-8")
        for endpoint in endpoints:
            self.webhooks.enqueue(
                account_id=account.id,
                endpoint_id=endpoint.id,
                url=endpoint.url,
                secret=endpoint.secret,
                event_id=event.id,
                event_type=event.type,
                body=body,
            )
        return len(endpoints)

    def redeliver(self, account: Account, event_id: str, times: int = 1) -> int:
        """Send an event again ``times`` times to every endpoint that wants it (receivers must ignore duplicates)."""
        with self.lock:
            event = account.event(event_id)
            return sum(self._deliver(account, event, pending=1) for _ in range(times))

    def render_event(self, event: Event) -> dict[str, Any]:
        return render.event(event, self.webhooks.pending_for(event.id))

    def reset(self, *, webhook_endpoints: bool = False) -> None:
        """Empty every account (webhook endpoints are kept unless asked), and clear faults, keys and logs."""
        with self.lock:
            for account in self.accounts.values():
                account.clear(webhook_endpoints=webhook_endpoints)
        self.idempotency.clear()
        self.limiter.reset()
        self.faults.clear()
        self.requests.reset()
        self.webhooks.reset()

    def state(self, account_id: str | None = None) -> dict[str, Any]:
        with self.lock:
            accounts = [a for a in self.accounts.values() if account_id is None or a.id == account_id]
            return {
                "now": self.clock.now().astimezone(UTC).isoformat(),
                "unix_now": self.now(),
                "wall_clock": datetime.now(UTC).isoformat(),
                "time_scale": self.clock.time_scale,
                "api_version": self.api_version,
                "accounts": [self._account_state(account) for account in accounts],
                "requests": self.requests.snapshot(),
                "rate_limit": self.limiter.snapshot(),
                "idempotency": self.idempotency.snapshot(),
                "faults": {"pending": self.faults.pending(), "fired": dict(self.faults.fired)},
                "webhooks": self.webhooks.status(),
            }

    def _account_state(self, account: Account) -> dict[str, Any]:
        account.sweep()
        return {
            "id": account.id,
            "business_name": account.business_name,
            "counts": account.counts(),
            "customers": [
                {"id": c.id, "email": c.email, "name": c.name, "default_payment_method": c.default_payment_method}
                for c in account.customers.values()
            ],
            "payment_intents": [
                {
                    "id": p.id,
                    "amount": p.amount,
                    "currency": p.currency,
                    "status": p.status,
                    "customer": p.customer,
                    "latest_charge": p.latest_charge,
                    "metadata": dict(p.metadata),
                }
                for p in account.payment_intents.values()
            ],
            "charges": [
                {
                    "id": c.id,
                    "amount": c.amount,
                    "amount_refunded": c.amount_refunded,
                    "currency": c.currency,
                    "status": c.status,
                    "payment_intent": c.payment_intent,
                    "disputed": c.dispute is not None,
                }
                for c in account.charges.values()
            ],
            "refunds": [
                {"id": r.id, "amount": r.amount, "charge": r.charge, "payment_intent": r.payment_intent}
                for r in account.refunds.values()
            ],
            "checkout_sessions": [
                {"id": s.id, "mode": s.mode, "status": s.status, "payment_intent": s.payment_intent}
                for s in account.checkout_sessions.values()
            ],
            "events": [{"id": e.id, "type": e.type, "created": e.created} for e in account.events.values()],
            "webhook_endpoints": [
                {"id": w.id, "url": w.url, "enabled_events": list(w.enabled_events), "status": w.status}
                for w in account.webhook_endpoints.values()
            ],
            "deliveries": self.webhooks.for_account(account.id),
        }

    def close(self) -> None:
        self.webhooks.close()
