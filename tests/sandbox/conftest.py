"""Fixtures of the sandbox tests: a sandbox on a stopped clock, reached in-process or over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from flexbill.sandbox import RunningSandbox, SandboxClock, create_sandbox_app, running_sandbox
from flexbill.sandbox.xero import XeroSandbox
from tests.sandbox.support import START, Xero


@pytest.fixture
def clock() -> SandboxClock:
    return SandboxClock(start=START, running=False)


@pytest.fixture
def sandbox(clock: SandboxClock) -> Iterator[XeroSandbox]:
    sandbox = XeroSandbox(clock=clock, seed=20261102, webhook_batch_seconds=0.02, webhook_retry_delays=(0.02, 0.05))
    yield sandbox
    sandbox.close()


@pytest.fixture
def client(sandbox: XeroSandbox) -> Iterator[TestClient]:
    with TestClient(create_sandbox_app(xero=sandbox)) as http:
        yield http


@pytest.fixture
def xero(client: TestClient) -> Xero:
    """The Xero API in-process (FastAPI's TestClient), with a token for the demo organisation."""
    return Xero(client)


@pytest.fixture
def server(sandbox: XeroSandbox) -> Iterator[RunningSandbox]:
    with running_sandbox(create_sandbox_app(xero=sandbox)) as running:
        yield running


@pytest.fixture
def http(server: RunningSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=5.0) as client:
        yield client


@pytest.fixture
def remote(http: httpx.Client) -> Xero:
    """The Xero API over real HTTP."""
    return Xero(http)
