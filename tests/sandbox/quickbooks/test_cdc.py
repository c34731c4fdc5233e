"""Change data capture: what changed since a time (at most 30 days back), deletions, and the 1,000 object cap."""

from __future__ import annotations

from datetime import timedelta

from flexbill.sandbox import SandboxClock
from flexbill.sandbox.quickbooks import QuickBooksSandbox
from tests.sandbox.quickbooks.support import QuickBooks, fault_code, line


def cdc(qbo: QuickBooks, entities: str, since: str) -> dict[str, list[dict[str, object]]]:
    response = qbo.get("cdc", params={"entities": entities, "changedSince": since})
    assert response.status_code == 200, response.text
    found: dict[str, list[dict[str, object]]] = {}
    for part in response.json()["CDCResponse"][0]["QueryResponse"]:
        for key, value in part.items():
            if isinstance(value, list):
                found[key] = value
    return found


def test_changes_since_a_time_including_deletions(qbo: QuickBooks, clock: SandboxClock) -> None:
    acme = qbo.customer("Acme Ltd")
    old = qbo.invoice(acme["Id"])
    clock.advance(timedelta(hours=2))
    since = "2026-11-02T10:30:00+00:00"
    new = qbo.invoice(acme["Id"], line("5.00"))
    assert qbo.post("invoice", {"Id": old["Id"], "SyncToken": "0"}, params={"operation": "delete"}).status_code == 200
    payment = qbo.ok(qbo.payment(acme["Id"], "6.00", ("Invoice", new["Id"], "6.00")), "Payment")
    found = cdc(qbo, "Invoice,Customer,Payment,CreditMemo,RefundReceipt", since)
    assert set(found) == {"Invoice", "Payment"}
    invoices = {i["Id"]: i for i in found["Invoice"]}
    assert invoices[old["Id"]]["status"] == "Deleted"
    assert "MetaData" in invoices[old["Id"]]
    assert invoices[new["Id"]]["Balance"] == 0
    assert [p["Id"] for p in found["Payment"]] == [payment["Id"]]
    everything = cdc(qbo, "Customer", "2026-11-01")
    assert [c["Id"] for c in everything["Customer"]] == [acme["Id"]]


def test_changed_since_is_at_most_30_days_back(qbo: QuickBooks, clock: SandboxClock) -> None:
    clock.advance(timedelta(days=40))
    too_old = qbo.get("cdc", params={"entities": "Invoice", "changedSince": "2026-11-10"})
    assert too_old.status_code == 400
    assert "30 days" in too_old.json()["Fault"]["Error"][0]["Detail"]
    assert qbo.get("cdc", params={"entities": "Invoice", "changedSince": "2026-11-20"}).status_code == 200
    assert fault_code(qbo.get("cdc", params={"entities": "Invoice"})) == "2020"
    assert fault_code(qbo.get("cdc", params={"entities": "TaxCode", "changedSince": "2026-12-01"})) == "2010"
    assert fault_code(qbo.get("cdc", params={"entities": "Invoice", "changedSince": "yesterday"})) == "2010"


def test_at_most_1000_objects_the_oldest_first(
    qbo: QuickBooks, qb_sandbox: QuickBooksSandbox, clock: SandboxClock
) -> None:
    company = qb_sandbox.company
    for n in range(1005):
        company.save("Customer", {"DisplayName": f"Member {n:04d}"})
        clock.advance(timedelta(seconds=1))
    found = cdc(qbo, "Customer", "2026-11-01")
    assert len(found["Customer"]) == 1000
    assert found["Customer"][0]["DisplayName"] == "Member 0000"
    assert found["Customer"][-1]["DisplayName"] == "Member 0999"
    last = found["Customer"][-1]["MetaData"]
    assert isinstance(last, dict)
    rest = cdc(qbo, "Customer", str(last["LastUpdatedTime"]))
    assert [c["DisplayName"] for c in rest["Customer"]][-1] == "Member 1004"
    assert len(rest["Customer"]) == 6
