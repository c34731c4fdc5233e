"""The contract suite: every test runs against each accounting system flexbill ships a connector for, through
that system's sandbox (``books``), on each database."""

from __future__ import annotations

import pytest

from flexbill.sandbox.server import RunningSandbox
from tests.contract.books import Books, QuickBooksBooks, XeroBooks
from tests.integration.conftest import api_key, auto_sync, cat, client, mail, sandbox

__all__ = ["api_key", "auto_sync", "cat", "client", "mail", "sandbox"]  # the integration suite's fixtures

PROVIDERS = {"xero": XeroBooks, "quickbooks": QuickBooksBooks}


@pytest.fixture(params=sorted(PROVIDERS))
def books(request: pytest.FixtureRequest, sandbox: RunningSandbox) -> Books:
    books: Books = PROVIDERS[request.param](sandbox)
    return books
