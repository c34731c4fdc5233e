"""The members' portal through its pages, as a member's browser uses it: signing in with the emailed link (read
from the mail server that received it), the member's invoices and nobody else's, the PDF, paying on the Stripe
sandbox's hosted page, saved cards, receipts, signing out, and the forms refused without their CSRF token."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from flexbill.access.service import MEMBER_LINK_LIFETIME, SEEN_EVERY, Client, open_member_session
from flexbill.access.store import MemberLinkRow, WebSessionRow
from flexbill.billing.service import run_bill_run
from flexbill.bootstrap import Context
from flexbill.clock import FixedClock
from flexbill.customers import service as customers
from flexbill.errors import InvalidInput
from flexbill.notify.store import EmailRow
from flexbill.payments.store import ChargeAttemptRow, PaymentMethodRow
from flexbill.sandbox.server import RunningSandbox, start_sandbox
from tests.integration.test_payments import add_gateway, stripe_client
from tests.mail import MailSink
from tests.support import Catalog
from tests.web import BASE_URL, browser, csrf_token, submit, text_of

ADA = "ada@example.com"
BO = "bo@example.com"
_LINK = re.compile(re.escape(BASE_URL) + r"(/portal/link\?token=[A-Za-z0-9_\-]+)")


# --- helpers ------------------------------------------------------------------------------------------------------


def make_customer(ctx: Context, cat: Catalog, name: str, email: str) -> uuid.UUID:
    with ctx.sessions() as db, db.begin():
        customer_id = customers.create_customer(
            db, customers.CustomerFields(name=name, email=email, home_location_id=cat.location_id)
        ).id
        customers.create_membership(
            db,
            customers.NewMembership(
                customer_id=customer_id, plan_id=cat.hot_desk_id, location_id=cat.location_id,
                start_date=date(2026, 11, 1), quantity=Decimal(1),
            ),
        )  # fmt: skip
    return customer_id


def bill(ctx: Context, day: date) -> None:
    run_bill_run(ctx.sessions, ctx.clock, day)


def invoices_of(client: TestClient, customer_id: uuid.UUID) -> dict[str, dict[str, Any]]:
    """The customer's invoices by issue date (YYYY-MM-DD), from the API."""
    page = client.get("/api/v1/invoices", params={"customer_id": str(customer_id), "limit": 100})
    assert page.status_code == 200, page.text
    return {item["issue_date"]: item for item in page.json()["items"]}


def ask_for_link(portal: TestClient, email: str) -> Any:
    return submit(portal, "/portal/sign-in", "/portal/sign-in", {"email": email})


def link_in(mail: MailSink, email: str) -> str:
    """The path of the latest sign-in link mailed to ``email``, read from the message's text."""
    [*_, message] = mail.to(email)
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    found = _LINK.search(text)
    assert found, text
    return found.group(1)


def sign_in(ctx: Context, mail: MailSink, email: str) -> TestClient:
    portal = browser(ctx)
    asked = ask_for_link(portal, email)
    assert asked.status_code == 200, asked.text
    link = link_in(mail, email)
    signed = submit(portal, link, "/portal/link", {"token": link.split("token=", 1)[1]})
    assert signed.status_code == 303, signed.text
    assert signed.headers["location"] == "/portal"
    assert portal.get("/portal").status_code == 200  # where the browser goes next (showing the flash message)
    return portal


def page_text(portal: TestClient, path: str, status: int = 200) -> str:
    response = portal.get(path)
    assert response.status_code == status, f"{path}: {response.status_code} {response.text[:500]}"
    return text_of(response.text)


def attempts(ctx: Context) -> int:
    with ctx.readers() as db:
        return db.scalar(select(func.count()).select_from(ChargeAttemptRow)) or 0


@pytest.fixture
def stripe_sandbox() -> Iterator[RunningSandbox]:
    running = start_sandbox(time_scale=60)
    yield running
    running.stop()


