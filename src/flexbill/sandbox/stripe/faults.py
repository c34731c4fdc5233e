"""Injected faults: the next N calls of an operation answer as Stripe (or the network) does on a bad day.

Operations are named ``resource.action`` (``payment_intents.create``, ``payment_intents.confirm``,
``refunds.create``...; ``GET /stripe/_sandbox/faults`` lists them); ``*`` or a glob (``payment_intents.*``)
matches several. Kinds:

``server_error``
    500 ``api_error`` without doing the work. Stripe saves a 500 under the request's idempotency key like any
    answer, so a retry with the same key gets the same 500; a new key does the work.
``timeout``
    the request is held ``seconds`` (real time) and then processed: the client's read timeout fires while the
    charge still happens. Held requests keep their idempotency key busy (a retry meanwhile gets a 409) but do
    not block other requests.
``lost_response``
    the work is done and saved under the idempotency key, then the connection is dropped without an answer:
    the client sees a connection error and cannot tell whether the charge happened; a retry with the same key
    returns the saved answer.
``rate_limited``
    429 ``rate_limit`` before any work.
"""

from __future__ import annotations

import fnmatch
import threading
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal

FaultKind = Literal["server_error", "timeout", "lost_response", "rate_limited"]
FAULT_KINDS: tuple[FaultKind, ...] = ("server_error", "timeout", "lost_response", "rate_limited")


@dataclass
class Fault:
    fault_id: str
    kind: FaultKind
    operation: str = "*"
    times: int | None = 1
    seconds: float = 0.0
    fired: int = 0

    def matches(self, operation: str) -> bool:
        return fnmatch.fnmatchcase(operation, self.operation)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class FaultInjector:
    def __init__(self, operations: Iterable[str]) -> None:
        self.operations = tuple(sorted(set(operations)))
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.fired: dict[str, int] = dict.fromkeys(FAULT_KINDS, 0)

    def add(self, kind: FaultKind, *, operation: str = "*", times: int | None = 1, seconds: float = 0.0) -> Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        if not any(fnmatch.fnmatchcase(name, operation) for name in self.operations):
            raise ValueError(f"operation {operation!r} matches none of: {', '.join(self.operations)}")
        if times is not None and times < 1:
            raise ValueError("times must be 1 or more (or null for every call until cleared)")
        if kind == "timeout" and seconds <= 0:
            raise ValueError("a timeout fault needs seconds > 0 (how long the request is held)")
        fault = Fault(str(uuid.uuid4()), kind, operation, times, max(0.0, seconds))
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, operation: str) -> Fault | None:
        """The first fault for this operation, used up once (and forgotten when its count is spent)."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(operation):
                    fault.fired += 1
                    self.fired[fault.kind] += 1
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def pending(self) -> list[dict[str, object]]:
        with self._lock:
            return [fault.as_dict() for fault in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
