from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from flexbill.access.service import create_api_key
from flexbill.bootstrap import Context
from flexbill.sandbox.server import RunningSandbox, start_sandbox
from flexbill.web.app import create_app
from tests.mail import MailSink
from tests.support import Catalog, make_catalog


@pytest.fixture
def api_key(ctx: Context) -> str:
    with ctx.sessions() as db, db.begin():
        return create_api_key(db, "tests").key


@pytest.fixture
def client(ctx: Context, api_key: str) -> Iterator[TestClient]:
    with TestClient(create_app(ctx), headers={"Authorization": f"Bearer {api_key}"}) as test_client:
        yield test_client


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    """The Xero sandbox over real HTTP, its minute compressed to a second (the limits are Xero's)."""
    running = start_sandbox(time_scale=60)
    yield running
    running.stop()


@pytest.fixture
def cat(ctx: Context) -> Catalog:
    with ctx.sessions() as db, db.begin():
        return make_catalog(db)


@pytest.fixture
def mail(ctx: Context) -> Iterator[MailSink]:
    """A mail server on loopback (aiosmtpd, in this process) keeping what it receives; the worker sends to it."""
    sink = MailSink()
    sink.start()
    update = {"smtp_host": "127.0.0.1", "smtp_port": sink.port, "smtp_security": "none"}
    ctx.settings = ctx.settings.model_copy(update=update)
    yield sink
    sink.stop()


@pytest.fixture
def auto_sync(client: TestClient, mail: MailSink) -> None:
    """Accounting sync on (auto), with the PDFs fetched for sending (and the emails sent to ``mail``)."""
    changed = client.patch("/api/v1/settings/billing", json={"accounting_sync": "auto", "auto_send": True})
    assert changed.status_code == 200, changed.text
