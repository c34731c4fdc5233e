"""Batch: up to 30 items run in order, each answered with its entity, its query result or its own Fault."""

from __future__ import annotations

from typing import Any

from tests.sandbox.quickbooks.support import QuickBooks, fault_code, line


def test_items_run_in_order_with_per_item_faults(qbo: QuickBooks) -> None:
    existing = qbo.customer("Acme Ltd")
    invoice = qbo.invoice(existing["Id"])
    items: list[dict[str, Any]] = [
        {"bId": "1", "operation": "create", "Customer": {"DisplayName": "Beta GmbH"}},
        {"bId": "2", "operation": "create", "Customer": {"DisplayName": "acme ltd"}},
        {"bId": "3", "Query": "select * from Customer where DisplayName = 'Beta GmbH'"},
        {"bId": "4", "operation": "update", "optionsData": "void", "Invoice": {"Id": invoice["Id"], "SyncToken": "0"}},
        {"bId": "5", "operation": "update", "Invoice": {"Id": invoice["Id"], "SyncToken": "0", "sparse": True}},
        {"bId": "6", "operation": "create", "Invoice": {"CustomerRef": {"value": existing["Id"]}, "Line": [line()]}},
        {"bId": "7", "operation": "delete", "Invoice": {"Id": "9999", "SyncToken": "0"}},
    ]
    response = qbo.post("batch", {"BatchItemRequest": items})
    assert response.status_code == 200
    answers = response.json()["BatchItemResponse"]
    assert [a["bId"] for a in answers] == ["1", "2", "3", "4", "5", "6", "7"]
    assert answers[0]["Customer"]["DisplayName"] == "Beta GmbH"
    assert answers[1]["Fault"]["Error"][0]["code"] == "6240"
    assert answers[1]["Fault"]["type"] == "ValidationFault"
    assert answers[2]["QueryResponse"]["Customer"][0]["Id"] == answers[0]["Customer"]["Id"]
    assert answers[3]["Invoice"]["PrivateNote"] == "Voided"
    assert answers[4]["Fault"]["Error"][0]["code"] == "5010"
    assert answers[5]["Invoice"]["DocNumber"] == "1002"
    assert answers[6]["Fault"]["Error"][0]["code"] == "610"


def test_more_than_30_items_is_fault_1040_and_nothing_runs(qbo: QuickBooks) -> None:
    items = [{"bId": str(n), "operation": "create", "Customer": {"DisplayName": f"C{n}"}} for n in range(31)]
    response = qbo.post("batch", {"BatchItemRequest": items})
    assert response.status_code == 400
    assert fault_code(response) == "1040"
    assert qbo.query("select count(*) from Customer").json()["QueryResponse"]["totalCount"] == 0
    ok = qbo.post("batch", {"BatchItemRequest": items[:30]})
    assert ok.status_code == 200
    assert qbo.query("select count(*) from Customer").json()["QueryResponse"]["totalCount"] == 30


def test_bad_items_are_answered_one_by_one(qbo: QuickBooks) -> None:
    items = [
        {"bId": "a", "operation": "merge", "Customer": {"DisplayName": "X"}},
        {"bId": "a", "operation": "create", "Customer": {"DisplayName": "Y"}},
        {"operation": "create", "Customer": {"DisplayName": "Z"}},
        {"bId": "b", "operation": "create"},
    ]
    answers = qbo.post("batch", {"BatchItemRequest": items}).json()["BatchItemResponse"]
    assert [a["Fault"]["Error"][0]["code"] for a in answers] == ["2170", "2010", "2020", "2020"]
    assert fault_code(qbo.post("batch", {"Items": []})) == "2020"
