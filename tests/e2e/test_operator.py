"""A bookkeeper's month in the staff console, in a browser: sign in, check the dashboard, preview and run the bill
run, issue the drafts, record a bank transfer, send the invoices to Xero and export them as CSV."""

from __future__ import annotations

import csv
import io
import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from flexbill.billing import service as billing
from tests.e2e.conftest import PASSWORD, Flexbill, reload_until, screenshot

pytestmark = pytest.mark.e2e


def sign_in(page: Page, email: str) -> None:
    page.goto("/admin")
    expect(page).to_have_url(re.compile(r"/admin/sign-in\?next=/admin$"))
    expect(page.get_by_role("heading", name="Sign in to flexbill")).to_be_visible()
    screenshot(page, "admin-sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_a_wrong_password_is_refused_on_the_page_and_opens_nothing(page: Page, flexbill: Flexbill) -> None:
    email = flexbill.staff()
    page.goto("/admin/invoices")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("The email address or the password is not right.")
    expect(page.get_by_label("Email")).to_have_value(email)  # what was typed is kept
    page.goto("/admin/invoices")
    expect(page).to_have_url(re.compile(r"/admin/sign-in"))


def test_the_month_from_the_bill_run_to_the_books(page: Page, flexbill: Flexbill) -> None:
    cat = flexbill.catalog()
    flexbill.member(cat, "Acme Ltd")
    flexbill.member(cat, "Bolt Ltd")
    flexbill.connect_xero(cat)
    sign_in(page, flexbill.staff())

    # First the rules: bill runs make drafts to check, and invoices go to Xero when someone says so.
    rules = page.get_by_role("region", name="How flexbill runs your month")
    expect(rules).to_contain_text("sync to accounting: Off")
    rules.get_by_role("link", name="Change").click()
    expect(page.get_by_role("heading", name="Billing rules")).to_be_visible()
    page.get_by_label("New invoices").select_option(label="Kept as drafts for someone to check and issue")
    page.get_by_label("Manual: you pick invoices to sync from the invoice list").check()
    screenshot(page, "admin-settings-billing")
    page.get_by_role("button", name="Save the billing rules").click()
    expect(page.get_by_role("status")).to_have_text("The billing rules are saved.")
    with flexbill.ctx.readers() as db:
        saved = billing.get_billing_rules(db)
    assert (saved.issue_mode.value, saved.accounting_sync.value) == ("draft", "manual")

    # The dashboard: what today's bill run (1 December) will make. A hot desk is £300.00 + 20% VAT.
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Dashboard").click()
    expect(rules).to_contain_text("sync to accounting: Manual")
    next_run = page.get_by_role("region", name=re.compile("Next bill run"))
    expect(next_run.get_by_role("heading")).to_have_text("Next bill run · 01 Dec 2026")
    expect(next_run.get_by_role("row", name="LON space")).to_contain_text(re.compile(r"2\s+£720\.00"))
    screenshot(page, "admin-dashboard")

    # Preview, then run.
    next_run.get_by_role("link", name="Preview and run").click()
    expect(page.get_by_role("heading", name="Bill run", exact=True)).to_be_visible()
    expect(page.get_by_label("Billing day")).to_have_value("2026-12-01")
    expect(page.get_by_text("they will be drafts to review")).to_contain_text("2 invoices · £720.00")
    expect(page.get_by_role("row", name=re.compile("Acme Ltd"))).to_contain_text("£360.00")
    expect(page.get_by_role("row", name=re.compile("Bolt Ltd"))).to_contain_text("£360.00")
    screenshot(page, "admin-bill-run-preview")
    page.get_by_role("button", name="Run the bill run").click()
    expect(page.get_by_role("status")).to_have_text("Bill run done: 2 invoices made.")
    expect(page.get_by_role("heading", name="Bill run of 01 Dec 2026")).to_be_visible()
    screenshot(page, "admin-bill-run-result")
    drafts = flexbill.api.get("/api/v1/invoices", params={"status": "draft"}).json()["items"]
    assert sorted(invoice["bill_to"]["name"] for invoice in drafts) == ["Acme Ltd", "Bolt Ltd"]

    # Issue both drafts from the invoice list. The location keeps its books in Xero, which numbers its invoices:
    # they are numbered when they reach it.
    page.get_by_role("link", name="2 drafts to review and issue").click()
    expect(page.get_by_label("Status")).to_have_value("draft")
    row_of = {name: page.get_by_role("row", name=re.compile(name)) for name in ("Acme Ltd", "Bolt Ltd")}
    for row in row_of.values():
        row.get_by_role("checkbox").check()
    screenshot(page, "admin-invoices-drafts")
    page.get_by_role("button", name="Issue selected drafts").click()
    expect(page.get_by_role("status")).to_have_text("2 invoices issued.")
    expect(page.get_by_text("No invoice matches.")).to_be_visible()  # no draft is left
    ids = {invoice["bill_to"]["name"]: invoice["id"] for invoice in drafts}
    assert {name: flexbill.invoice(i)["status"] for name, i in ids.items()} == {
        "Acme Ltd": "awaiting_payment",
        "Bolt Ltd": "awaiting_payment",
    }

    # Send both to Xero (sync is manual): tick them, sync, and see the worker's work on the next loads.
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Invoices").click()
    for row in row_of.values():
        expect(row).to_contain_text("Awaiting payment")
        expect(row).to_contain_text("Not synced")
        row.get_by_role("checkbox").check()
    page.get_by_role("button", name="Sync selected").click()
    expect(page.get_by_role("status")).to_have_text("2 invoices queued to sync.")
    for row in row_of.values():
        reload_until(page, row.get_by_text("Synced", exact=True))
    screenshot(page, "admin-invoices-synced")
    synced = {name: flexbill.invoice(i) for name, i in ids.items()}
    numbers = {name: invoice["number"] for name, invoice in synced.items()}
    assert sorted(numbers.values()) == ["INV-0001", "INV-0002"]  # Xero's numbers, in the order it took them
    for invoice in synced.values():
        assert (invoice["accounting"]["number"], invoice["accounting"]["remote_status"]) == (
            invoice["number"],
            "AUTHORISED",
        )
    in_xero = httpx.get(f"{flexbill.sandbox.xero_url}/_sandbox/state").json()["counts"]
    assert (in_xero["contacts"], in_xero["invoices_by_status"]) == (2, {"AUTHORISED": 2})
    for name, row in row_of.items():
        expect(row.get_by_role("link", name=numbers[name])).to_be_visible()

    # Acme pays by bank transfer: record it on the invoice's page.
    row_of["Acme Ltd"].get_by_role("link", name=numbers["Acme Ltd"]).click()
    heading = page.get_by_role("heading", name=re.compile(f"Invoice {numbers['Acme Ltd']}"))
    expect(heading).to_contain_text("Awaiting payment")
    expect(page.get_by_label("Amount (GBP)")).to_have_value("360.00")  # the balance, ready to confirm
    expect(page.get_by_label("Date received")).to_have_value("2026-12-01")  # today
    page.get_by_label("Date received").fill("2026-11-30")  # a slip: before the invoice was issued
    page.get_by_label("Method").select_option(label="Bank transfer")
    page.get_by_label("Reference").fill("ACME DEC BACS")
    page.get_by_role("button", name="Record payment").click()
    expect(page.get_by_role("alert")).to_have_text(
        f"Nothing was changed: 2026-11-30 is before invoice {numbers['Acme Ltd']}'s issue date 2026-12-01"
    )
    expect(page.get_by_label("Reference")).to_have_value("ACME DEC BACS")  # what was typed is kept
    assert flexbill.invoice(ids["Acme Ltd"])["payments"] == []
    page.get_by_label("Date received").fill("2026-12-01")
    page.get_by_role("button", name="Record payment").click()
    expect(page.get_by_role("status")).to_have_text("Payment recorded.")
    expect(heading).to_contain_text("Paid")
    expect(page.get_by_role("row", name=re.compile("ACME DEC BACS"))).to_contain_text("£360.00")
    screenshot(page, "admin-invoice-paid")
    acme = flexbill.invoice(ids["Acme Ltd"])
    assert acme["status"] == "paid"
    assert [(p["date"], p["amount"], p["method"], p["reference"]) for p in acme["payments"]] == [
        ("2026-12-01", "360.00", "bank_transfer", "ACME DEC BACS")
    ]

    # The month's paid invoices as CSV, for the records: a download.
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Exports").click()
    expect(page.get_by_role("heading", name="Exports")).to_be_visible()
    page.get_by_label("Issued from").fill("2026-12-01")
    page.get_by_label("Issued up to and including").fill("2026-12-31")
    page.get_by_label("Which invoices").select_option(label="Paid")
    expect(page.get_by_label("flexbill's own")).to_be_checked()
    screenshot(page, "admin-exports")
    with page.expect_download() as downloading:
        page.get_by_role("button", name="Download").click()
    download = downloading.value
    assert download.suggested_filename == "invoices-from-2026-12-01-to-2026-12-31-paid.csv"
    rows = list(csv.DictReader(io.StringIO(download.path().read_text(encoding="utf-8-sig"))))
    assert [(r["invoice_number"], r["status"], r["contact_name"], r["invoice_total"]) for r in rows] == [
        (numbers["Acme Ltd"], "paid", "Acme Ltd", "360.00")
    ]