@pytest.fixture
def billed(ctx: Context, cat: Catalog, client: TestClient) -> dict[str, Any]:
    """Ada is billed as two customers (one address, written in two cases), Bo as one. November: Ada Ltd's is paid,
    Ada Studio's overdue (today is 26 November). December: Ada Ltd's is due, Ada Studio's voided. January: drafts."""
    ada_ltd = make_customer(ctx, cat, "Ada Ltd", ADA)
    ada_studio = make_customer(ctx, cat, "Ada Studio", "Ada@Example.COM")
    bo = make_customer(ctx, cat, "Bo Ltd", BO)
    bill(ctx, date(2026, 11, 1))
    bill(ctx, date(2026, 12, 1))
    changed = client.patch("/api/v1/settings/billing", json={"issue_mode": "draft"})
    assert changed.status_code == 200, changed.text
    bill(ctx, date(2027, 1, 1))
    ltd, studio, bos = invoices_of(client, ada_ltd), invoices_of(client, ada_studio), invoices_of(client, bo)
    paid = client.post(
        f"/api/v1/invoices/{ltd['2026-11-01']['id']}/payments",
        json={"date": "2026-11-10", "amount": "360.00", "method": "bank_transfer", "reference": "TRF 991"},
    )
    assert paid.status_code == 201, paid.text
    voided = client.post(f"/api/v1/invoices/{studio['2026-12-01']['id']}/void")
    assert voided.status_code == 200, voided.text
    return {"ada_ltd": ada_ltd, "ada_studio": ada_studio, "bo": bo, "ltd": ltd, "studio": studio, "bo_invoices": bos}


# --- signing in ---------------------------------------------------------------------------------------------------


def test_a_member_signs_in_with_the_emailed_link_which_its_page_does_not_use_up(
    ctx: Context, cat: Catalog, billed: dict[str, Any], mail: MailSink
) -> None:
    portal = browser(ctx)
    assert "email address your invoices are sent to" in page_text(portal, "/portal/sign-in")
    asked = ask_for_link(portal, "  ADA@example.com ")
    assert asked.status_code == 200, asked.text
    assert "If ada@example.com has invoices with us, a link to sign in is on its way" in text_of(asked.text)

    [message] = mail.to(ADA)
    assert message["Subject"] == "Your sign-in link for LON space"
    assert message["From"].addresses[0].addr_spec == ctx.settings.mail_from
    html = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    link = link_in(mail, ADA)
    assert link in html.replace("&amp;", "&")
    with ctx.readers() as db:
        assert db.scalar(select(func.count()).select_from(EmailRow)) == 0  # a sign-in link is never stored

    # A mail scanner opening the link, twice, uses nothing up: the page asks the member to confirm.
    for _ in range(2):
        opened = portal.get(link)
        assert opened.status_code == 200
        assert "Sign in as ada@example.com" in text_of(opened.text)
    assert portal.get("/portal").status_code == 303  # not signed in yet

    signed = submit(portal, link, "/portal/link", {"token": link.split("token=", 1)[1]})
    assert signed.status_code == 303, signed.text
    cookie = signed.headers["set-cookie"]
    assert "flexbill_member=fbs_" in cookie
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    home = page_text(portal, "/portal")
    assert "You are signed in as ada@example.com." in home
    assert "ada@example.com Sign out" in home


def test_an_unknown_address_gets_the_same_answer_and_no_email(
    ctx: Context, cat: Catalog, billed: dict[str, Any], mail: MailSink
) -> None:
    portal = browser(ctx)
    known = ask_for_link(portal, ADA)
    unknown = ask_for_link(portal, "nobody@example.com")
    assert (known.status_code, unknown.status_code) == (200, 200)
    assert text_of(known.text).replace(ADA, "X") == text_of(unknown.text).replace("nobody@example.com", "X")
    assert mail.to("nobody@example.com") == []
    assert len(mail.messages) == 1

    wrong = ask_for_link(portal, "not an address")
    assert wrong.status_code == 422
    assert "&#39;not an address&#39; is not an email address." in wrong.text
    assert 'aria-invalid="true"' in wrong.text
    assert len(mail.messages) == 1


