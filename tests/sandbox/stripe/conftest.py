"""Fixtures of the Stripe sandbox tests: a sandbox on a stopped clock, served over real HTTP, and SDK clients.

One server serves the whole session (starting and stopping one per test would cost more than the tests): each
test gets a fresh secret key, so a fresh account, and starts with the clock back at START, no faults and the
default test limits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
import stripe

from flexbill.sandbox import RunningSandbox, SandboxClock, create_sandbox_app, running_sandbox
from flexbill.sandbox.stripe import Limits, StripeSandbox
from tests.sandbox.stripe.support import START, Control, new_key, sdk

ClientFactory = Callable[..., stripe.StripeClient]


TEST_LIMITS = Limits(per_second=1000)


@pytest.fixture(scope="session")
def clock() -> SandboxClock:
    return SandboxClock(start=START, running=False)


@pytest.fixture(scope="session")
def stripe_sandbox(clock: SandboxClock) -> Iterator[StripeSandbox]:
    # Stripe's 25 requests a second would throttle a test that runs faster than any client: tests of the limit
    # lower it; the rest of the suite runs with room to spare.
    sandbox = StripeSandbox(clock=clock, seed=20261126, limits=TEST_LIMITS, webhook_retry_delays=(0.02, 0.05))
    yield sandbox
    sandbox.close()


@pytest.fixture(scope="session")
def server(stripe_sandbox: StripeSandbox, clock: SandboxClock) -> Iterator[RunningSandbox]:
    with running_sandbox(create_sandbox_app(clock=clock, stripe=stripe_sandbox)) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_start(server: RunningSandbox, stripe_sandbox: StripeSandbox, clock: SandboxClock) -> Iterator[None]:
    clock.set(START)
    stripe_sandbox.faults.clear()
    stripe_sandbox.limiter.limits = TEST_LIMITS
    stripe_sandbox.limiter.reset()
    yield
    assert stripe_sandbox.webhooks.flush(), "webhooks were still pending after the test"


@pytest.fixture
def key() -> str:
    return new_key()


@pytest.fixture
def client_for(server: RunningSandbox) -> Iterator[ClientFactory]:
    """SDK clients for any key (each key is its own account); ``timeout`` in seconds."""
    made: list[stripe.StripeClient] = []

    def make(key: str | None = None, *, timeout: float = 5.0) -> stripe.StripeClient:
        client = sdk(server.stripe_url, key or new_key(), timeout=timeout)
        made.append(client)
        return client

    yield make
    for client in made:
        client._requestor._get_http_client().close()


@pytest.fixture
def client(client_for: ClientFactory, key: str) -> stripe.StripeClient:
    return client_for(key)


@pytest.fixture
def http(server: RunningSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.stripe_url, timeout=5.0) as client:
        yield client


@pytest.fixture
def control(http: httpx.Client) -> Control:
    return Control(http)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The SDK hands httpx its form body as ``data=`` text, which httpx deprecates: not the sandbox's concern."""
    here = str(__file__).rsplit("/", 1)[0]
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"))
