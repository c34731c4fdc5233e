"""The API end to end: set up a space, bill it, pay, credit, export."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def post(client: TestClient, path: str, body: dict[str, Any], expect: int = 201) -> dict[str, Any]:
    response = client.post(f"/api/v1{path}", json=body)
    assert response.status_code == expect, response.text
    result: dict[str, Any] = response.json()
    return result


def setup_space(client: TestClient) -> dict[str, str]:
    location = post(client, "/locations", {
        "name": "London Bridge", "code": "LB", "currency": "GBP", "timezone": "Europe/London",
        "prices_include_tax": False, "invoice_number_template": "LB-{number:05}",
    })  # fmt: skip
    vat = post(
        client,
        "/tax-rates",
        {"name": "VAT 20%", "code": "VAT20", "components": [{"name": "VAT", "rate": "20"}]},
    )
    account = post(client, "/revenue-accounts", {"name": "Memberships", "code": "200", "tax_rate_id": vat["id"]})
    plan = post(client, "/plans", {
        "name": "Hot desk", "price": "300.00", "revenue_account_id": account["id"], "proration": "first_invoice",
        "interval_months": 1,
    })  # fmt: skip
    customer = post(client, "/customers", {
        "name": "Acme Ltd", "kind": "company", "email": "billing@acme.test", "home_location_id": location["id"],
    })  # fmt: skip
    return {"location": location["id"], "vat": vat["id"], "account": account["id"], "plan": plan["id"],
            "customer": customer["id"]}  # fmt: skip


def test_bill_run_invoices_a_prorated_membership_and_a_fee(client: TestClient) -> None:
    ids = setup_space(client)
    post(client, "/memberships", {
        "customer_id": ids["customer"], "plan_id": ids["plan"], "location_id": ids["location"],
        "start_date": "2026-11-10", "quantity": "1",
    })  # fmt: skip
    post(client, "/fees", {
        "customer_id": ids["customer"], "location_id": ids["location"], "date": "2026-11-20",
        "description": "Meeting room, 2 hours", "quantity": "2", "unit_price": "25.00",
        "revenue_account_id": ids["account"],
    })  # fmt: skip

    preview = post(client, "/bill-runs", {"date": "2026-12-01", "preview": True}, expect=200)
    assert preview["id"] is None
    assert [inv["id"] for inv in preview["invoices"]] == [None]

    run = post(client, "/bill-runs", {"date": "2026-12-01"})
    assert len(run["invoices"]) == 1
    invoice = run["invoices"][0]
    assert invoice["number"] == "LB-00001"
    lines = [(line["description"], line["net_amount"], line["tax_amount"]) for line in invoice["lines"]]
    # 10-30 Nov is 21 of 30 days: 300 x 21/30 = 210.00 (catch-up), then December in full, then the fee.
    assert lines == [
        ("Hot desk, 10-30 Nov 2026 (21 of 30 days)", "210.00", "42.00"),
        ("Hot desk, 1-31 Dec 2026", "300.00", "60.00"),
        ("Meeting room, 2 hours", "50.00", "10.00"),
    ]
    assert (invoice["subtotal"], invoice["tax_total"], invoice["total"]) == ("560.00", "112.00", "672.00")
    assert invoice["due_date"] == "2026-12-15"
    assert {k: v for k, v in preview["invoices"][0].items() if k not in ("id", "number", "bill_run_id", "lines")} == {
        k: v for k, v in invoice.items() if k not in ("id", "number", "bill_run_id", "lines")
    }

    again = post(client, "/bill-runs", {"date": "2026-12-01"})
    assert again["invoices"] == []

    payment = post(
        client,
        f"/invoices/{invoice['id']}/payments",
        {"date": "2026-12-05", "amount": "600.00", "method": "bank_transfer"},
    )
    assert payment["amount"] == "600.00"
    payments = client.get(f"/api/v1/invoices/{invoice['id']}/payments").json()
    assert [(p["id"], p["amount"], p["method"]) for p in payments["items"]] == [
        (payment["id"], "600.00", "bank_transfer")
    ]
    credit = post(client, f"/invoices/{invoice['id']}/credit-notes", {"amount": "72.00", "reason": "Goodwill"})
    assert credit["total"] == "72.00"
    paid = client.get(f"/api/v1/invoices/{invoice['id']}").json()
    assert (paid["status"], paid["amount_due"]) == ("paid", "0.00")

    export = client.get("/api/v1/exports/invoices.csv")
    assert export.status_code == 200
    rows = export.text.strip().splitlines()
    assert len(rows) == 4
    assert rows[1].startswith("LB-00001,")
