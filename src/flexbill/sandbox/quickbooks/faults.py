"""Injected faults: the next N calls matching a method and a path answer as QuickBooks does on a bad day.

Kinds:

``fault``
    a Fault envelope with the ``status`` (default 400), ``code`` (default 6000), ``message`` and ``detail``
    given, before any work: e.g. ``{"kind": "fault", "code": "6190", "detail": "Invalid Company Status"}``.
``server_error``
    500 (or the ``status`` given: 502, 503, 504) with a SystemFault (code 10000) before any work: nothing
    changed, retrying is safe.
``throttle``
    429 with Fault 3001 "ThrottleExceeded", in JSON or in the historical XML (``xml: true``), before any work.
``latency``
    the call waits ``seconds`` (real time) and then runs normally; a held call counts as concurrent.
``lose_response``
    the call runs to the end and its change is committed (``requestid`` stored, webhooks sent), then the answer
    is lost: ``mode="disconnect"`` (default) closes the connection without a status line,
    ``mode="gateway_timeout"`` answers 504 from the "gateway". The client cannot tell whether anything happened;
    a retry with the same ``requestid`` gets the stored answer.
``drop_webhooks``
    the next N webhook notices are never delivered (to exercise the polling backstop); method and path unused.

Path patterns are shell-style globs matched without regard to case against the path after ``/quickbooks``,
e.g. ``/v3/company/*/invoice`` or ``*/batch``; the default ``*`` matches all (control endpoints are never
faulted). ``entity`` (e.g. ``"Invoice"``) narrows a fault to calls about that entity: its path (``/invoice``),
a query's ``FROM``, or a batch carrying one of it. Matching and counting are shared with the other sandboxes
(:mod:`flexbill.sandbox.faults`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from flexbill.sandbox.faults import FaultBook, FaultRule

FaultKind = Literal["fault", "server_error", "throttle", "latency", "lose_response", "drop_webhooks"]
LoseMode = Literal["disconnect", "gateway_timeout"]
FAULT_KINDS: tuple[FaultKind, ...] = ("fault", "server_error", "throttle", "latency", "lose_response", "drop_webhooks")


@dataclass
class Fault(FaultRule):
    status: int = 400
    code: str = "6000"
    message: str = "A business validation error has occurred while processing your request"
    detail: str = "Business Validation Error: an injected fault"
    seconds: float = 0.0
    xml: bool = False
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
        status: int | None = None,
        code: str = "6000",
        message: str | None = None,
        detail: str | None = None,
        seconds: float = 0.0,
        xml: bool = False,
        mode: LoseMode = "disconnect",
        entity: str | None = None,
    ) -> Fault:
        chosen_status = status if status is not None else (500 if kind == "server_error" else 400)
        if kind == "server_error" and not 500 <= chosen_status <= 599:
            raise ValueError("status must be a 5xx code")
        if kind == "fault" and not 400 <= chosen_status <= 599:
            raise ValueError("status must be a 4xx or 5xx code")
        fault = Fault(
            str(uuid.uuid4()),
            kind,
            method=method or "*",
            path=path or "*",
            count=count,
            status=chosen_status,
            code=code,
            message=message or Fault.message,
            detail=detail or Fault.detail,
            seconds=max(0.0, seconds),
            xml=xml,
            mode=mode,
            entity=entity or None,
        )
        return self.register(fault)

    def take_webhook_drop(self) -> bool:
        return self.take_kind("drop_webhooks")
