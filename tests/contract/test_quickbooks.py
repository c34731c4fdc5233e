"""What is QuickBooks Online's own in the sync, over real HTTP against its sandbox (what every accounting system
must do is in the rest of the contract suite): a refund, which QuickBooks books as a clearing invoice, a refund
receipt and the credit memo applied, finished once however it was cut short; and a consent for another company
than the connection's, which is refused rather than silently switching the books."""

from __future__ import annotations

from decimal import Decimal
from html import unescape

import httpx
import pytest
from fastapi.testclient import TestClient

from flexbill.accounting.connectors.quickbooks.client import QuickBooksOAuth
from flexbill.accounting.model import Tenant
from flexbill.bootstrap import Context
from flexbill.clock import FixedClock
from flexbill.payments import charging
from flexbill.sandbox.server import RunningSandbox
from tests.contract.books import Call, FaultKind, QuickBooksBooks
from tests.contract.support import connected, drain_in_time
from tests.integration.test_payments import DUE, add_gateway, auto_charge, bill, invoice_of, member
from tests.support import Catalog


def test_a_refund_cut_short_is_finished_once(
    ctx: Context, clock: FixedClock, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    books = QuickBooksBooks(sandbox)
    connected(client, books, cat)
    add_gateway(client, sandbox, cat)
    auto_charge(client)
    member(ctx, cat, "Kit Ltd", "pm_card_visa", client)
    [invoice_id] = bill(ctx)
    drain_in_time(ctx, clock)
    assert charging.run_due(ctx, DUE).charges == {"succeeded": 1}
    drain_in_time(ctx, clock)
    [payment] = invoice_of(client, invoice_id)["payments"]

    # The answer to the last step (the credit memo applied) is lost; then the receipt's, on the next try.
    books.fault(FaultKind.LOSE_RESPONSE, Call.ALLOCATE_CREDIT_NOTE)
    refunded = client.post(f"/api/v1/payments/{payment['id']}/refund", json={"amount": "60.00", "reason": "Aircon"})
    assert refunded.status_code == 201, refunded.text
    drain_in_time(ctx, clock)

    company = sandbox.quickbooks.company
    [memo] = company.all("CreditMemo")
    clearing = [i for i in company.all("Invoice") if (i.get("DocNumber") or "").endswith("-RF")]
    receipts = company.all("RefundReceipt")
    assert len(clearing) == 1
    assert len(receipts) == 1
    assert (memo["TotalAmt"], receipts[0]["TotalAmt"], clearing[0]["TotalAmt"]) == (Decimal("60.00"),) * 3
    assert Decimal(str(memo["Balance"])) == 0  # the credit is used up, once
    assert Decimal(str(clearing[0]["Balance"])) == 0
    assert books.faults()["pending"] == []
    payments = client.get(f"/api/v1/invoices/{invoice_id}/payments").json()["items"]
    assert {p["accounting"]["status"] for p in payments} == {"synced"}


def test_a_consent_for_another_company_does_not_switch_the_connections_books(
    ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    books = QuickBooksBooks(sandbox)
    connection_id = connected(client, books, cat)

    def reconnect() -> httpx.URL:
        again = client.post(f"/api/v1/accounting/connections/{connection_id}/reconnect")
        assert again.status_code == 200, again.text
        consent = httpx.get(again.json()["authorize_url"], follow_redirects=False)
        return httpx.URL(consent.headers["location"])

    # A company the token does not reach: QuickBooks refuses to name it.
    callback = reconnect().copy_set_param("realmId", "4620816365000000000")
    refused = client.get(f"{callback.path}?{callback.query.decode()}")
    assert refused.status_code == 502, refused.text
    # The operator chose another company they may use (the sandbox holds one company: QuickBooks names another).
    other = [Tenant("4620816365000000000", "Other Coworking Ltd")]
    monkeypatch.setattr(QuickBooksOAuth, "tenants", lambda self, token, params: other)
    callback = reconnect()
    refused = client.get(f"{callback.path}?{callback.query.decode()}")
    assert refused.status_code == 409, refused.text
    assert "the consent was for another company (Other Coworking Ltd) than this connection's" in unescape(refused.text)
    connection = client.get(f"/api/v1/accounting/connections/{connection_id}").json()
    assert (connection["tenant_id"], connection["status"]) == (sandbox.quickbooks.realm_id, "connected")
