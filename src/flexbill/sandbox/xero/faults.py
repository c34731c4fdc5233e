"""Injected faults: the next N calls matching a method and a path answer as Xero does on a bad day.

Kinds:

``rate_limit``
    429 with ``X-Rate-Limit-Problem`` (``minute`` by default) and ``Retry-After`` (real seconds), before any work.
``server_error``
    500 (or the ``status`` given: 502, 503, 504) before any work: nothing changed, retrying is safe.
``latency``
    the call waits ``seconds`` (real time) and then runs normally; held calls count as concurrent.
``lose_response``
    the call runs to the end and its change is committed (idempotency key stored, webhooks sent), then the
    answer is lost. ``mode="disconnect"`` (the default) closes the connection without a status line: what a
    client sees when a proxy, a load balancer or the network drops a reply, and what its own read timeout turns
    into; the client cannot tell whether anything happened, which is exactly the case the connector must handle
    by looking the record up before creating it again. ``mode="gateway_timeout"`` answers 504 from the
    "gateway", as Xero's edge does when the origin commits but replies too late: a status a client may wrongly
    treat as "nothing happened", which is worth testing too.
``drop_webhooks``
    the next N webhook events are never delivered (to exercise the polling backstop); method and path are unused.

Path patterns are shell-style globs matched without regard to case against the path after ``/xero``,
e.g. ``/api.xro/2.0/Invoices``, ``/api.xro/2.0/Invoices*`` or ``*/Payments/*``; the default ``*`` matches all.
``count`` is how many calls the fault applies to (default 1); ``null`` keeps it until it is cleared. The
matching and counting are shared with the other sandboxes (:mod:`flexbill.sandbox.faults`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from flexbill.sandbox.faults import FaultBook, FaultRule

FaultKind = Literal["rate_limit", "server_error", "latency", "lose_response", "drop_webhooks"]
LoseMode = Literal["disconnect", "gateway_timeout"]
FAULT_KINDS: tuple[FaultKind, ...] = ("rate_limit", "server_error", "latency", "lose_response", "drop_webhooks")


@dataclass
class Fault(FaultRule):
    seconds: float = 0.0
    status: int = 500
    problem: str = "minute"
    retry_after: int = 1
    mode: LoseMode = "disconnect"


class FaultInjector(FaultBook[Fault]):
    def __init__(self) -> None:
        super().__init__(FAULT_KINDS, not_for_calls=("drop_webhooks",))

    def add(
        self,
        kind: FaultKind,
        *,
        method: str = "*",
        path: str = "*",
        count: int | None = 1,
        seconds: float = 0.0,
        status: int = 500,
        problem: str = "minute",
        retry_after: int = 1,
        mode: LoseMode = "disconnect",
    ) -> Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        self.check_count(count)
        if kind == "server_error" and not 500 <= status <= 599:
            raise ValueError("status must be a 5xx code")
        if kind == "rate_limit" and problem not in ("minute", "day", "concurrent", "appminute"):
            raise ValueError("problem must be minute, day, concurrent or appminute")
        fault = Fault(
            str(uuid.uuid4()),
            kind,
            method=method or "*",
            path=path or "*",
            count=count,
            seconds=max(0.0, seconds),
            status=status,
            problem=problem,
            retry_after=max(1, retry_after),
            mode=mode,
        )
        return self.register(fault)

    def take_webhook_drop(self) -> bool:
        return self.take_kind("drop_webhooks")