def test_a_link_signs_in_once_and_not_after_it_expires(
    ctx: Context, cat: Catalog, billed: dict[str, Any], mail: MailSink
) -> None:
    first = browser(ctx)
    ask_for_link(first, ADA)
    link = link_in(mail, ADA)
    token = link.split("token=", 1)[1]
    assert submit(first, link, "/portal/link", {"token": token}).status_code == 303

    # Used: the page says so, and offers a new link to the same address; posting it again opens nothing.
    second = browser(ctx)
    used = second.get(link)
    assert used.status_code == 400
    assert "This sign-in link has already been used: ask for a new one." in text_of(used.text)
    assert f'value="{ADA}"' in used.text
    assert "Send me a new link" in used.text
    replayed = second.post("/portal/link", data={"token": token, "csrf_token": csrf_token(second, "/portal/sign-in")})
    assert replayed.status_code == 400
    assert "already been used" in replayed.text
    assert second.get("/portal").status_code == 303

    # Expired: a fresh link, opened after its time is up.
    ask_for_link(second, ADA)
    late = link_in(mail, ADA)
    assert late != link
    ctx.clock.instant += MEMBER_LINK_LIFETIME + timedelta(seconds=1)  # type: ignore[attr-defined]
    expired = second.get(late)
    assert expired.status_code == 400
    assert "This sign-in link has expired: ask for a new one." in text_of(expired.text)
    posted = submit(second, "/portal/sign-in", "/portal/link", {"token": late.split("token=", 1)[1]})
    assert posted.status_code == 400
    assert second.get("/portal").status_code == 303

    unknown = second.get("/portal/link?token=fbl_made_up")
    assert unknown.status_code == 400
    assert "This sign-in link is not valid: ask for a new one." in text_of(unknown.text)
    with ctx.readers() as db:
        assert db.scalar(select(func.count()).select_from(WebSessionRow).where(WebSessionRow.kind == "member")) == 1


def test_asking_for_links_too_often_is_refused_alike_for_every_address_with_the_wait(
    ctx: Context, cat: Catalog, billed: dict[str, Any], mail: MailSink
) -> None:
    portal = browser(ctx)
    for address in (ADA, "nobody@example.com"):
        for _ in range(5):
            assert ask_for_link(portal, address).status_code == 200
        refused = ask_for_link(portal, address)
        assert refused.status_code == 429, address
        assert "Too many attempts: try again in 15 minutes." in text_of(refused.text)
        assert int(refused.headers["retry-after"]) == 15 * 60
    assert len(mail.to(ADA)) == 5
    assert mail.to("nobody@example.com") == []

    ctx.clock.instant += timedelta(minutes=15, seconds=1)  # type: ignore[attr-defined]
    assert ask_for_link(portal, ADA).status_code == 200
    assert len(mail.to(ADA)) == 6


# --- invoices -----------------------------------------------------------------------------------------------------


def test_the_list_shows_the_issued_invoices_of_every_customer_billed_to_the_member_newest_first(
    ctx: Context, cat: Catalog, billed: dict[str, Any], mail: MailSink
) -> None:
    portal = sign_in(ctx, mail, ADA)
    ltd, studio = billed["ltd"], billed["studio"]
    html = portal.get("/portal").text
    rows = [
        text_of(row) for row in re.findall(r"<tr><td class=\"keep\"><a href=\"/portal/invoices/.*?</tr>", html, re.S)
    ]
    numbers = [studio["2026-12-01"]["number"], ltd["2026-12-01"]["number"], studio["2026-11-01"]["number"],
               ltd["2026-11-01"]["number"]]  # fmt: skip
    assert sorted(numbers) == sorted(row.split()[0] for row in rows)  # only Ada's, no draft, none of Bo's
    assert [row.split()[1:4] for row in rows][:2] == [["01", "Dec", "2026"]] * 2
    by_number = {row.split()[0]: row for row in rows}
    assert "Due £360.00 £360.00" in by_number[ltd["2026-12-01"]["number"]]
    assert "Void £360.00 £0.00" in by_number[studio["2026-12-01"]["number"]]
    assert "Overdue £360.00 £360.00" in by_number[studio["2026-11-01"]["number"]]
    assert "Paid £360.00 £0.00" in by_number[ltd["2026-11-01"]["number"]]
    assert "Ada Studio LON space" in by_number[studio["2026-11-01"]["number"]]  # billed to, and where
    for invoice in billed["bo_invoices"].values():
        assert invoice["id"] not in html
    assert "Draft" not in text_of(html)

    open_ones = page_text(portal, "/portal?show=open")
    assert ltd["2026-12-01"]["number"] in open_ones
    assert studio["2026-11-01"]["number"] in open_ones
    assert ltd["2026-11-01"]["number"] not in open_ones
    assert studio["2026-12-01"]["number"] not in open_ones
    paid = page_text(portal, "/portal?show=paid")
    assert ltd["2026-11-01"]["number"] in paid
    assert ltd["2026-12-01"]["number"] not in paid
    searched = page_text(portal, f"/portal?q={ltd['2026-12-01']['number']}")
    assert ltd["2026-12-01"]["number"] in searched
    assert ltd["2026-11-01"]["number"] not in searched

    bo = sign_in(ctx, mail, BO)
    theirs = page_text(bo, "/portal")
    assert ltd["2026-12-01"]["number"] not in theirs
    assert billed["bo_invoices"]["2026-12-01"]["number"] in theirs


