"""An invoice's life through the REST API: drafts and issuing, voiding and billing again, payments, credit notes,
the overdue flag, numbering per location, listing with cursors and filters, and the CSV export.

The test clock stands at 26 Nov 2026 (tests/conftest.py). The plan costs 300.00 a month plus 20% VAT: a whole
month bills 300.00 net, 60.00 tax, 360.00 gross.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from flexbill.bootstrap import Context
from flexbill.invoicing.store import CreditNoteRow, PaymentRow

API = "/api/v1"

Ids = dict[str, str]


class Api:
    """The JSON API with the status each call must answer (201 for creations unless told otherwise)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def post(self, path: str, body: Any = None, expect: int = 201) -> dict[str, Any]:
        response = self.client.post(f"{API}{path}", json=body)
        assert response.status_code == expect, response.text
        result: dict[str, Any] = response.json()
        return result

    def patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.patch(f"{API}{path}", json=body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.client.get(f"{API}{path}", params=params)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def refused(self, path: str, body: Any, status: int, field: str | None, phrase: str) -> dict[str, Any]:
        response = self.client.post(f"{API}{path}", json=body)
        assert response.status_code == status, response.text
        error: dict[str, Any] = response.json()
        assert error["field"] == field, error
        assert phrase in error["message"], error
        return error

    # --- the records of a space ---

    def customer(self, name: str, location: str) -> str:
        email = f"billing@{name.split()[0].lower()}.test"
        return str(self.post("/customers", {"name": name, "email": email, "home_location_id": location})["id"])

    def membership(self, space: Ids, customer: str, location: str, start: str) -> str:
        body = {"customer_id": customer, "plan_id": space["plan"], "location_id": location, "start_date": start}
        return str(self.post("/memberships", body)["id"])

    def fee(
        self, space: Ids, customer: str, day: str, *, quantity: str, unit_price: str, zero_rated: bool = False
    ) -> str:
        body = {
            "customer_id": customer, "location_id": space["LB"], "date": day, "description": "Meeting room",
            "quantity": quantity, "unit_price": unit_price, "revenue_account_id": space["account"],
            "tax_rate_id": space["zero"] if zero_rated else None,
        }  # fmt: skip
        return str(self.post("/fees", body)["id"])

    def bill_run(self, day: str, location: str | None = None) -> dict[str, Any]:
        return self.post("/bill-runs", {"date": day, "location_id": location})

    def invoice(self, invoice_id: str) -> dict[str, Any]:
        return self.get(f"/invoices/{invoice_id}")

    def invoices(self, **filters: Any) -> list[dict[str, Any]]:
        page = self.get("/invoices", **filters)
        assert page["next_cursor"] is None
        items: list[dict[str, Any]] = page["items"]
        return items

    def pay(self, invoice_id: str, amount: str, day: str = "2026-12-02", **fields: Any) -> dict[str, Any]:
        return self.post(f"/invoices/{invoice_id}/payments", {"date": day, "amount": amount, **fields})

    def credit(self, invoice_id: str, **fields: Any) -> dict[str, Any]:
        return self.post(f"/invoices/{invoice_id}/credit-notes", {"reason": "Goodwill", "date": "2027-01-02", **fields})


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


@pytest.fixture
def space(api: Api) -> Ids:
    """Two locations with their own numbering (London Bridge in GBP, Paris in EUR), VAT at 20% and at 0%, a
    revenue account taxed at 20% by default and a 300.00 monthly plan."""
    ids: Ids = {}
    ids["LB"] = api.post("/locations", {
        "name": "London Bridge", "code": "LB", "currency": "GBP", "invoice_number_template": "LB-{number:04}",
    })["id"]  # fmt: skip
    ids["PA"] = api.post("/locations", {
        "name": "Paris", "code": "PA", "currency": "EUR", "invoice_number_template": "PA-{number:04}",
    })["id"]  # fmt: skip
    ids["vat"] = api.post("/tax-rates", {"name": "VAT 20%", "code": "VAT20", "components": [
        {"name": "VAT", "rate": "20"}]})["id"]  # fmt: skip
    ids["zero"] = api.post("/tax-rates", {"name": "Zero rated", "code": "ZERO", "components": [
        {"name": "VAT", "rate": "0"}]})["id"]  # fmt: skip
    ids["account"] = api.post("/revenue-accounts", {"name": "Sales", "code": "200", "tax_rate_id": ids["vat"]})["id"]
    plan = {"name": "Hot desk", "price": "300.00", "revenue_account_id": ids["account"]}
    ids["plan"] = api.post("/plans", plan)["id"]
    return ids


@pytest.fixture
def billed(api: Api, space: Ids) -> Ids:
    """Acme at London Bridge from 1 Dec 2026, with a 2 x 25.00 meeting room on 20 Nov 2026 (zero rated), billed by
    the run of 1 Dec 2026: LB-0001 = December 300.00 + 60.00 VAT and the fee 50.00 + 0.00, total 410.00."""
    acme = api.customer("Acme Ltd", space["LB"])
    membership = api.membership(space, acme, space["LB"], "2026-12-01")
    fee = api.fee(space, acme, "2026-11-20", quantity="2", unit_price="25.00", zero_rated=True)
    run = api.bill_run("2026-12-01")
    (invoice,) = run["invoices"]
    assert (invoice["number"], invoice["subtotal"], invoice["tax_total"], invoice["total"]) == (
        "LB-0001", "350.00", "60.00", "410.00",
    )  # fmt: skip
    desk, room = invoice["lines"]
    assert (desk["membership_id"], room["fee_id"]) == (membership, fee)
    return {**space, "acme": acme, "membership": membership, "fee": fee, "run": run["id"],
            "invoice": invoice["id"], "desk_line": desk["id"], "room_line": room["id"]}  # fmt: skip


def count(ctx: Context, model: type[PaymentRow] | type[CreditNoteRow]) -> int:
    with ctx.sessions() as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def money(invoice: dict[str, Any]) -> tuple[str, str, str, str, str]:
    return (
        invoice["status"],
        invoice["total"],
        invoice["amount_paid"],
        invoice["amount_credited"],
        invoice["amount_due"],
    )


# --- drafts and issuing -------------------------------------------------------------------------------------------


def test_a_draft_bill_run_makes_unnumbered_drafts_that_issuing_numbers_gap_free_in_issue_order(
    api: Api, space: Ids
) -> None:
    rules = api.patch("/settings/billing", {"issue_mode": "draft"})
    assert rules["issue_mode"] == "draft"
    customers = [api.customer(name, space["LB"]) for name in ("Acme Ltd", "Bolt plc", "Cafe Co")]
    for customer in customers:
        api.membership(space, customer, space["LB"], "2026-12-01")

    run = api.bill_run("2026-12-01")
    assert len(run["invoices"]) == 3
    for draft in run["invoices"]:
        assert (draft["status"], draft["number"], draft["total"], draft["amount_due"], draft["overdue"]) == (
            "draft", None, "360.00", "0.00", False,
        )  # fmt: skip
    drafts = {invoice["customer_id"]: invoice["id"] for invoice in run["invoices"]}

    # Issued in the order Cafe, Acme, Bolt: the numbers follow the order of issuing, not of the run.
    acme, bolt, cafe = customers
    for customer, number in ((cafe, "LB-0001"), (acme, "LB-0002"), (bolt, "LB-0003")):
        issued = api.post(f"/invoices/{drafts[customer]}/issue", expect=200)
        assert (issued["number"], issued["status"], issued["amount_due"]) == (number, "awaiting_payment", "360.00")
        assert (issued["issue_date"], issued["due_date"]) == ("2026-12-01", "2026-12-15")
        assert api.invoice(drafts[customer])["number"] == number

    api.refused(f"/invoices/{drafts[cafe]}/issue", None, 409, None, "is awaiting_payment; only a draft can be issued")
    assert api.invoice(drafts[cafe])["number"] == "LB-0001"

    # Issuing twice took no number: the next run, issuing directly, carries on from LB-0004.
    api.patch("/settings/billing", {"issue_mode": "issue"})
    january = api.bill_run("2027-01-01")
    assert sorted(invoice["number"] for invoice in january["invoices"]) == ["LB-0004", "LB-0005", "LB-0006"]
    numbers = sorted(invoice["number"] for invoice in api.invoices(location_id=space["LB"]))
    assert numbers == [f"LB-{n:04}" for n in range(1, 7)]


def test_a_draft_takes_no_payment_or_credit_and_a_voided_draft_never_takes_a_number(api: Api, space: Ids) -> None:
    api.patch("/settings/billing", {"issue_mode": "draft"})
    for name in ("Acme Ltd", "Bolt plc"):
        api.membership(space, api.customer(name, space["LB"]), space["LB"], "2026-12-01")
    first, second = (invoice["id"] for invoice in api.bill_run("2026-12-01")["invoices"])

    api.refused(f"/invoices/{first}/payments", {"date": "2026-12-02", "amount": "10.00"}, 409, None,
                "is draft; payments go on issued, unpaid invoices")  # fmt: skip
    api.refused(f"/invoices/{first}/credit-notes", {"amount": "10.00", "reason": "x", "date": "2026-12-02"}, 409,
                None, "only an issued invoice with a balance can be credited")  # fmt: skip
    voided = api.post(f"/invoices/{first}/void", expect=200)
    assert (voided["status"], voided["number"]) == ("voided", None)
    api.refused(f"/invoices/{first}/issue", None, 409, None, "only a draft can be issued")
    assert api.invoice(first)["number"] is None

    assert api.post(f"/invoices/{second}/issue", expect=200)["number"] == "LB-0001"


# --- voiding ------------------------------------------------------------------------------------------------------


def line_keys(invoice: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (line["membership_id"], line["fee_id"], line["period_start"], line["period_end"], line["net_amount"],
         line["tax_amount"])
        for line in invoice["lines"]
    ]  # fmt: skip


def test_voiding_releases_the_period_and_fee_so_the_next_run_for_the_date_bills_them_again(
    api: Api, billed: Ids
) -> None:
    original = api.invoice(billed["invoice"])
    voided = api.post(f"/invoices/{billed['invoice']}/void", expect=200)
    assert (voided["status"], voided["number"], voided["amount_due"], voided["overdue"]) == (
        "voided", "LB-0001", "0.00", False,
    )  # fmt: skip
    assert voided["lines"] == original["lines"]  # a voided invoice keeps what it said

    again = api.bill_run("2026-12-01")
    (reissued,) = again["invoices"]
    assert reissued["number"] == "LB-0002"
    assert line_keys(reissued) == line_keys(original)
    assert line_keys(reissued) == [
        (billed["membership"], None, "2026-12-01", "2026-12-31", "300.00", "60.00"),
        (None, billed["fee"], "2026-11-20", "2026-11-20", "50.00", "0.00"),
    ]
    assert api.bill_run("2026-12-01")["invoices"] == []  # billed once more, and only once
    api.refused(f"/invoices/{billed['invoice']}/void", None, 409, None, "invoice LB-0001 is already voided")


def test_voiding_with_release_items_false_leaves_the_period_and_fee_billed(api: Api, billed: Ids) -> None:
    voided = api.post(f"/invoices/{billed['invoice']}/void", {"release_items": False}, expect=200)
    assert voided["status"] == "voided"
    assert api.bill_run("2026-12-01")["invoices"] == []
    # The next month bills January only: December and the fee stay written off.
    (january,) = api.bill_run("2027-01-01")["invoices"]
    assert line_keys(january) == [(billed["membership"], None, "2027-01-01", "2027-01-31", "300.00", "60.00")]


def test_an_invoice_with_a_payment_or_a_credit_note_cannot_be_voided(api: Api, space: Ids, billed: Ids) -> None:
    api.pay(billed["invoice"], "10.00")
    api.refused(f"/invoices/{billed['invoice']}/void", None, 409, None,
                "invoice LB-0001 has payments or credit notes against it")  # fmt: skip
    assert money(api.invoice(billed["invoice"])) == ("partially_paid", "410.00", "10.00", "0.00", "400.00")
    assert api.bill_run("2026-12-01")["invoices"] == []  # nothing was released

    bolt = api.customer("Bolt plc", space["LB"])
    api.membership(space, bolt, space["LB"], "2027-01-01")
    credited = next(inv for inv in api.bill_run("2027-01-01")["invoices"] if inv["customer_id"] == bolt)
    api.credit(credited["id"], amount="1.00")
    api.refused(f"/invoices/{credited['id']}/void", {"release_items": False}, 409, None,
                "has payments or credit notes against it")  # fmt: skip
    assert api.invoice(credited["id"])["status"] == "partially_paid"


# --- payments -----------------------------------------------------------------------------------------------------


def test_partial_payments_move_the_invoice_from_awaiting_payment_to_partially_paid_to_paid(
    api: Api, billed: Ids
) -> None:
    invoice = billed["invoice"]
    assert money(api.invoice(invoice)) == ("awaiting_payment", "410.00", "0.00", "0.00", "410.00")

    first = api.pay(invoice, "100.00", method="bank_transfer", reference="BACS 1")
    assert (first["invoice_id"], first["amount"], first["currency"], first["method"], first["reference"]) == (
        invoice, "100.00", "GBP", "bank_transfer", "BACS 1",
    )  # fmt: skip
    assert money(api.invoice(invoice)) == ("partially_paid", "410.00", "100.00", "0.00", "310.00")

    api.pay(invoice, "300", method="cash")
    assert money(api.invoice(invoice)) == ("partially_paid", "410.00", "400.00", "0.00", "10.00")

    last = api.pay(invoice, "10.00", day="2026-12-20", method="card")
    assert (last["date"], last["amount"]) == ("2026-12-20", "10.00")
    paid = api.invoice(invoice)
    assert money(paid) == ("paid", "410.00", "410.00", "0.00", "0.00")
    assert paid["overdue"] is False

    api.refused(f"/invoices/{invoice}/payments", {"date": "2026-12-21", "amount": "0.01"}, 409, None,
                "invoice LB-0001 is paid; payments go on issued, unpaid invoices")  # fmt: skip


def test_a_payment_above_the_balance_is_refused_and_nothing_is_written(api: Api, ctx: Context, billed: Ids) -> None:
    invoice = billed["invoice"]
    api.pay(invoice, "100.00")
    api.refused(f"/invoices/{invoice}/payments", {"date": "2026-12-03", "amount": "310.01"}, 422, "amount",
                "the payment of 310.01 GBP is more than the 310.00 GBP due on invoice LB-0001")  # fmt: skip
    assert money(api.invoice(invoice)) == ("partially_paid", "410.00", "100.00", "0.00", "310.00")
    assert count(ctx, PaymentRow) == 1

    # Credit notes lower the balance a payment may settle.
    api.credit(invoice, amount="10.00")
    api.refused(f"/invoices/{invoice}/payments", {"date": "2026-12-03", "amount": "300.01"}, 422, "amount",
                "more than the 300.00 GBP due")  # fmt: skip
    assert count(ctx, PaymentRow) == 1
    api.pay(invoice, "300.00")
    assert money(api.invoice(invoice)) == ("paid", "410.00", "400.00", "10.00", "0.00")


# --- credit notes -------------------------------------------------------------------------------------------------


def note_lines(note: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(line["invoice_line_id"], line["net_amount"], line["tax_amount"], line["gross_amount"])
            for line in note["lines"]]  # fmt: skip


def test_a_credit_note_for_an_amount_is_shared_over_the_lines_keeping_each_lines_tax_proportion(
    api: Api, billed: Ids
) -> None:
    invoice, desk, room = billed["invoice"], billed["desk_line"], billed["room_line"]
    # 41.00 over lines of 360.00 and 50.00 gross: 36.00 and 5.00. The desk line is 1/6 tax (60 of 360), so its
    # 36.00 holds 6.00 of tax; the zero-rated room holds none.
    note = api.credit(invoice, amount="41.00", reason="Closed for a week")
    assert (note["number"], note["invoice_id"], note["customer_id"], note["currency"], note["reason"]) == (
        "CN-00001", invoice, billed["acme"], "GBP", "Closed for a week",
    )  # fmt: skip
    assert note_lines(note) == [(desk, "30.00", "6.00", "36.00"), (room, "5.00", "0.00", "5.00")]
    assert (note["subtotal"], note["tax_total"], note["total"]) == ("35.00", "6.00", "41.00")
    assert money(api.invoice(invoice)) == ("partially_paid", "410.00", "0.00", "41.00", "369.00")

    # 10.00 over what is left (324.00 and 45.00): 8.7805 and 1.2195, rounded by largest remainder to 8.78 and 1.22;
    # the desk's tax is 8.78 / 6 = 1.4633, so 1.46.
    uneven = api.credit(invoice, amount="10.00")
    assert uneven["number"] == "CN-00002"
    assert note_lines(uneven) == [(desk, "7.32", "1.46", "8.78"), (room, "1.22", "0.00", "1.22")]
    assert (uneven["subtotal"], uneven["tax_total"], uneven["total"]) == ("8.54", "1.46", "10.00")
    assert money(api.invoice(invoice)) == ("partially_paid", "410.00", "0.00", "51.00", "359.00")


def test_a_credit_note_for_lines_credits_only_those_lines_and_never_more_than_a_line_has_left(
    api: Api, ctx: Context, billed: Ids
) -> None:
    invoice, desk, room = billed["invoice"], billed["desk_line"], billed["room_line"]
    note = api.credit(invoice, lines=[{"line_id": room, "amount": "20.00"}, {"line_id": desk, "amount": "120.00"}])
    # In the invoice's line order; 120.00 of the desk line holds 20.00 of tax (1/6).
    assert note_lines(note) == [(desk, "100.00", "20.00", "120.00"), (room, "20.00", "0.00", "20.00")]
    assert (note["subtotal"], note["tax_total"], note["total"]) == ("120.00", "20.00", "140.00")
    assert money(api.invoice(invoice)) == ("partially_paid", "410.00", "0.00", "140.00", "270.00")

    # The room line has 30.00 left; asking for 31.00 of it, at once or in two parts, is refused.
    api.refused(f"/invoices/{invoice}/credit-notes", {"lines": [{"line_id": room, "amount": "31.00"}],
                "reason": "x", "date": "2026-12-02"}, 422, "lines.0.amount",
                f"line {room} has 30.00 GBP left to credit")  # fmt: skip
    api.refused(f"/invoices/{invoice}/credit-notes", {"lines": [{"line_id": room, "amount": "20.00"},
                {"line_id": room, "amount": "10.01"}], "reason": "x", "date": "2026-12-02"}, 422, "lines.1.amount",
                "has 30.00 GBP left to credit")  # fmt: skip
    assert count(ctx, CreditNoteRow) == 1
    last = api.credit(invoice, lines=[{"line_id": room, "amount": "30.00"}])
    assert last["number"] == "CN-00002"  # the refused ones took no number
    assert money(api.invoice(invoice)) == ("partially_paid", "410.00", "0.00", "170.00", "240.00")


def test_a_credit_note_never_exceeds_the_invoices_balance(api: Api, ctx: Context, billed: Ids) -> None:
    invoice, desk = billed["invoice"], billed["desk_line"]
    api.pay(invoice, "300.00")
    api.refused(f"/invoices/{invoice}/credit-notes", {"amount": "110.01", "reason": "x", "date": "2026-12-02"}, 422,
                "amount", "the credit of 110.01 GBP is more than the 110.00 GBP due on invoice LB-0001")  # fmt: skip
    # The desk line alone has 360.00 to credit, but the invoice only 110.00 left to settle.
    api.refused(f"/invoices/{invoice}/credit-notes", {"lines": [{"line_id": desk, "amount": "110.01"}],
                "reason": "x", "date": "2026-12-02"}, 422, "lines", "more than the 110.00 GBP due")  # fmt: skip
    assert count(ctx, CreditNoteRow) == 0

    note = api.credit(invoice, amount="110.00")
    assert note["total"] == "110.00"
    assert money(api.invoice(invoice)) == ("paid", "410.00", "300.00", "110.00", "0.00")
    api.refused(f"/invoices/{invoice}/credit-notes", {"amount": "0.01", "reason": "x", "date": "2026-12-02"}, 409,
                None, "invoice LB-0001 is paid; only an issued invoice with a balance can be credited")  # fmt: skip


def test_the_credit_notes_list_shows_every_note_and_filters_by_invoice(api: Api, space: Ids, billed: Ids) -> None:
    bolt = api.customer("Bolt plc", space["LB"])
    api.membership(space, bolt, space["LB"], "2027-01-01")
    january = {inv["customer_id"]: inv["id"] for inv in api.bill_run("2027-01-01")["invoices"]}
    notes = [
        api.credit(billed["invoice"], amount="5.00"),
        api.credit(january[bolt], amount="6.00"),
        api.credit(billed["invoice"], lines=[{"line_id": billed["room_line"], "amount": "7.00"}]),
    ]
    listed = api.get("/credit-notes")
    assert listed["next_cursor"] is None
    assert listed["items"] == notes
    assert [note["number"] for note in notes] == ["CN-00001", "CN-00002", "CN-00003"]

    for_acme = api.get("/credit-notes", invoice_id=billed["invoice"])["items"]
    assert [note["total"] for note in for_acme] == ["5.00", "7.00"]
    assert api.get(f"/credit-notes/{notes[1]['id']}") == notes[1]

    first_page = api.get("/credit-notes", limit=2)
    second_page = api.get("/credit-notes", limit=2, cursor=first_page["next_cursor"])
    assert first_page["items"] + second_page["items"] == notes
    assert second_page["next_cursor"] is None


# --- the overdue flag ---------------------------------------------------------------------------------------------


def test_an_open_invoice_is_overdue_from_the_day_after_its_due_date_until_it_is_settled(api: Api, space: Ids) -> None:
    acme, cafe = api.customer("Acme Ltd", space["LB"]), api.customer("Cafe SARL", space["PA"])
    api.membership(space, acme, space["LB"], "2026-11-01")
    api.membership(space, cafe, space["PA"], "2026-11-01")

    api.patch("/settings/billing", {"due_days": 24})
    (late,) = api.bill_run("2026-11-01", space["LB"])["invoices"]
    api.patch("/settings/billing", {"due_days": 25})
    (due_today,) = api.bill_run("2026-11-01", space["PA"])["invoices"]
    assert (late["due_date"], late["overdue"]) == ("2026-11-25", True)  # today is 26 Nov 2026
    assert (due_today["due_date"], due_today["overdue"]) == ("2026-11-26", False)

    assert [inv["id"] for inv in api.invoices(overdue=True)] == [late["id"]]
    assert [inv["id"] for inv in api.invoices(overdue=False)] == [due_today["id"]]

    api.pay(late["id"], "100.00", day="2026-11-26")
    assert (api.invoice(late["id"])["status"], api.invoice(late["id"])["overdue"]) == ("partially_paid", True)
    api.pay(late["id"], "260.00", day="2026-11-26")
    assert (api.invoice(late["id"])["status"], api.invoice(late["id"])["overdue"]) == ("paid", False)
    assert api.invoices(overdue=True) == []

    # A draft long past its due date is not overdue (it asks for nothing yet), nor is a voided invoice.
    api.patch("/settings/billing", {"issue_mode": "draft", "due_days": 0})
    bolt = api.customer("Bolt plc", space["LB"])
    api.membership(space, bolt, space["LB"], "2026-11-01")
    (draft,) = api.bill_run("2026-11-01", space["LB"])["invoices"]
    assert (draft["status"], draft["due_date"], draft["overdue"]) == ("draft", "2026-11-01", False)
    issued = api.post(f"/invoices/{draft['id']}/issue", expect=200)
    assert (issued["status"], issued["overdue"]) == ("awaiting_payment", True)
    voided = api.post(f"/invoices/{draft['id']}/void", expect=200)
    assert (voided["status"], voided["overdue"]) == ("voided", False)


# --- numbering ----------------------------------------------------------------------------------------------------


def test_invoice_numbers_are_unique_and_gap_free_per_location(api: Api, space: Ids) -> None:
    for name, location in (("Acme Ltd", "LB"), ("Bolt plc", "LB"), ("Cafe SARL", "PA"), ("Dune plc", "LB"),
                           ("Etoile SA", "PA")):  # fmt: skip
        api.membership(space, api.customer(name, space[location]), space[location], "2026-12-01")

    december = api.bill_run("2026-12-01")["invoices"]
    assert sorted(inv["number"] for inv in december) == ["LB-0001", "LB-0002", "LB-0003", "PA-0001", "PA-0002"]
    # Paris alone first, then every location: London Bridge carries on from its own sequence.
    paris = api.bill_run("2027-01-01", space["PA"])["invoices"]
    assert sorted(inv["number"] for inv in paris) == ["PA-0003", "PA-0004"]
    rest = api.bill_run("2027-01-01")["invoices"]
    assert sorted(inv["number"] for inv in rest) == ["LB-0004", "LB-0005", "LB-0006"]

    for code, count_ in (("LB", 6), ("PA", 4)):
        numbers = [inv["number"] for inv in api.invoices(location_id=space[code])]
        assert sorted(numbers) == [f"{code}-{n:04}" for n in range(1, count_ + 1)]
        assert {inv["currency"] for inv in api.invoices(location_id=space[code])} == {"LB": {"GBP"}, "PA": {"EUR"}}[
            code
        ]

    # Credit notes are numbered per location too.
    lb_invoice = next(inv["id"] for inv in december if inv["number"] == "LB-0002")
    pa_invoice = next(inv["id"] for inv in december if inv["number"] == "PA-0001")
    assert api.credit(lb_invoice, amount="1.00")["number"] == "CN-00001"
    assert api.credit(pa_invoice, amount="1.00")["number"] == "CN-00001"
    assert api.credit(lb_invoice, amount="1.00")["number"] == "CN-00002"


# --- listing ------------------------------------------------------------------------------------------------------


def test_cursor_pagination_with_limit_2_walks_every_invoice_exactly_once(api: Api, space: Ids) -> None:
    for name in ("Acme Ltd", "Bolt plc", "Cafe Co", "Dune plc", "Etoile Ltd"):
        api.membership(space, api.customer(name, space["LB"]), space["LB"], "2026-12-01")
    assert api.bill_run("2026-12-01")["invoice_count"] == 5
    everything = api.invoices()
    assert len(everything) == 5

    seen: list[str] = []
    sizes: list[int] = []
    cursor = None
    while True:
        page = api.get("/invoices", limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [inv["id"] for inv in page["items"]]
        sizes.append(len(page["items"]))
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(sizes) < 10, "the cursor does not advance"
    assert sizes == [2, 2, 1]
    assert seen == [inv["id"] for inv in everything]
    assert len(set(seen)) == 5

    # A limit that divides the list exactly ends without an empty page.
    whole = api.get("/invoices", limit=5)
    assert (len(whole["items"]), whole["next_cursor"]) == (5, None)


def test_invoices_filter_by_status_customer_location_and_bill_run(api: Api, space: Ids) -> None:
    acme, bolt = api.customer("Acme Ltd", space["LB"]), api.customer("Bolt plc", space["LB"])
    cafe = api.customer("Cafe SARL", space["PA"])
    for customer, location in ((acme, "LB"), (bolt, "LB"), (cafe, "PA")):
        api.membership(space, customer, space[location], "2026-12-01")
    first_run = api.bill_run("2026-12-01")
    first = {inv["customer_id"]: inv["id"] for inv in first_run["invoices"]}
    api.pay(first[acme], "360.00")
    api.post(f"/invoices/{first[bolt]}/void", expect=200)
    api.pay(first[cafe], "60.00")
    second_run = api.bill_run("2026-12-01")
    (bolt_again,) = (inv["id"] for inv in second_run["invoices"])

    def ids(**filters: Any) -> set[str]:
        return {inv["id"] for inv in api.invoices(**filters)}

    assert ids(status="paid") == {first[acme]}
    assert ids(status="voided") == {first[bolt]}
    assert ids(status="awaiting_payment") == {bolt_again}
    assert ids(status="partially_paid") == {first[cafe]}
    assert ids(status="draft") == set()
    assert ids(customer_id=bolt) == {first[bolt], bolt_again}
    assert ids(location_id=space["PA"]) == {first[cafe]}
    assert ids(location_id=space["LB"]) == {first[acme], first[bolt], bolt_again}
    assert ids(bill_run_id=first_run["id"]) == set(first.values())
    assert ids(bill_run_id=second_run["id"]) == {bolt_again}
    assert ids(location_id=space["LB"], status="voided") == {first[bolt]}
    assert ids(customer_id=cafe, location_id=space["LB"]) == set()
    assert api.get(f"/bill-runs/{second_run['id']}")["invoices"] == [api.invoice(bolt_again)]


# --- the CSV export -----------------------------------------------------------------------------------------------

COLUMNS = [
    "invoice_number", "invoice_id", "status", "issue_date", "due_date", "currency", "location_code",
    "contact_name", "contact_email", "contact_tax_number", "line_number", "description", "quantity", "unit_price",
    "discount_amount", "net_amount", "tax_amount", "gross_amount", "account_code", "tax_rate_code", "tax_rate",
    "period_start", "period_end", "invoice_subtotal", "invoice_tax_total", "invoice_total", "invoice_amount_due",
]  # fmt: skip


def export(api: Api, **filters: str) -> list[dict[str, str]]:
    response = api.client.get(f"{API}/exports/invoices.csv", params=filters)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    reader = csv.reader(io.StringIO(response.text))
    header = next(reader)
    assert header == COLUMNS
    return [dict(zip(header, row, strict=True)) for row in reader]


def test_the_csv_export_has_one_row_per_line_and_filters_by_date_location_and_status(api: Api, space: Ids) -> None:
    acme, cafe = api.customer("Acme Ltd", space["LB"]), api.customer("Cafe SARL", space["PA"])
    api.membership(space, acme, space["LB"], "2026-11-01")
    api.fee(space, acme, "2026-11-20", quantity="2", unit_price="25.00")
    api.membership(space, cafe, space["PA"], "2026-12-01")
    november = api.bill_run("2026-11-01")["invoices"]  # LB-0001: November
    december = api.bill_run("2026-12-01")["invoices"]  # LB-0002: December and the fee; PA-0001: December
    assert sorted(inv["number"] for inv in november + december) == ["LB-0001", "LB-0002", "PA-0001"]
    api.patch("/settings/billing", {"issue_mode": "draft"})
    assert len(api.bill_run("2027-01-01")["invoices"]) == 2  # two January drafts, left out by default

    rows = export(api)
    assert [(row["invoice_number"], row["line_number"], row["description"]) for row in rows] == [
        ("LB-0001", "1", "Hot desk, 1-30 Nov 2026"),
        ("LB-0002", "1", "Hot desk, 1-31 Dec 2026"),
        ("LB-0002", "2", "Meeting room"),
        ("PA-0001", "1", "Hot desk, 1-31 Dec 2026"),
    ]
    room = rows[2]
    assert {k: room[k] for k in COLUMNS if k not in ("invoice_id",)} == {
        "invoice_number": "LB-0002", "status": "awaiting_payment", "issue_date": "2026-12-01",
        "due_date": "2026-12-15", "currency": "GBP", "location_code": "LB", "contact_name": "Acme Ltd",
        "contact_email": "billing@acme.test", "contact_tax_number": "", "line_number": "2",
        "description": "Meeting room", "quantity": "2", "unit_price": "25.00", "discount_amount": "0.00",
        "net_amount": "50.00", "tax_amount": "10.00", "gross_amount": "60.00", "account_code": "200",
        "tax_rate_code": "VAT20", "tax_rate": "20", "period_start": "2026-11-20", "period_end": "2026-11-20",
        "invoice_subtotal": "350.00", "invoice_tax_total": "70.00", "invoice_total": "420.00",
        "invoice_amount_due": "420.00",
    }  # fmt: skip
    assert rows[3]["currency"] == "EUR"

    def numbers(**filters: str) -> list[str]:
        return [row["invoice_number"] for row in export(api, **filters)]

    assert numbers(**{"from": "2026-12-01"}) == ["LB-0002", "LB-0002", "PA-0001"]
    assert numbers(to="2026-11-30") == ["LB-0001"]
    assert numbers(**{"from": "2026-11-02", "to": "2026-12-01"}) == ["LB-0002", "LB-0002", "PA-0001"]
    assert numbers(**{"from": "2026-12-02"}) == []
    assert numbers(location_id=space["PA"]) == ["PA-0001"]
    drafts = export(api, status="draft")
    assert [(row["invoice_number"], row["status"], row["issue_date"]) for row in drafts] == [
        ("", "draft", "2027-01-01"), ("", "draft", "2027-01-01"),
    ]  # fmt: skip

    lb_0001 = next(inv["id"] for inv in november)
    api.pay(lb_0001, "360.00", day="2026-11-26")
    assert numbers(status="paid") == ["LB-0001"]
    assert export(api, status="paid")[0]["invoice_amount_due"] == "0.00"
    assert numbers(status="awaiting_payment", location_id=space["LB"]) == ["LB-0002", "LB-0002"]


def test_overdue_turns_at_midnight_where_the_location_is(ctx: Context, client: TestClient) -> None:
    """An invoice due 25 Nov 2026 at a Sydney location (UTC+11 in November): at 14:00 UTC on the 25th it is already
    01:00 on the 26th in Sydney, so it is overdue there though the 25th is not over in UTC; at 12:00 UTC it is
    23:00 on the 25th in Sydney, and it is not."""
    from datetime import UTC, datetime

    from flexbill.clock import FixedClock

    sydney = client.post(
        "/api/v1/locations",
        json={"name": "Sydney", "code": "SYD", "currency": "AUD", "timezone": "Australia/Sydney"},
    ).json()
    vat = client.post(
        "/api/v1/tax-rates", json={"name": "GST", "code": "GST10", "components": [{"name": "GST", "rate": "10"}]}
    ).json()
    account = client.post("/api/v1/revenue-accounts", json={"name": "Desks", "code": "200", "tax_rate_id": vat["id"]})
    customer = client.post(
        "/api/v1/customers", json={"name": "Roo Pty", "email": "a@roo.test", "home_location_id": sydney["id"]}
    ).json()
    client.post(
        "/api/v1/fees",
        json={"customer_id": customer["id"], "location_id": sydney["id"], "date": "2026-10-20",
              "description": "Day pass", "unit_price": "30.00", "revenue_account_id": account.json()["id"]},
    )  # fmt: skip
    client.patch("/api/v1/settings/billing", json={"due_days": 24})
    invoice = client.post("/api/v1/bill-runs", json={"date": "2026-11-01"}).json()["invoices"][0]
    assert invoice["due_date"] == "2026-11-25"
    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.instant = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    assert client.get(f"/api/v1/invoices/{invoice['id']}").json()["overdue"] is True
    assert [i["id"] for i in client.get("/api/v1/invoices?overdue=true").json()["items"]] == [invoice["id"]]
    ctx.clock.instant = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert client.get(f"/api/v1/invoices/{invoice['id']}").json()["overdue"] is False
    assert [i["id"] for i in client.get("/api/v1/invoices?overdue=false").json()["items"]] == [invoice["id"]]
