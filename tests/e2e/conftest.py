"""Browser tests: the staff console and the members' portal driven in headless Chromium, as a person uses them.

Each test gets a real flexbill: its web app served over HTTP on a free loopback port (and ``public_url`` set to it,
so emailed links and redirects come back to it), the worker running in a thread as in the embedded default, the
sandboxes of Xero and Stripe, and a mail server that keeps what it receives. The browser (Debian's Chromium,
driven by Playwright) is started once for these tests; each test gets a fresh page with no cookies.

These tests run on SQLite only: what they check is the pages, and every rule underneath is tested on PostgreSQL
too by the integration tests. Screenshots of the main pages, and of any page a test failed on, are kept in
``tests/e2e/artefacts/``.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, Playwright, expect, sync_playwright

from flexbill.access.model import Role
from flexbill.access.service import create_api_key, create_user
from flexbill.billing import service as billing
from flexbill.bootstrap import Context
from flexbill.clock import ShiftedClock
from flexbill.customers import service as customers
from flexbill.sandbox.server import RunningSandbox, start_sandbox
from flexbill.web.app import create_app
from flexbill.worker import default_handlers, start_in_thread
from tests.mail import MailSink
from tests.support import Catalog, make_catalog, make_customer, serving

ARTEFACTS = Path(__file__).parent / "artefacts"
PASSWORD = "a long enough password"
STRIPE_SECRET_KEY = "sk_test_flexbill_e2e"
# The morning of a billing day: the bill run of 1 December is due today, and what it issues is dated today.
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TIMEOUT_MS = 10_000  # a page or an element that takes longer than this is a failure, not slowness


# --- the browser -------------------------------------------------------------------------------------------------


def chromium_path() -> str:
    """Debian's Chromium (``scripts/setup-browser`` installs it), or ``FLEXBILL_CHROMIUM``."""
    chosen = os.environ.get("FLEXBILL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not (os.path.isfile(chosen) and os.access(chosen, os.X_OK)):
        pytest.fail(
            f"the browser tests need Chromium, and {chosen} is not there: run scripts/setup-browser "
            "(or install the Debian package chromium, or set FLEXBILL_CHROMIUM)"
        )
    return chosen


@pytest.fixture(scope="package")  # closed after the last browser test, before the rest of the suite runs
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
    expect.set_options(timeout=TIMEOUT_MS)
    yield launched
    launched.close()


@pytest.fixture(scope="package", autouse=True)
def _artefacts() -> None:
    """Screenshots of this run only: the last run's are removed first."""
    ARTEFACTS.mkdir(exist_ok=True)
    for old in ARTEFACTS.glob("*.png"):
        old.unlink()


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The browser tests run in one test process (``--dist loadgroup``): one browser, and one set of screenshots,
    which each process's first browser test would otherwise clear."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the test, so the page fixture knows whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser: Browser, flexbill: Flexbill, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser window (no cookies) at flexbill's address, desktop-sized; downloads are kept."""
    context = browser.new_context(base_url=flexbill.url, accept_downloads=True, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    yield opened
    failed = getattr(request.node, "report_call", None)
    if failed is not None and failed.failed:
        opened.screenshot(path=ARTEFACTS / f"failed-{request.node.name}.png", full_page=True)
    context.close()


def screenshot(page: Page, name: str) -> None:
    """Keep what the person sees now as ``tests/e2e/artefacts/<name>.png``."""
    page.screenshot(path=ARTEFACTS / f"{name}.png", full_page=True)


def reload_until(page: Page, seen: Locator, timeout: float = 30.0) -> None:
    """Reload the page until ``seen`` is on it: what the worker does in the background shows on the next load,
    as it does for a person who refreshes the page."""
    deadline = time.monotonic() + timeout
    while not seen.first.is_visible():
        assert time.monotonic() < deadline, f"{page.url} never showed {seen}"
        time.sleep(0.2)
        page.reload()


# --- flexbill, running -------------------------------------------------------------------------------------------


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    """SQLite only (see the module's docstring); replaces the parametrised fixture of tests/conftest.py."""
    path = tmp_path / "flexbill.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def clock() -> ShiftedClock:
    """A fixed day (:data:`START`), but a clock that runs on from there, as with ``FLEXBILL_TODAY``: the worker's
    retries and the sandboxes' rate-limit waits come due while a person waits."""
    return ShiftedClock(START)


@dataclass
class Flexbill:
    """A running flexbill and what surrounds it; ``api`` is its REST API with a key, to arrange what a test starts
    from without a browser."""

    ctx: Context
    url: str
    api: httpx.Client
    mail: MailSink
    sandbox: RunningSandbox

    def catalog(self) -> Catalog:
        with self.ctx.sessions() as db, db.begin():
            return make_catalog(db)

    def member(self, cat: Catalog, name: str, start: date = date(2026, 12, 1)) -> uuid.UUID:
        """A customer (billed at ``<first word of name>@example.com``) with a hot desk from ``start``."""
        with self.ctx.sessions() as db, db.begin():
            customer_id = make_customer(db, cat, name=name)
            customers.create_membership(
                db,
                customers.NewMembership(
                    customer_id=customer_id, plan_id=cat.hot_desk_id, location_id=cat.location_id,
                    start_date=start, quantity=Decimal(1),
                ),
            )  # fmt: skip
        return customer_id

    def staff(self, role: Role = Role.OWNER, email: str = "olivia@example.com", name: str = "Olivia Owner") -> str:
        with self.ctx.sessions() as db, db.begin():
            create_user(db, email=email, name=name, role=role, password=PASSWORD)
        return email

    def bill_run(self, run_date: date = date(2026, 12, 1)) -> list[uuid.UUID]:
        return billing.run_bill_run(self.ctx.sessions, self.ctx.clock, run_date).invoice_ids

    def connect_xero(self, cat: Catalog) -> str:
        """A Xero connection for the catalog's location, made through the OAuth flow (the sandbox consents at
        once), with the catalog's accounts and tax rates matched to the organisation's."""
        created = self.api.post(
            "/api/v1/accounting/connections",
            json={"location_id": str(cat.location_id), "provider": "xero", "base_url": self.sandbox.xero_url},
        )
        assert created.status_code == 201, created.text
        connection_id = str(created.json()["id"])
        consent = httpx.get(created.json()["authorize_url"], follow_redirects=False)
        assert consent.status_code in (302, 303), consent.text
        callback = httpx.get(consent.headers["location"])
        assert callback.status_code == 200, callback.text
        assert "Connected" in callback.text, callback.text
        mapped = self.api.put(
            f"/api/v1/accounting/connections/{connection_id}/mappings",
            json={
                "accounts": {"200-LON": "200", "210-LON": "260"},
                "tax_rates": {"VAT20-LON": "OUTPUT2", "ZERO-LON": "ZERORATEDOUTPUT"},
                "payment_account": "090",
            },
        )
        assert mapped.status_code == 200, mapped.text
        return connection_id

    def add_stripe(self, cat: Catalog) -> str:
        """The location's card payments through the Stripe sandbox."""
        created = self.api.post(
            "/api/v1/payments/gateways",
            json={
                "location_id": str(cat.location_id),
                "provider": "stripe",
                "secret_key": STRIPE_SECRET_KEY,
                "webhook_secret": "whsec_flexbill_e2e_0123456789",
                "base_url": self.sandbox.stripe_url,
            },
        )
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    def invoice(self, invoice_id: uuid.UUID | str) -> dict[str, Any]:
        """The invoice as the API shows it: what landed, whatever the page said."""
        found = self.api.get(f"/api/v1/invoices/{invoice_id}")
        assert found.status_code == 200, found.text
        body: dict[str, Any] = found.json()
        return body

    def link_in_mail(self, to: str, timeout: float = 10.0) -> str:
        """The first address of this flexbill in the newest email to ``to`` (plain-text part)."""
        deadline = time.monotonic() + timeout
        while not self.mail.to(to):
            assert time.monotonic() < deadline, f"no email came for {to}"
            time.sleep(0.05)
        message = self.mail.to(to)[-1]
        body = message.get_body(preferencelist=("plain",))
        assert body is not None, "the email has no plain-text part"
        found = re.search(re.escape(self.url) + r"\S+", body.get_content())
        assert found, f"the email to {to} has no link to {self.url}"
        return found.group(0)


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    """Xero and Stripe over real HTTP, their minute compressed to a second."""
    running = start_sandbox(time_scale=60)
    yield running
    running.stop()


@pytest.fixture
def mail(ctx: Context) -> Iterator[MailSink]:
    """A mail server on loopback keeping what it receives: flexbill's emails go to it."""
    sink = MailSink()
    sink.start()
    update = {"smtp_host": "127.0.0.1", "smtp_port": sink.port, "smtp_security": "none"}
    ctx.settings = ctx.settings.model_copy(update=update)
    yield sink
    sink.stop()


@pytest.fixture
def flexbill(ctx: Context, mail: MailSink, sandbox: RunningSandbox) -> Iterator[Flexbill]:
    """flexbill served on a free loopback port (never 8000/8001), with its worker running and an API key."""
    with serving(create_app(ctx)) as url:
        ctx.settings.public_url = url
        worker = start_in_thread(ctx, default_handlers(ctx), poll_interval=0.05)
        with ctx.sessions() as db, db.begin():
            key = create_api_key(db, "browser tests").key
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as api:
            try:
                yield Flexbill(ctx, url, api, mail, sandbox)
            finally:
                worker.stop()
