"""Injected faults: Faults and 5xx before any work, throttles, and answers lost after the change was made."""

from __future__ import annotations

import httpx
import pytest

from tests.sandbox.quickbooks.support import QuickBooks, fault_code


def count_customers(qbo: QuickBooks) -> int:
    total: int = qbo.query("select count(*) from Customer").json()["QueryResponse"]["totalCount"]
    return total


def test_a_fault_answers_before_any_work(qbo: QuickBooks) -> None:
    added = qbo.control(
        "POST",
        "faults",
        {
            "kind": "fault",
            "method": "POST",
            "path": "/v3/company/*/customer",
            "code": "6190",
            "message": "Invalid Company Status",
            "detail": "The subscription has lapsed",
        },
    )
    assert added.status_code == 201
    refused = qbo.post("customer", {"DisplayName": "Acme Ltd"})
    assert refused.status_code == 400
    error = refused.json()["Fault"]["Error"][0]
    assert (error["code"], error["Message"], error["Detail"]) == (
        "6190",
        "Invalid Company Status",
        "The subscription has lapsed",
    )
    assert count_customers(qbo) == 0
    assert qbo.post("customer", {"DisplayName": "Acme Ltd"}).status_code == 200
    faults = qbo.control("GET", "faults").json()
    assert faults["pending"] == []
    assert faults["fired"]["fault"] == 1


def test_server_errors_and_injected_throttles(qbo: QuickBooks) -> None:
    qbo.control("POST", "faults", {"kind": "server_error", "status": 503, "count": 1})
    failed = qbo.get(f"companyinfo/{qbo.realm_id}")
    assert failed.status_code == 503
    assert failed.json()["Fault"]["type"] == "SystemFault"
    assert fault_code(failed) == "10000"
    qbo.control("POST", "faults", {"kind": "throttle", "xml": True})
    throttled = qbo.get(f"companyinfo/{qbo.realm_id}")
    assert throttled.status_code == 429
    assert "ThrottleExceeded" in throttled.text
    assert throttled.text.lstrip().startswith("<?xml")
    qbo.control("POST", "faults", {"kind": "throttle"})
    assert fault_code(qbo.get(f"companyinfo/{qbo.realm_id}")) == "3001"
    assert qbo.get(f"companyinfo/{qbo.realm_id}").status_code == 200
    assert qbo.control("POST", "faults", {"kind": "server_error", "status": 404}).status_code == 422
    assert qbo.control("POST", "faults", {"kind": "bogus"}).status_code == 422


def test_a_lost_response_after_the_change_then_the_requestid_gets_the_answer(qbo_remote: QuickBooks) -> None:
    qbo_remote.control("POST", "faults", {"kind": "lose_response", "method": "POST", "path": "*/customer"})
    with pytest.raises(httpx.HTTPError):
        qbo_remote.post("customer", {"DisplayName": "Acme Ltd"}, params={"requestid": "cus_1:v1"})
    assert count_customers(qbo_remote) == 1  # the change was made
    retried = qbo_remote.post("customer", {"DisplayName": "Acme Ltd"}, params={"requestid": "cus_1:v1"})
    assert retried.status_code == 200
    assert retried.json()["Customer"]["DisplayName"] == "Acme Ltd"
    assert count_customers(qbo_remote) == 1
    state = qbo_remote.control("GET", "state").json()
    assert state["calls"]["lost_responses"] == 1


def test_a_gateway_timeout_after_the_change(qbo_remote: QuickBooks) -> None:
    qbo_remote.control("POST", "faults", {"kind": "lose_response", "mode": "gateway_timeout"})
    timed_out = qbo_remote.post("customer", {"DisplayName": "Acme Ltd"})
    assert timed_out.status_code == 504
    assert count_customers(qbo_remote) == 1
    assert fault_code(qbo_remote.post("customer", {"DisplayName": "Acme Ltd"})) == "6240"


def test_faults_can_be_cleared_and_last_until_cleared(qbo: QuickBooks) -> None:
    qbo.control("POST", "faults", {"kind": "server_error", "count": None, "path": "*/invoice*"})
    customer = qbo.customer()
    for _ in range(3):
        assert qbo.get("invoice/1").status_code == 500
    assert qbo.get(f"customer/{customer['Id']}").status_code == 200
    assert qbo.control("DELETE", "faults").json()["pending"] == []
    assert qbo.get("invoice/1").status_code == 400


def test_a_fault_can_name_the_entity_a_batch_or_a_query_is_about(qbo: QuickBooks) -> None:
    """Every create of a client that batches goes to one path: the entity tells a batch of invoices from one of
    customers, and a query of invoices from one of tax codes."""
    added = qbo.control("POST", "faults", {"kind": "server_error", "path": "*/batch", "entity": "Invoice"})
    assert added.status_code == 201, added.text
    qbo.control("POST", "faults", {"kind": "server_error", "method": "GET", "path": "*/query", "entity": "invoice"})
    customers = {"BatchItemRequest": [{"bId": "1", "operation": "create", "Customer": {"DisplayName": "Acme Ltd"}}]}
    assert qbo.post("batch", customers).status_code == 200
    assert qbo.query("select * from TaxCode").status_code == 200
    assert qbo.query("select * from Invoice where Id in ('1')").status_code == 500
    customer_id = qbo.query("select * from Customer").json()["QueryResponse"]["Customer"][0]["Id"]
    line = {"Amount": 10, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "2"}}}
    invoice = {"CustomerRef": {"value": customer_id}, "Line": [line]}
    invoices = {"BatchItemRequest": [{"bId": "1", "operation": "create", "Invoice": invoice}]}
    assert qbo.post("batch", invoices).status_code == 500
    assert qbo.post("batch", invoices).status_code == 200
    assert qbo.control("GET", "faults").json()["pending"] == []