def test_an_invoice_shows_its_lines_tax_totals_and_payments(
    ctx: Context, cat: Catalog, billed: dict[str, Any], mail: MailSink
) -> None:
    portal = sign_in(ctx, mail, ADA)
    paid = billed["ltd"]["2026-11-01"]
    page = page_text(portal, f"/portal/invoices/{paid['id']}")
    assert f"Invoice {paid['number']} Paid" in page
    assert "Hot desk" in page
    assert "Subtotal £300.00 VAT £60.00 Total £360.00 Paid £360.00 Amount due £0.00" in page
    assert "VAT 20% £300.00 £60.00" in page
    assert "10 Nov 2026 £360.00 Bank transfer TRF 991" in page
    assert "Download PDF" in page
    assert "Pay now" not in page  # paid, and no gateway anyway

    due = page_text(portal, f"/portal/invoices/{billed['ltd']['2026-12-01']['id']}")
    assert "Amount due £360.00" in due
    assert "No payment received yet." in due
    assert "Pay now" not in due  # the location takes no card payments

    receipts = portal.get("/portal/receipts").text
    assert "10 Nov 2026 £360.00" in text_of(receipts)
    assert f'href="/portal/invoices/{paid["id"]}">{paid["number"]}</a>' in receipts


def test_the_member_downloads_an_invoice_as_a_pdf(
    ctx: Context, cat: Catalog, billed: dict[str, Any], mail: MailSink
) -> None:
    portal = sign_in(ctx, mail, ADA)
    invoice = billed["studio"]["2026-11-01"]
    pdf = portal.get(f"/portal/invoices/{invoice['id']}/pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == f'attachment; filename="{invoice["number"]}.pdf"'
    assert pdf.content.startswith(b"%PDF-")


def test_another_customers_invoice_is_not_found_whatever_the_id(
    ctx: Context,
    cat: Catalog,
    client: TestClient,
    billed: dict[str, Any],
    mail: MailSink,
    stripe_sandbox: RunningSandbox,
) -> None:
    add_gateway(client, stripe_sandbox, cat)
    portal = sign_in(ctx, mail, ADA)
    missing = portal.get(f"/portal/invoices/{uuid.uuid4()}")
    assert missing.status_code == 404
    drafts = client.get("/api/v1/invoices", params={"customer_id": str(billed["ada_ltd"]), "status": "draft"}).json()
    [draft] = drafts["items"]
    others = [billed["bo_invoices"]["2026-12-01"]["id"], draft["id"], "not-an-id"]
    for invoice_id in others:
        for path in (f"/portal/invoices/{invoice_id}", f"/portal/invoices/{invoice_id}/pdf"):
            answer = portal.get(path)
            assert answer.status_code == 404, path
            assert answer.text == missing.text  # the same page as an invoice that does not exist
        token = csrf_token(portal, "/portal")
        paying = portal.post(f"/portal/invoices/{invoice_id}/pay", data={"csrf_token": token})
        assert paying.status_code == 404
        assert paying.text == missing.text
    assert attempts(ctx) == 0
    assert "Invoice not found" in text_of(missing.text)


# --- paying -------------------------------------------------------------------------------------------------------


def test_pay_now_on_the_sandbox_hosted_page_returns_to_the_invoice_paid(
    ctx: Context,
    cat: Catalog,
    client: TestClient,
    billed: dict[str, Any],
    mail: MailSink,
    stripe_sandbox: RunningSandbox,
) -> None:
    invoice = billed["ltd"]["2026-12-01"]
    portal = sign_in(ctx, mail, ADA)
    add_gateway(client, stripe_sandbox, cat)
    page = f"/portal/invoices/{invoice['id']}"
    assert "Pay now · £360.00" in page_text(portal, page)
    assert "Pay now" not in page_text(portal, f"/portal/invoices/{billed['studio']['2026-12-01']['id']}")  # void

    to_stripe = submit(portal, page, f"{page}/pay")
    assert to_stripe.status_code == 303, to_stripe.text
    checkout_url = to_stripe.headers["location"]
    assert checkout_url.startswith(stripe_sandbox.stripe_url)
    checkout_id = checkout_url.rstrip("/").rsplit("/", 1)[1]
    done = httpx.post(
        f"{stripe_sandbox.stripe_url}/_sandbox/checkout/{checkout_id}/complete", json={"payment_method": "pm_card_visa"}
    )
    assert done.status_code == 200, done.text
    back = done.json()["redirect_url"]
    assert back == f"{BASE_URL}{page}?paid=1"

    returned = page_text(portal, back.removeprefix(BASE_URL))
    assert "Thank you: your payment was received." in returned
    assert f"Invoice {invoice['number']} Paid" in returned
    assert "Card" in returned
    body = client.get(f"/api/v1/invoices/{invoice['id']}").json()
    assert body["status"] == "paid"
    assert len(body["payments"]) == 1
    assert "Pay now" not in page_text(portal, page)
    receipts = page_text(portal, "/portal/receipts")
    assert f"£360.00 {invoice['number']} Card" in receipts


def test_a_payment_that_cannot_start_is_explained_on_the_invoice(
    ctx: Context,
    cat: Catalog,
    client: TestClient,
    billed: dict[str, Any],
    mail: MailSink,
    stripe_sandbox: RunningSandbox,
) -> None:
    add_gateway(client, stripe_sandbox, cat)
    portal = sign_in(ctx, mail, ADA)
    page = f"/portal/invoices/{billed['ltd']['2026-12-01']['id']}"
    token = csrf_token(portal, page)
    paid = client.post(
        f"/api/v1/invoices/{billed['ltd']['2026-12-01']['id']}/payments",
        json={"date": "2026-12-02", "amount": "360.00"},
    )
    assert paid.status_code == 201, paid.text
    refused = portal.post(f"{page}/pay", data={"csrf_token": token})  # the page was open before the transfer came
    assert refused.status_code == 409
    assert f"Invoice {billed['ltd']['2026-12-01']['number']} is paid: there is nothing to pay." in text_of(refused.text)
    assert attempts(ctx) == 0


# --- payment methods ----------------------------------------------------------------------------------------------


def _save_card(portal: TestClient, sandbox: RunningSandbox, customer_id: uuid.UUID, card: str) -> str:
    started = submit(
        portal, "/portal/payment-methods", "/portal/payment-methods/add", {"customer_id": str(customer_id)}
    )
    assert started.status_code == 303, started.text
    assert started.headers["location"].startswith(sandbox.stripe_url)
    page_id = started.headers["location"].rstrip("/").rsplit("/", 1)[1]
    done = httpx.post(f"{sandbox.stripe_url}/_sandbox/checkout/{page_id}/complete", json={"payment_method": card})
    assert done.status_code == 200, done.text
    back = portal.get(str(done.json()["redirect_url"]).removeprefix(BASE_URL))
    assert back.status_code == 303, back.text
    return page_text(portal, back.headers["location"])


def methods_of(ctx: Context, customer_id: uuid.UUID) -> list[tuple[str | None, bool]]:
    """The customer's cards (last 4 digits, default or not), in the order of their digits."""
    with ctx.readers() as db:
        rows = db.scalars(select(PaymentMethodRow).where(PaymentMethodRow.customer_id == customer_id))
        return sorted((row.last4, row.is_default) for row in rows)


def test_the_member_adds_cards_chooses_the_default_and_removes_one(
    ctx: Context,
    cat: Catalog,
    client: TestClient,
    billed: dict[str, Any],
    mail: MailSink,
    stripe_sandbox: RunningSandbox,
) -> None:
    portal = sign_in(ctx, mail, ADA)
    assert "Cards cannot be saved here" in page_text(portal, "/portal/payment-methods")
    add_gateway(client, stripe_sandbox, cat)
    customer_id = billed["ada_ltd"]
    listed = page_text(portal, "/portal/payment-methods")
    assert "Ada Ltd No card saved." in listed
    assert "Ada Studio No card saved." in listed

    saved = _save_card(portal, stripe_sandbox, customer_id, "pm_card_visa")
    assert "Your card is saved, and will be charged for your next invoices." in saved
    assert "Visa ending 4242" in saved
    assert methods_of(ctx, customer_id) == [("4242", True)]
    saved = _save_card(portal, stripe_sandbox, customer_id, "pm_card_mastercard")
    assert "Mastercard ending 4444" in saved
    assert methods_of(ctx, customer_id) == [("4242", False), ("4444", True)]
    assert methods_of(ctx, billed["ada_studio"]) == []

    with ctx.readers() as db:
        cards = db.scalars(select(PaymentMethodRow).where(PaymentMethodRow.customer_id == customer_id))
        visa, mastercard = sorted(cards, key=lambda card: card.last4 or "")
    made = submit(portal, "/portal/payment-methods", f"/portal/payment-methods/{visa.id}/default")
    assert made.status_code == 303
    assert "The Visa ending 4242 is now charged by default." in page_text(portal, made.headers["location"])
    assert methods_of(ctx, customer_id) == [("4242", True), ("4444", False)]

    removed = submit(portal, "/portal/payment-methods", f"/portal/payment-methods/{mastercard.id}/remove")
    assert removed.status_code == 303
    assert "The Mastercard ending 4444 is removed." in page_text(portal, removed.headers["location"])
    assert methods_of(ctx, customer_id) == [("4242", True)]
    assert stripe_client(stripe_sandbox).v1.payment_methods.retrieve(mastercard.external_id).customer is None

    # Bo can neither see, change nor remove Ada's card.
    bo = sign_in(ctx, mail, BO)
    assert "4242" not in page_text(bo, "/portal/payment-methods")
    for action in ("default", "remove"):
        answer = submit(bo, "/portal/payment-methods", f"/portal/payment-methods/{visa.id}/{action}")
        assert answer.status_code == 404
    other = submit(bo, "/portal/payment-methods", "/portal/payment-methods/add", {"customer_id": str(customer_id)})
    assert other.status_code == 404
    assert methods_of(ctx, customer_id) == [("4242", True)]


def test_no_card_is_saved_from_a_wrong_form_or_a_card_page_left_unfinished(
    ctx: Context,
    cat: Catalog,
    client: TestClient,
    billed: dict[str, Any],
    mail: MailSink,
    stripe_sandbox: RunningSandbox,
) -> None:
    portal = sign_in(ctx, mail, ADA)
    customer = {"customer_id": str(billed["ada_ltd"])}
    no_gateway = submit(portal, "/portal/payment-methods", "/portal/payment-methods/add", customer)
    assert no_gateway.status_code == 422
    assert "Ada Ltd&#39;s locations take no card payments online, so no card can be saved." in no_gateway.text
    add_gateway(client, stripe_sandbox, cat)
    elsewhere = {**customer, "location_id": str(uuid.uuid4())}
    wrong = submit(portal, "/portal/payment-methods", "/portal/payment-methods/add", elsewhere)
    assert wrong.status_code == 422
    assert "Choose the location whose invoices the card is for." in text_of(wrong.text)
    started = submit(
        portal, "/portal/payment-methods", "/portal/payment-methods/add", {"customer_id": str(billed["ada_ltd"])}
    )
    assert started.status_code == 303
    canceled = portal.get("/portal/payment-methods/saved?canceled=1")
    assert "No card was saved." in page_text(portal, canceled.headers["location"])
    page_id = started.headers["location"].rstrip("/").rsplit("/", 1)[1]
    gateway_id = client.get("/api/v1/payments/gateways").json()[0]["id"]
    unfinished = portal.get(f"/portal/payment-methods/saved?gateway={gateway_id}&page={page_id}")
    assert "No card was saved: the card page was not completed." in page_text(portal, unfinished.headers["location"])
    assert methods_of(ctx, billed["ada_ltd"]) == []


# --- sessions and forms -------------------------------------------------------------------------------------------


def test_signing_out_ends_the_session(ctx: Context, cat: Catalog, billed: dict[str, Any], mail: MailSink) -> None:
    portal = sign_in(ctx, mail, ADA)
    cookie = portal.cookies.get("flexbill_member")
    assert cookie
    out = submit(portal, "/portal", "/portal/sign-out")
    assert out.status_code == 303
    assert out.headers["location"] == "/portal/sign-in"
    assert "You are signed out." in page_text(portal, "/portal/sign-in")
    assert portal.get("/portal").status_code == 303
    replay = browser(ctx)
    replay.cookies.set("flexbill_member", cookie)
    assert replay.get("/portal").status_code == 303  # the old cookie opens nothing any more


def test_reading_pages_writes_nothing_but_a_note_of_the_sessions_use_every_few_minutes(
    ctx: Context, cat: Catalog, billed: dict[str, Any], clock: FixedClock
) -> None:
    with ctx.sessions() as db, db.begin():
        made = open_member_session(db, clock.now(), email=" Ada@Example.com ", client=Client(ip="127.0.0.1"))
        with pytest.raises(InvalidInput, match="'nobody' is not an email address"):
            open_member_session(db, clock.now(), email="nobody", client=Client(ip="127.0.0.1"))
    assert made.row.email == ADA
    portal = browser(ctx)
    portal.cookies.set("flexbill_member", made.token)
    writes: list[str] = []

    def note_writes(_connection: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.split(None, 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}:
            writes.append(statement)

    paid = billed["ltd"]["2026-11-01"]
    event.listen(ctx.engine, "before_cursor_execute", note_writes)
    try:
        assert billed["studio"]["2026-11-01"]["number"] in page_text(portal, "/portal")  # both of Ada's customers
        assert "Amount due £0.00" in page_text(portal, f"/portal/invoices/{paid['id']}")
        page_text(portal, f"/portal/invoices/{billed['bo_invoices']['2026-12-01']['id']}", 404)
        assert writes == []
        clock.instant += SEEN_EVERY
        page_text(portal, "/portal")
        page_text(portal, f"/portal/invoices/{paid['id']}")
    finally:
        event.remove(ctx.engine, "before_cursor_execute", note_writes)
    assert len(writes) == 1
    assert writes[0].startswith("UPDATE web_sessions SET")
    with ctx.readers() as db:
        seen = db.scalars(select(WebSessionRow.last_seen_at).where(WebSessionRow.id == made.row.id)).one()
    assert seen.replace(tzinfo=clock.instant.tzinfo) == clock.instant


@pytest.mark.parametrize(
    "path",
    ["/portal", "/portal/invoices/0190f0a4-0000-7000-8000-000000000001", "/portal/payment-methods", "/portal/receipts"],
)
def test_every_page_without_a_session_leads_to_sign_in(ctx: Context, path: str) -> None:
    answer = browser(ctx).get(path)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/portal/sign-in?next=")


def test_a_forged_csrf_token_is_refused_and_changes_nothing(
    ctx: Context,
    cat: Catalog,
    client: TestClient,
    billed: dict[str, Any],
    mail: MailSink,
    stripe_sandbox: RunningSandbox,
) -> None:
    add_gateway(client, stripe_sandbox, cat)
    portal = sign_in(ctx, mail, ADA)
    _save_card(portal, stripe_sandbox, billed["ada_ltd"], "pm_card_visa")
    with ctx.readers() as db:
        card = db.scalars(select(PaymentMethodRow)).one()
    forged = {"csrf_token": "0" * 64}
    invoice_id = billed["ltd"]["2026-12-01"]["id"]
    for action in (
        f"/portal/invoices/{invoice_id}/pay",
        f"/portal/payment-methods/{card.id}/remove",
        "/portal/payment-methods/add",
        "/portal/sign-out",
    ):
        refused = portal.post(action, data={**forged, "customer_id": str(billed["ada_ltd"])})
        assert refused.status_code == 403, action
        assert "Form expired" in refused.text
        assert portal.post(action, data={"customer_id": str(billed["ada_ltd"])}).status_code == 403
    assert attempts(ctx) == 0
    assert methods_of(ctx, billed["ada_ltd"]) == [("4242", True)]
    assert portal.get("/portal").status_code == 200  # still signed in

    # The link's own form: refused without its token, and the link is left unused.
    stranger = browser(ctx)
    ask_for_link(stranger, ADA)
    link = link_in(mail, ADA)
    token = link.split("token=", 1)[1]
    stranger.get(link)
    assert stranger.post("/portal/link", data={"token": token, **forged}).status_code == 403
    with ctx.readers() as db:
        assert db.scalars(select(MemberLinkRow).where(MemberLinkRow.used_at.is_not(None))).all() != []
        unused = db.scalar(select(func.count()).select_from(MemberLinkRow).where(MemberLinkRow.used_at.is_(None)))
    assert unused == 1
    assert stranger.get("/portal").status_code == 303
