"""The contract suite: every test runs against each accounting system flexbill ships a connector for, through
that system's sandbox (``books``), on each database."""

from __future__ import annotations

import pytest

from flexbill.accounting.connectors.quickbooks.client import QuickBooksConnector
from flexbill.accounting.ratelimit import QUICKBOOKS_LIMITS
from flexbill.accounting.registry import connectors
from flexbill.sandbox.server import RunningSandbox
from tests.contract.books import Books, QuickBooksBooks, XeroBooks
from tests.integration.conftest import api_key, auto_sync, cat, client, mail, sandbox

__all__ = ["api_key", "auto_sync", "cat", "client", "mail", "sandbox"]  # the integration suite's fixtures

PROVIDERS = {"xero": XeroBooks, "quickbooks": QuickBooksBooks}


@pytest.fixture(autouse=True)
def _quickbooks_in_sandbox_time(sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """QuickBooks sends no Retry-After and no remaining counts: the connector counts its own calls against
    QuickBooks' windows and waits a minute after a refusal. The sandbox counts its limits in its own compressed
    time, so the connector is given the same limits in that time, as Xero's sandbox tells Xero's connector in its
    answers."""
    compressed = QUICKBOOKS_LIMITS.in_time_scale(sandbox.quickbooks.clock.time_scale)
    monkeypatch.setitem(connectors(), "quickbooks", QuickBooksConnector(limits=compressed))


@pytest.fixture(params=sorted(PROVIDERS))
def books(request: pytest.FixtureRequest, sandbox: RunningSandbox) -> Books:
    books: Books = PROVIDERS[request.param](sandbox)
    return books


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL the suite runs against one accounting system: what the database changes (concurrent workers,
    locks, the outbox) is the engine's, and a connector's contract does not depend on it. A test that exists only
    for PostgreSQL (two workers at once) still runs against every system."""
    kept, dropped = [], []
    for item in items:
        params = getattr(item, "callspec", None)
        chosen = params.params if params is not None else {}
        on_postgres = chosen.get("database_url") == "postgresql"
        if on_postgres and chosen.get("books", "xero") != "xero" and item.get_closest_marker("postgres_only") is None:
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
