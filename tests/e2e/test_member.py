"""A member in the portal, in a browser: asks for a sign-in link, signs in with it from the email, sees their
invoices (and nobody else's), downloads one as PDF, and pays it by card on the Stripe sandbox's hosted page."""

from __future__ import annotations

import io
import re

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from tests.e2e.conftest import Flexbill, screenshot

pytestmark = pytest.mark.e2e


def test_a_member_signs_in_by_email_downloads_an_invoice_and_pays_it_by_card(page: Page, flexbill: Flexbill) -> None:
    cat = flexbill.catalog()
    flexbill.add_stripe(cat)
    flexbill.member(cat, "Hal Ltd")
    flexbill.member(cat, "Ivy Ltd")
    by_name = {flexbill.invoice(i)["bill_to"]["name"]: flexbill.invoice(i) for i in flexbill.bill_run()}
    hal, ivy = by_name["Hal Ltd"], by_name["Ivy Ltd"]
    assert (hal["status"], hal["total"]) == ("awaiting_payment", "360.00")  # a hot desk, £300.00 + 20% VAT

    # Ask for a link: the portal sends people who are not signed in to its sign-in page.
    page.goto("/portal")
    expect(page).to_have_url(re.compile(r"/portal/sign-in\?next=/portal$"))
    screenshot(page, "portal-sign-in")
    page.get_by_label("The email address your invoices are sent to").fill("hal@example.com")
    page.get_by_role("button", name="Email me a sign-in link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("If hal@example.com has invoices with us")
    screenshot(page, "portal-link-sent")

    # The link in the email opens a page that signs in when the member says so.
    link = flexbill.link_in_mail("hal@example.com")
    assert link.startswith(f"{flexbill.url}/portal/link?token=")
    page.goto(link)
    page.get_by_role("button", name="Sign in as hal@example.com").click()
    expect(page.get_by_role("status")).to_have_text("You are signed in as hal@example.com.")
    expect(page.get_by_role("heading", name="Your invoices")).to_be_visible()
    row = page.get_by_role("row", name=re.compile(hal["number"]))
    expect(row).to_contain_text("Due")
    expect(row).to_contain_text("£360.00")
    expect(page.get_by_role("link", name=ivy["number"])).to_have_count(0)  # another customer's invoice
    expect(page.get_by_role("table").get_by_role("row")).to_have_count(2)  # the header and Hal's one invoice
    screenshot(page, "portal-invoices")

    # The invoice, and its PDF.
    row.get_by_role("link", name=hal["number"]).click()
    heading = page.get_by_role("heading", name=re.compile(f"Invoice {hal['number']}"))
    expect(heading).to_contain_text("Due")
    expect(page.get_by_role("row", name=re.compile("Hot desk"))).to_contain_text("£300.00")
    screenshot(page, "portal-invoice")
    with page.expect_download() as downloading:
        page.get_by_role("link", name="Download PDF").click()
    pdf = downloading.value.path().read_bytes()
    assert pdf.startswith(b"%PDF")
    words = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert hal["number"] in words
    assert "360.00" in words

    # Pay now: to the gateway's hosted page, pay with the test Visa (4242 4242 4242 4242), and back.
    page.get_by_role("button", name="Pay now · £360.00").click()
    expect(page).to_have_url(re.compile("^" + re.escape(f"{flexbill.sandbox.stripe_url}/checkout/")))
    expect(page.locator("#total")).to_have_text("£360.00")
    page.get_by_role("radio", name=re.compile(r"Visa, succeeds \(•••• 4242\)")).check()
    screenshot(page, "stripe-checkout")
    page.get_by_role("button", name="Pay £360.00").click()
    expect(page).to_have_url(f"{flexbill.url}/portal/invoices/{hal['id']}?paid=1")
    expect(page.get_by_role("status")).to_have_text("Thank you: your payment was received.")
    expect(heading).to_contain_text("Paid")
    expect(page.get_by_role("row", name=re.compile("Card"))).to_contain_text("£360.00")
    screenshot(page, "portal-invoice-paid")

    page.get_by_role("link", name="← Your invoices").click()
    expect(row).to_contain_text("Paid")
    expect(row).to_contain_text("£0.00")
    paid = flexbill.invoice(hal["id"])
    assert paid["status"] == "paid"
    assert [(p["amount"], p["method"], p["source"]) for p in paid["payments"]] == [("360.00", "card", "gateway")]
    assert flexbill.invoice(ivy["id"])["status"] == "awaiting_payment"
