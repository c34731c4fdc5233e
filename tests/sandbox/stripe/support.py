"""Helpers for the Stripe sandbox tests: SDK clients, the control endpoints, a webhook receiver, the fixtures."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import stripe

REFERENCE = Path(__file__).resolve().parents[2] / "reference" / "stripe"
START = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # sandbox time in every test starts here (and stays)
START_TS = int(START.timestamp())


def new_key(label: str = "location") -> str:
    """A fresh secret key, so a fresh account."""
    return f"sk_test_{label}_{uuid.uuid4().hex[:16]}"


def sdk(base_url: str, key: str, *, timeout: float = 5.0, sync: bool = True) -> stripe.StripeClient:
    """The official SDK as flexbill's adapter builds it, pointed at the sandbox."""
    return stripe.StripeClient(
        key,
        base_addresses={"api": base_url},
        http_client=stripe.HTTPXClient(timeout=timeout, allow_sync_methods=sync),
        max_network_retries=0,
        stripe_version=stripe.api_version,
    )


@cache
def fixtures() -> dict[str, Any]:
    """Stripe's official example objects (stripe/openapi fixtures3.json)."""
    with (REFERENCE / "fixtures3.json").open("rb") as handle:
        loaded: dict[str, Any] = json.load(handle)["resources"]
    return loaded


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shape_problems(body: dict[str, Any], resource: str) -> list[str]:
    """Top-level fields of Stripe's example that ``body`` lacks, or has with another JSON type (a ``null`` on
    either side is not compared: Stripe's fields are nullable and the example fills them in)."""
    example = fixtures()[resource]
    problems: list[str] = []
    for key, value in example.items():
        if key not in body:
            problems.append(f"{resource}: missing {key}")
        elif value is not None and body[key] is not None and json_type(body[key]) != json_type(value):
            problems.append(f"{resource}.{key}: {json_type(body[key])}, Stripe's example has {json_type(value)}")
    return problems


@dataclass
class Control:
    """The sandbox's control endpoints."""

    http: httpx.Client

    def __call__(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return self.http.request(method, f"/_sandbox/{path}", json=body)

    def fault(self, operation: str, kind: str, **options: Any) -> None:
        response = self("POST", "faults", {"operation": operation, "kind": kind, **options})
        assert response.status_code == 201, response.text

    def state(self, account: str | None = None) -> dict[str, Any]:
        response = (
            self("GET", "state", None) if account is None else self.http.get(f"/_sandbox/state?account={account}")
        )
        assert response.status_code == 200, response.text
        state: dict[str, Any] = response.json()
        return state

    def account(self, account_id: str) -> dict[str, Any]:
        accounts: list[dict[str, Any]] = self.state(account_id)["accounts"]
        assert len(accounts) == 1, accounts
        return accounts[0]

    def flush(self) -> None:
        response = self("POST", "webhooks/flush")
        assert response.json()["flushed"] is True, response.text


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook receiver over real HTTP: records what arrives and answers what it is told."""

    url: str
    requests: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # statuses to answer in turn; then ``default``
    default: int = 200
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.requests) >= count, timeout), (
                f"expected {count} requests, got {len(self.requests)}"
            )
            return list(self.requests)


@contextmanager
def receiver(**options: Any) -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            target = state["receiver"]
            with target.arrived:
                target.requests.append(Received(data, {k.lower(): v for k, v in self.headers.items()}))
                status = target.answers.pop(0) if target.answers else target.default
                target.arrived.notify_all()
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["receiver"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}/webhooks/stripe", **options)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state["receiver"]
    finally:
        server.shutdown()
        server.server_close()


def charge_saved_card(client: stripe.StripeClient, card: str = "pm_card_visa", amount: int = 1200, **extra: Any) -> Any:
    """What flexbill's auto-charge does: a customer, a saved card, an off-session PaymentIntent."""
    customer = client.v1.customers.create(params={"email": "ada@example.com", "name": "Ada Lovelace"})
    method = client.v1.payment_methods.attach(card, params={"customer": customer.id})
    params: dict[str, Any] = {
        "amount": amount,
        "currency": "gbp",
        "customer": customer.id,
        "payment_method": method.id,
        "off_session": True,
        "confirm": True,
        "payment_method_types": ["card"],
        "metadata": {"invoice_id": "inv_0042"},
        **extra,
    }
    return client.v1.payment_intents.create(params=params)
