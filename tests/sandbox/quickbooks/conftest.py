"""Fixtures of the QuickBooks sandbox tests: a sandbox on the stopped test clock, in-process or over real HTTP.

The sandbox's throttles are raised here, because on a stopped clock every call falls in the same sandbox second;
the rate-limit tests put QuickBooks' own limits back.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from flexbill.sandbox import RunningSandbox, SandboxClock, create_sandbox_app, running_sandbox
from flexbill.sandbox.quickbooks import Limits, QuickBooksSandbox
from flexbill.sandbox.xero import XeroSandbox
from tests.sandbox.quickbooks.support import QuickBooks

ROOMY = Limits(per_minute=100_000, per_second=100_000, concurrent=10, batch_per_minute=100_000)


@pytest.fixture
def qb_sandbox(clock: SandboxClock) -> Iterator[QuickBooksSandbox]:
    sandbox = QuickBooksSandbox(
        clock=clock, limits=ROOMY, webhook_batch_seconds=0.02, webhook_retry_delays=(0.02, 0.05)
    )
    yield sandbox
    sandbox.close()


@pytest.fixture
def qb_app(sandbox: XeroSandbox, qb_sandbox: QuickBooksSandbox) -> TestClient:
    return TestClient(create_sandbox_app(xero=sandbox, quickbooks=qb_sandbox))


@pytest.fixture
def qb_client(qb_app: TestClient) -> Iterator[TestClient]:
    with qb_app as http:
        yield http


@pytest.fixture
def qbo(qb_client: TestClient) -> QuickBooks:
    """The QuickBooks API in-process (FastAPI's TestClient), with a token for the demo company."""
    return QuickBooks(qb_client)


@pytest.fixture
def qb_server(sandbox: XeroSandbox, qb_sandbox: QuickBooksSandbox) -> Iterator[RunningSandbox]:
    with running_sandbox(create_sandbox_app(xero=sandbox, quickbooks=qb_sandbox)) as running:
        yield running


@pytest.fixture
def qb_http(qb_server: RunningSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=qb_server.base_url, timeout=5.0) as client:
        yield client


@pytest.fixture
def qbo_remote(qb_http: httpx.Client) -> QuickBooks:
    """The QuickBooks API over real HTTP."""
    return QuickBooks(qb_http)
