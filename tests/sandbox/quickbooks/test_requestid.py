"""``requestid``: the same id again gets the first answer, without running again, errors and batches included."""

from __future__ import annotations

from tests.sandbox.quickbooks.support import QuickBooks, fault_code, line


def test_a_repeated_requestid_returns_the_stored_answer_without_creating_again(qbo: QuickBooks) -> None:
    first = qbo.post("customer", {"DisplayName": "Acme Ltd"}, params={"requestid": "cus_1:v1"})
    again = qbo.post("customer", {"DisplayName": "Something Else"}, params={"requestid": "cus_1:v1"})
    assert again.status_code == first.status_code == 200
    assert again.content == first.content
    assert qbo.query("select count(*) from Customer").json()["QueryResponse"]["totalCount"] == 1
    other = qbo.post("customer", {"DisplayName": "Beta GmbH"}, params={"requestid": "cus_2:v1"})
    assert other.json()["Customer"]["Id"] != first.json()["Customer"]["Id"]
    state = qbo.control("GET", "state").json()["requestids"]
    assert state["keys"] == 2
    assert state["replays"] == 1


def test_an_error_answer_is_replayed_too(qbo: QuickBooks) -> None:
    qbo.customer("Acme Ltd")
    refused = qbo.post("customer", {"DisplayName": "ACME LTD"}, params={"requestid": "dup-1"})
    assert fault_code(refused) == "6240"
    qbo.control("POST", "customers/58", {"DisplayName": "Renamed Ltd"})
    replayed = qbo.post("customer", {"DisplayName": "ACME LTD"}, params={"requestid": "dup-1"})
    assert replayed.status_code == 400
    assert replayed.content == refused.content


def test_batches_replay_whole(qbo: QuickBooks) -> None:
    customer = qbo.customer()
    batch = {
        "BatchItemRequest": [
            {"bId": "1", "operation": "create", "Invoice": {"CustomerRef": {"value": customer["Id"]}, "Line": [line()]}}
        ]
    }
    first = qbo.post("batch", batch, params={"requestid": "run-2026-11:batch-1"})
    again = qbo.post("batch", batch, params={"requestid": "run-2026-11:batch-1"})
    assert again.content == first.content
    assert qbo.query("select count(*) from Invoice").json()["QueryResponse"]["totalCount"] == 1
    long_bid = {"BatchItemRequest": [{"bId": "b" * 11, "Query": "select * from Customer"}]}
    answer = qbo.post("batch", long_bid, params={"requestid": "run-2"}).json()["BatchItemResponse"][0]
    assert answer["Fault"]["Error"][0]["code"] == "2010"


def test_requestid_length_limits(qbo: QuickBooks) -> None:
    assert qbo.post("customer", {"DisplayName": "A"}, params={"requestid": "x" * 50}).status_code == 200
    assert fault_code(qbo.post("customer", {"DisplayName": "B"}, params={"requestid": "x" * 51})) == "2010"
    batch = {"BatchItemRequest": [{"bId": "1", "Query": "select * from Customer"}]}
    assert qbo.post("batch", batch, params={"requestid": "y" * 36}).status_code == 200
    assert fault_code(qbo.post("batch", batch, params={"requestid": "y" * 37})) == "2010"


def test_reset_clears_the_requestids(qbo: QuickBooks) -> None:
    first = qbo.post("customer", {"DisplayName": "Acme Ltd"}, params={"requestid": "r-1"})
    qbo.control("POST", "reset")
    after = qbo.post("customer", {"DisplayName": "Acme Ltd"}, params={"requestid": "r-1"})
    assert after.status_code == 200
    assert after.json()["Customer"]["MetaData"] == first.json()["Customer"]["MetaData"]
    assert qbo.query("select count(*) from Customer").json()["QueryResponse"]["totalCount"] == 1
