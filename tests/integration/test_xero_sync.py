"""What is Xero's own in the sync, over real HTTP against the Xero sandbox (what every accounting system must do is
in the contract suite, tests/contract); and the Xero helpers the other integration tests use."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi.testclient import TestClient

from flexbill.bootstrap import Context
from flexbill.clock import FixedClock
from flexbill.sandbox.server import RunningSandbox
from flexbill.web.app import create_app
from tests.contract import support
from tests.contract.books import XERO_CODES, XeroBooks
from tests.contract.support import bill_month, drain, drain_in_time
from tests.support import Catalog, serving

__all__ = ["bill_month", "drain", "drain_in_time"]  # used from here by the other integration tests

WEBHOOK_KEY = "sandbox-webhook-key"


def connect(client: TestClient, sandbox: RunningSandbox, location_id: uuid.UUID) -> str:
    return support.connect(client, XeroBooks(sandbox), location_id)


def map_codes(client: TestClient, connection_id: str) -> None:
    mapped = client.put(f"/api/v1/accounting/connections/{connection_id}/mappings", json=XERO_CODES)
    assert mapped.status_code == 200, mapped.text


def remote_state(sandbox: RunningSandbox) -> dict[str, Any]:
    state: dict[str, Any] = httpx.get(f"{sandbox.xero_url}/_sandbox/state").json()
    return state


def fault(sandbox: RunningSandbox, kind: str, method: str, path: str, count: int | None = 1, **extra: object) -> None:
    added = httpx.post(
        f"{sandbox.xero_url}/_sandbox/faults",
        json={"kind": kind, "method": method, "path": path, "count": count, **extra},
    )
    assert added.status_code == 201, added.text


def assert_one_remote_twin_each(ctx: Context, sandbox: RunningSandbox, invoice_ids: list[uuid.UUID]) -> None:
    support.assert_one_remote_twin_each(ctx, XeroBooks(sandbox), invoice_ids)


def _xero_headers(sandbox: RunningSandbox) -> dict[str, str]:
    tokens = httpx.post(f"{sandbox.xero_url}/_sandbox/tokens").json()
    return {
        "Authorization": f"Bearer {tokens['access_token']}",
        "xero-tenant-id": remote_state(sandbox)["tenant_id"],
        "Accept": "application/json",
    }


def test_the_reference_a_member_reads_is_the_period_billed_with_our_id_after_it(
    ctx: Context, clock: FixedClock, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    map_codes(client, connect(client, sandbox, cat.location_id))
    invoice_ids = bill_month(ctx, cat, 3)
    drain_in_time(ctx, clock)
    references = {doc.reference for doc in sandbox.xero.org.invoices.values()}
    assert references == {f"1 Nov - 31 Dec 2026 · {invoice_id}" for invoice_id in invoice_ids}, references


def test_xeros_intent_to_receive_check_is_passed(
    ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog
) -> None:
    """Xero turns a webhook subscription on only after the receiver answers its signed and forged empty
    deliveries with 200 and 401."""
    ctx.settings = ctx.settings.model_copy(update={"xero_webhook_key": WEBHOOK_KEY})
    with serving(create_app(ctx)) as flexbill_url:
        hooks = httpx.put(
            f"{sandbox.xero_url}/_sandbox/webhooks",
            json={"url": f"{flexbill_url}/webhooks/xero", "key": WEBHOOK_KEY},
        )
        assert hooks.status_code == 200, hooks.text
        intent = httpx.post(f"{sandbox.xero_url}/_sandbox/webhooks/intent-to-receive")
        assert intent.status_code == 200, intent.text
        assert intent.json()["status"] == "OK", intent.json()
