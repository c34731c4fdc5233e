"""Edge cases of the API: voiding an earlier invoice, negative fees, dates that contradict each other, and bodies
whose error involves two fields. Each test states what must happen and why."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

API = "/api/v1"


def post(client: TestClient, path: str, body: Any = None, expect: int = 201) -> dict[str, Any]:
    response = client.post(f"{API}{path}", json=body)
    assert response.status_code == expect, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture
def space(client: TestClient) -> dict[str, str]:
    location = post(client, "/locations", {
        "name": "London Bridge", "code": "LB", "currency": "GBP", "invoice_number_template": "LB-{number:04}",
    })["id"]  # fmt: skip
    vat = post(
        client, "/tax-rates", {"name": "VAT 20%", "code": "VAT20", "components": [{"name": "VAT", "rate": "20"}]}
    )
    account = post(client, "/revenue-accounts", {"name": "Sales", "code": "200", "tax_rate_id": vat["id"]})["id"]
    plan = post(client, "/plans", {"name": "Hot desk", "price": "300.00", "revenue_account_id": account})["id"]
    customer = post(client, "/customers", {"name": "Acme Ltd", "email": "billing@acme.test",
                                          "home_location_id": location})["id"]  # fmt: skip
    return {"location": location, "account": account, "plan": plan, "customer": customer}


def test_voiding_an_earlier_invoice_lets_the_next_run_bill_its_period_again_after_a_later_period_was_billed(
    client: TestClient, space: dict[str, str]
) -> None:
    """Void and re-issue must work for any invoice, not only the latest one of a membership.

    billing/service.py ``_memberships_to_bill`` resumes billing at MAX(period_end) of the membership's claims, so
    once December is billed, November's released claim is a hole behind the cursor that no run ever fills.
    """
    post(client, "/memberships", {"customer_id": space["customer"], "plan_id": space["plan"],
                                  "location_id": space["location"], "start_date": "2026-11-01"})  # fmt: skip
    (november,) = post(client, "/bill-runs", {"date": "2026-11-01"})["invoices"]
    (december,) = post(client, "/bill-runs", {"date": "2026-12-01"})["invoices"]
    assert (november["number"], december["number"]) == ("LB-0001", "LB-0002")
    assert post(client, f"/invoices/{november['id']}/void", expect=200)["status"] == "voided"

    rerun = post(client, "/bill-runs", {"date": "2026-11-01"})["invoices"]
    assert [[(line["period_start"], line["period_end"], line["net_amount"]) for line in inv["lines"]]
            for inv in rerun] == [[("2026-11-01", "2026-11-30", "300.00")]]  # fmt: skip


def test_a_fee_with_a_negative_unit_price_is_refused(client: TestClient, space: dict[str, str]) -> None:
    """Plans and memberships refuse negative prices; a fee takes one (customers/service.py ``NewFee.unit_price``
    is ``Price``, not ``NonNegativePrice``). The next bill run then issues an invoice of -60.00 "awaiting_payment"
    with an amount due of -60.00, which no payment or credit note can settle (both must be positive) and which
    turns overdue."""
    response = client.post(f"{API}/fees", json={
        "customer_id": space["customer"], "location_id": space["location"], "date": "2026-11-10",
        "description": "Refund", "quantity": "1", "unit_price": "-50.00", "revenue_account_id": space["account"],
    })  # fmt: skip
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "unit_price"
    assert client.get(f"{API}/fees").json()["items"] == []


def test_moving_a_membership_start_after_its_end_is_refused_naming_start_date(
    client: TestClient, space: dict[str, str]
) -> None:
    """customers/service.py ``update_membership`` checks a new end date against the start, but not a new start
    against the end: the database's check constraint stops it, as a 409 "the change conflicts with existing data
    (IntegrityError)" that names no field."""
    membership = post(
        client,
        "/memberships",
        {
            "customer_id": space["customer"],
            "plan_id": space["plan"],
            "location_id": space["location"],
            "start_date": "2026-12-01",
            "end_date": "2026-12-31",
        },
    )
    response = client.patch(f"{API}/memberships/{membership['id']}", json={"start_date": "2027-01-15"})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "start_date"


def test_a_percentage_discount_above_100_names_discount_value(client: TestClient, space: dict[str, str]) -> None:
    """customers/service.py ``_check_discount`` ran in a model validator: "a percentage discount cannot exceed 100"
    has no location of its own and mentions no field, so the error's ``field`` was null."""
    response = client.post(f"{API}/memberships", json={
        "customer_id": space["customer"], "plan_id": space["plan"], "location_id": space["location"],
        "start_date": "2026-12-01", "discount_type": "percent", "discount_value": "150",
    })  # fmt: skip
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "discount_value"
    assert "cannot exceed 100" in response.json()["message"]


def test_a_credit_note_with_neither_amount_nor_lines_names_a_field(client: TestClient, space: dict[str, str]) -> None:
    """invoicing/service.py ``NewCreditNote._one_of``: with neither field given, "give either amount or lines"
    names no field of the request, so ``field`` is null."""
    post(client, "/memberships", {"customer_id": space["customer"], "plan_id": space["plan"],
                                  "location_id": space["location"], "start_date": "2026-12-01"})  # fmt: skip
    (invoice,) = post(client, "/bill-runs", {"date": "2026-12-01"})["invoices"]
    response = client.post(f"{API}/invoices/{invoice['id']}/credit-notes", json={"reason": "Goodwill"})
    assert response.status_code == 422, response.text
    assert response.json()["field"] in ("amount", "lines")


def test_a_plan_change_bills_the_new_plan_from_the_next_period_not_yet_invoiced(
    client: TestClient, space: dict[str, str]
) -> None:
    """A hot desk (300.00) from 1 Nov, November invoiced; moved to a dedicated desk (450.00): December bills
    450.00 and November's invoice stays as it was. The location cannot change once invoiced."""
    membership = post(client, "/memberships", {
        "customer_id": space["customer"], "plan_id": space["plan"], "location_id": space["location"],
        "start_date": "2026-11-01",
    })  # fmt: skip
    november = post(client, "/bill-runs", {"date": "2026-11-01"})["invoices"][0]
    desk = post(client, "/plans", {"name": "Dedicated desk", "price": "450.00", "revenue_account_id": space["account"]})
    response = client.patch(f"{API}/memberships/{membership['id']}", json={"plan_id": desk["id"]})
    assert response.status_code == 200, response.text
    assert response.json()["plan_id"] == desk["id"]
    assert response.json()["billed_until"] == "2026-11-30"  # November stays invoiced at the hot desk's price

    december = post(client, "/bill-runs", {"date": "2026-12-01"})["invoices"][0]
    assert [(line["description"], line["net_amount"]) for line in december["lines"]] == [
        ("Dedicated desk, 1-31 Dec 2026", "450.00")
    ]
    assert client.get(f"{API}/invoices/{november['id']}").json()["total"] == november["total"] == "360.00"
    listed = client.get(f"{API}/memberships", params={"customer_id": space["customer"]}).json()["items"]
    assert [m["billed_until"] for m in listed] == ["2026-12-31"]

    other = post(client, "/locations", {"name": "Shoreditch", "code": "SH", "currency": "GBP"})
    moved = client.patch(f"{API}/memberships/{membership['id']}", json={"location_id": other["id"]})
    assert moved.status_code == 409, moved.text
    assert moved.json()["field"] == "location_id"
    assert "has been invoiced, so its location cannot change" in moved.json()["message"]
