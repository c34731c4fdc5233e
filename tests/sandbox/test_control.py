"""Changes a user makes in Xero, the state benchmarks read, reset and sandbox time."""

from __future__ import annotations

from decimal import Decimal

from flexbill.sandbox.xero import XeroSandbox
from tests.sandbox.support import Xero, dec, line


def test_a_user_pays_part_then_all_of_an_invoice(xero: Xero) -> None:
    contact_id = xero.contact()["ContactID"]
    invoice = xero.invoice(contact_id, line(amount="100.00"))
    paying = {"amount": "20.00", "date": "2026-11-10", "account_code": "091", "reference": "Stripe"}
    part = xero.control("POST", f"invoices/{invoice['InvoiceID']}/pay", paying)
    assert part.status_code == 200
    payment = part.json()
    assert (payment["Amount"], payment["Account"]["Code"], payment["Reference"]) == (20, "091", "Stripe")
    rest = xero.control("POST", "invoices/INV-0001/pay", {"reconciled": True}).json()
    assert dec(rest["Amount"]) == Decimal("100.00")
    assert rest["IsReconciled"] is True
    paid = xero.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert paid["Status"] == "PAID"
    assert len(paid["Payments"]) == 2
    refused = xero.control("POST", "invoices/INV-0001/pay", {"amount": "1.00"})
    assert refused.status_code == 409
    assert refused.json()["messages"] == ["Payments can only be made against Authorised documents"]
    assert xero.control("POST", "invoices/INV-0404/pay").status_code == 404
    assert xero.control("POST", "invoices/INV-0001/pay", {"account_code": "200"}).status_code == 409


def test_a_user_voids_an_invoice_and_removes_payments(xero: Xero) -> None:
    contact_id = xero.contact()["ContactID"]
    invoice = xero.invoice(contact_id)
    payment = xero.control("POST", f"invoices/{invoice['InvoiceID']}/pay", {"reconciled": True}).json()
    assert xero.control("POST", f"invoices/{invoice['InvoiceID']}/void").status_code == 409
    removed = xero.control("POST", f"payments/{payment['PaymentID']}/delete")
    assert removed.status_code == 200
    assert removed.json()["Status"] == "DELETED"
    voided = xero.control("POST", "invoices/INV-0001/void").json()
    assert voided["Status"] == "VOIDED"
    assert xero.get("Invoices/INV-0001").json()["Invoices"][0]["Status"] == "VOIDED"
    assert xero.control("POST", f"payments/{payment['PaymentID']}/delete").status_code == 409
    assert xero.control("POST", "payments/nope/delete").status_code == 404


def test_a_user_edits_a_contact(xero: Xero) -> None:
    contact = xero.contact("Acme Ltd", ContactNumber="C-1")
    edited = xero.control("POST", "contacts/C-1", {"Name": "Acme Holdings Ltd", "EmailAddress": "ap@acme.example"})
    assert edited.status_code == 200
    fetched = xero.get(f"Contacts/{contact['ContactID']}").json()["Contacts"][0]
    assert (fetched["Name"], fetched["EmailAddress"]) == ("Acme Holdings Ltd", "ap@acme.example")
    assert fetched["UpdatedDateUTC"] == contact["UpdatedDateUTC"]  # the stopped clock did not move
    assert xero.control("POST", "contacts/C-1", {"EmailAddress": "bad"}).status_code == 409
    assert xero.control("POST", "contacts/C-9", {"Name": "x"}).status_code == 404


def test_state_counts_and_reset(xero: Xero, sandbox: XeroSandbox) -> None:
    contact_id = xero.contact()["ContactID"]
    invoice = xero.invoice(contact_id)
    xero.credit_note(contact_id)
    xero.control("POST", f"invoices/{invoice['InvoiceID']}/pay", {"amount": "10.00"})
    state = xero.control("GET", "state").json()
    assert state["counts"] == {
        "contacts": 1,
        "invoices": 1,
        "credit_notes": 1,
        "payments": 1,
        "payments_deleted": 0,
        "allocations": 0,
        "invoices_by_status": {"AUTHORISED": 1},
    }
    assert state["calls"]["by_endpoint"] == {
        "PUT /api.xro/2.0/Contacts": 1,
        "PUT /api.xro/2.0/Invoices": 1,
        "PUT /api.xro/2.0/CreditNotes": 1,
    }
    assert state["calls"]["total"] == 3
    assert state["calls"]["throttled"] == 0
    assert state["tenant_name"] == "Demo Coworking Ltd"
    assert state["now"] == "2026-11-02T09:30:00.000"
    after = xero.control("POST", "reset").json()
    assert after["counts"]["invoices"] == 0
    assert after["calls"]["total"] == 0
    assert after["tenant_id"] == sandbox.tenant_id
    assert xero.invoice(xero.contact()["ContactID"])["InvoiceNumber"] == "INV-0001"  # numbering starts again
    xero.control("POST", "reset", {"tokens": True})
    assert xero.get("Organisation").status_code == 401


def test_sandbox_time_can_be_sped_up_moved_and_stopped(xero: Xero) -> None:
    assert xero.control("GET", "time").json() == {
        "now": "2026-11-02T09:30:00+00:00",
        "time_scale": 1.0,
        "running": False,
    }
    moved = xero.control("PUT", "time", {"advance_seconds": 3600, "time_scale": 60}).json()
    assert moved == {"now": "2026-11-02T10:30:00+00:00", "time_scale": 60.0, "running": False}
    set_to = xero.control("PUT", "time", {"now": "2026-12-01T00:00:00Z"}).json()
    assert set_to["now"] == "2026-12-01T00:00:00+00:00"
    assert xero.control("PUT", "time", {"time_scale": 0}).status_code == 422
    draft = xero.put("Invoices", {"Invoices": [{"Type": "ACCREC", "Contact": {"Name": "Acme"}, "LineItems": [line()]}]})
    assert draft.json()["Invoices"][0]["DateString"] == "2026-12-01T00:00:00"  # today in London, sandbox time


def test_control_endpoints_are_not_counted_limited_or_faulted(xero: Xero) -> None:
    xero.control("PUT", "limits", {"per_minute": 1})
    xero.control("POST", "faults", {"kind": "server_error", "count": None})
    for _ in range(3):
        assert xero.control("GET", "state").status_code == 200
    assert xero.control("GET", "state").json()["calls"]["total"] == 0
