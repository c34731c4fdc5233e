"""The console's bill run and invoices, used as an operator uses them: preview and run the bill run, review the
list, issue drafts in bulk, record a payment, make a credit note, void, and be refused what the role or the
rules forbid, with nothing changed.

The test clock stands at 26 Nov 2026; the plan costs 300.00 a month plus 20% VAT.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal

from sqlalchemy import func, select

from flexbill.access.model import Role
from flexbill.access.store import AuditRow
from flexbill.billing.service import BillingRulesChanges, update_billing_rules
from flexbill.bootstrap import Context
from flexbill.customers import service as customers
from flexbill.invoicing.store import InvoiceRow, PaymentRow
from tests.support import Catalog, make_customer
from tests.web import signed_in_staff, submit, text_of


def _member(ctx: Context, cat: Catalog, name: str) -> uuid.UUID:
    with ctx.sessions() as db, db.begin():
        customer_id = make_customer(db, cat, name)
        customers.create_membership(
            db,
            customers.NewMembership(
                customer_id=customer_id, plan_id=cat.hot_desk_id, location_id=cat.location_id,
                start_date=dt.date(2026, 12, 1),
            ),
        )  # fmt: skip
    return customer_id


def _drafts_mode(ctx: Context) -> None:
    with ctx.sessions() as db, db.begin():
        update_billing_rules(db, BillingRulesChanges(issue_mode="draft"))  # type: ignore[arg-type]


def _invoices(ctx: Context) -> list[InvoiceRow]:
    with ctx.readers() as db:
        return list(db.scalars(select(InvoiceRow).order_by(InvoiceRow.bill_to_name)))


def _audit_count(ctx: Context) -> int:
    with ctx.readers() as db:
        return db.scalar(select(func.count()).select_from(AuditRow)) or 0


def test_an_operator_previews_runs_and_issues_the_month(ctx: Context, cat: Catalog) -> None:
    _member(ctx, cat, "Acme Ltd")
    _member(ctx, cat, "Birch Studio")
    _drafts_mode(ctx)
    browser = signed_in_staff(ctx, Role.BILLING)

    dashboard = text_of(browser.get("/admin").text)
    assert "Next bill run · 01 Dec 2026" in dashboard
    assert "LON space 2 £720.00" in dashboard  # two months of 300.00 + 20% VAT

    preview = text_of(browser.get("/admin/bill-run?date=2026-12-01").text)
    assert "2 invoices · £720.00 · they will be drafts to review" in preview
    assert _invoices(ctx) == []  # a preview writes nothing

    ran = submit(browser, "/admin/bill-run?date=2026-12-01", "/admin/bill-run", {"date": "2026-12-01"})
    assert ran.status_code == 303
    result = browser.get(ran.headers["location"])
    assert "Bill run done: 2 invoices made." in text_of(result.text)
    assert "2 drafts to review and issue" in text_of(result.text)
    drafts = _invoices(ctx)
    assert [row.status for row in drafts] == ["draft", "draft"]

    again = submit(browser, "/admin/bill-run?date=2026-12-01", "/admin/bill-run", {"date": "2026-12-01"})
    assert "0 invoices made" in text_of(browser.get(again.headers["location"]).text)

    listed = browser.get("/admin/invoices?status=draft").text
    assert set(re.findall(r'name="invoice_ids" value="([0-9a-f-]+)"', listed)) == {str(row.id) for row in drafts}
    issued = submit(
        browser,
        "/admin/invoices?status=draft",
        "/admin/invoices/bulk",
        {"action": "issue", "invoice_ids": [str(row.id) for row in drafts], "back": "/admin/invoices?status=draft"},
    )
    assert issued.status_code == 303
    assert "2 invoices issued." in text_of(browser.get(issued.headers["location"]).text)
    assert [(row.status, row.number) for row in _invoices(ctx)] == [
        ("awaiting_payment", "LON-0001"),
        ("awaiting_payment", "LON-0002"),
    ]
    with ctx.readers() as db:
        actions = set(db.scalars(select(AuditRow.action).where(AuditRow.actor_label == "billing@example.com")))
    assert {"bill_runs.run", "invoices.update", "user.sign_in"} <= actions


def test_an_operator_records_a_payment_credits_and_voids(ctx: Context, cat: Catalog) -> None:
    _member(ctx, cat, "Acme Ltd")
    browser = signed_in_staff(ctx, Role.BILLING)
    submit(browser, "/admin/bill-run", "/admin/bill-run", {"date": "2026-12-01"})
    (invoice,) = _invoices(ctx)
    page = f"/admin/invoices/{invoice.id}"
    shown = text_of(browser.get(page).text)
    assert "Invoice LON-0001" in shown
    assert "Due now £360.00" in shown

    paid = submit(browser, page, f"{page}/payments", {"date": "2026-12-02", "amount": "100.00", "reference": "BACS 1"})
    assert paid.status_code == 303
    assert "Payment recorded." in text_of(browser.get(page).text)
    with ctx.readers() as db:
        payment = db.scalars(select(PaymentRow).where(PaymentRow.invoice_id == invoice.id)).one()
    assert (payment.amount, payment.method, payment.reference) == (Decimal("100.0000"), "bank_transfer", "BACS 1")

    too_much = submit(browser, page, f"{page}/credit-notes", {"amount": "500.00", "reason": "Goodwill"})
    assert too_much.status_code == 422
    assert "Nothing was changed" in text_of(too_much.text)
    assert 'value="500.00"' in too_much.text  # what was typed is kept
    credited = submit(browser, page, f"{page}/credit-notes", {"amount": "60.00", "reason": "Goodwill"})
    assert credited.status_code == 303
    after = text_of(browser.get(page).text)
    assert "Credit note made." in after
    assert "Due now £200.00" in after
    assert "Goodwill" in after

    not_voidable = submit(browser, page, f"{page}/void", {})
    assert not_voidable.status_code == 409  # partly paid: void is refused, the page says why
    assert _invoices(ctx)[0].status == "partially_paid"


def test_a_bad_payment_is_refused_with_its_field_and_changes_nothing(ctx: Context, cat: Catalog) -> None:
    _member(ctx, cat, "Acme Ltd")
    browser = signed_in_staff(ctx)
    submit(browser, "/admin/bill-run", "/admin/bill-run", {"date": "2026-12-01"})
    (invoice,) = _invoices(ctx)
    page = f"/admin/invoices/{invoice.id}"
    refused = submit(browser, page, f"{page}/payments", {"date": "2026-12-02", "amount": "-5"})
    assert refused.status_code == 422
    assert 'id="amount-error"' in refused.text
    refused = submit(browser, page, f"{page}/payments", {"date": "not a date", "amount": "5"})
    assert refused.status_code == 422
    assert "is not a date" in text_of(refused.text)
    with ctx.readers() as db:
        assert db.scalar(select(func.count()).select_from(PaymentRow)) == 0


def test_the_list_filters_and_pages(ctx: Context, cat: Catalog) -> None:
    for name in ("Acme Ltd", "Birch Studio", "Cedar Works"):
        _member(ctx, cat, name)
    browser = signed_in_staff(ctx, Role.READ_ONLY)
    from flexbill.billing.service import run_bill_run

    run_bill_run(ctx.sessions, ctx.clock, dt.date(2026, 12, 1))
    listed = text_of(browser.get("/admin/invoices?q=birch").text)
    assert "Birch Studio" in listed
    assert "Acme Ltd" not in listed
    assert "Sync selected" not in listed  # a read-only user is not offered what they may not do
    everything = browser.get("/admin/invoices").text
    assert len(re.findall(r'name="invoice_ids"', everything)) == 3
    assert "Not synced" in text_of(everything)
    assert "No invoice matches." in text_of(browser.get("/admin/invoices?status=paid").text)
    assert "No invoice matches." in text_of(browser.get("/admin/invoices?attention=overdue").text)


def test_a_read_only_user_is_refused_every_change(ctx: Context, cat: Catalog) -> None:
    _member(ctx, cat, "Acme Ltd")
    browser = signed_in_staff(ctx, Role.READ_ONLY)
    before = _audit_count(ctx)
    refused = submit(browser, "/admin/bill-run", "/admin/bill-run", {"date": "2026-12-01"})
    assert refused.status_code == 403
    assert "does not allow" in text_of(refused.text)
    assert _invoices(ctx) == []
    assert _audit_count(ctx) == before
