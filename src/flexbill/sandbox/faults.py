"""The bookkeeping of injected faults, shared by the sandboxes: which calls a fault applies to and how often.

A fault matches calls by method and by path: a shell-style glob matched without regard to case against the
path inside the sandbox (after its mount point), ``*`` for all; and, when it names an ``entity``, only calls
about that entity (what a sandbox tells it of a call: a QuickBooks batch carries several kinds of record under
one path). ``count`` is how many calls it applies to (default 1); ``None`` keeps it until it is cleared. What a
fault *does* is each sandbox's own business (its gateway reads the fault's kind and fields); kinds that are not
about calls (e.g. dropping webhooks) are taken with :meth:`FaultBook.take_kind` and never match a call.
"""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import asdict, dataclass
from typing import Generic, TypeVar


@dataclass
class FaultRule:
    """One injected fault; sandboxes subclass it with the fields their kinds need."""

    fault_id: str
    kind: str
    method: str = "*"
    path: str = "*"
    count: int | None = 1
    fired: int = 0
    entity: str | None = None  # only calls about this kind of record (None: any)

    def matches(self, method: str, path: str, entities: frozenset[str] = frozenset()) -> bool:
        return (
            (self.method == "*" or self.method.upper() == method.upper())
            and fnmatch.fnmatchcase(path.lower(), self.path.lower())
            and (self.entity is None or self.entity.lower() in entities)
        )

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


F = TypeVar("F", bound=FaultRule)


class FaultBook(Generic[F]):
    """The pending faults of one sandbox, used up as they fire, and how many of each kind fired."""

    def __init__(self, kinds: tuple[str, ...], *, not_for_calls: tuple[str, ...] = ()) -> None:
        self._lock = threading.Lock()
        self._faults: list[F] = []
        self._kinds = kinds
        self._not_for_calls = not_for_calls
        self.fired: dict[str, int] = dict.fromkeys(kinds, 0)

    def check_count(self, count: int | None) -> None:
        if count is not None and count < 1:
            raise ValueError("count must be 1 or more (or null for every call until cleared)")

    def register(self, fault: F) -> F:
        if fault.kind not in self._kinds:
            raise ValueError(f"kind must be one of {', '.join(self._kinds)}")
        self.check_count(fault.count)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, path: str, entities: frozenset[str] = frozenset()) -> F | None:
        """The first fault that applies to this call, used up once (and forgotten when its count is spent).
        ``entities`` are the kinds of record the call is about, in lower case."""
        with self._lock:
            for fault in self._faults:
                if fault.kind not in self._not_for_calls and fault.matches(method, path, entities):
                    self._fire(fault)
                    return fault
        return None

    def take_kind(self, kind: str) -> bool:
        """Whether a fault of ``kind`` (one not about calls) is pending; if so it is used up once."""
        with self._lock:
            for fault in self._faults:
                if fault.kind == kind:
                    self._fire(fault)
                    return True
        return False

    def _fire(self, fault: F) -> None:
        fault.fired += 1
        self.fired[fault.kind] += 1
        if fault.count is not None:
            fault.count -= 1
            if fault.count <= 0:
                self._faults.remove(fault)

    def pending(self) -> list[dict[str, object]]:
        with self._lock:
            return [fault.as_dict() for fault in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
