"""The console's settings pages, driven as a browser drives them: billing rules, accounting (against the Xero
sandbox over real HTTP), payment gateways, email with a real test send, API keys and webhook endpoints.

Each page renders with real data; each form's happy path changes what it should (checked through the services or
the JSON API); a bad value is refused with words on the page and changes nothing; a role that may not change
settings gets 403 and changes nothing; a browser without a session goes to sign-in; a forged form gets 403.
"""

from __future__ import annotations

import html
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from flexbill.access.model import Role
from flexbill.access.store import ApiKeyRow, AuditRow
from flexbill.accounting.store import AccountingConnectionRow
from flexbill.billing.service import BillingRulesChanges, get_billing_rules, run_bill_run, update_billing_rules
from flexbill.bootstrap import Context
from flexbill.customers import service as customers
from flexbill.events import service as events
from flexbill.events.store import WebhookDeliveryRow, WebhookEndpointRow
from flexbill.payments.store import GatewayRow
from flexbill.sandbox.server import RunningSandbox
from flexbill.tasks.store import TaskRow
from flexbill.worker import Worker, default_handlers
from tests.mail import MailSink
from tests.support import Catalog, make_catalog, make_customer, serving
from tests.web import browser, csrf_token, signed_in_staff, submit
from tests.web import text_of as _text_of

FORGED = "0" * 64


def text_of(page: str) -> str:
    """What a person reads: the words of the page, with its entities (&#39;) read as characters."""
    return html.unescape(_text_of(page))


def forged(client: TestClient, action: str, data: dict[str, Any] | None = None) -> Any:
    """A form posted from another site: it has no token flexbill issued to this browser."""
    return client.post(action, data={**(data or {}), "csrf_token": FORGED})


def refused_sign_in(ctx: Context, page: str) -> None:
    response = browser(ctx).get(page)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/sign-in?next=")


# --- the index and the billing rules ------------------------------------------------------------------------------

BILLING_FORM = {
    "billing_day": "5",
    "generate_days_before": "3",
    "due_days": "30",
    "grouping": "separate",
    "issue_mode": "draft",
    "tax_rounding": "per_document",
    "lock_date": "2026-10-31",
    "charge_retries": "2",
    "charge_retry_days": "4",
    "reminder_days": "7",
    "accounting_sync": "manual",
    "auto_send": "true",
    "auto_charge": "true",
}


def test_the_settings_index_lists_every_settings_page(ctx: Context) -> None:
    owner = signed_in_staff(ctx, Role.OWNER)
    page = text_of(owner.get("/admin/settings").text)
    for title in ("Billing rules", "Accounting", "Payment gateways", "Email", "API keys", "Webhooks", "Staff"):
        assert title in page
    assert "can look but not change" not in page

    reader = signed_in_staff(ctx, Role.READ_ONLY)
    seen = text_of(reader.get("/admin/settings").text)
    assert "Your role (Read-only) can look but not change these." in seen
    assert "for owners and admins. Your role (Read-only) does not open this page." in seen
    refused_sign_in(ctx, "/admin/settings")


def test_the_billing_rules_page_shows_every_rule_and_saves_them_all(ctx: Context) -> None:
    owner = signed_in_staff(ctx)
    page = owner.get("/admin/settings/billing")
    assert page.status_code == 200
    source = page.text
    assert 'name="billing_day" type="number" min="1" max="28" required value="1"' in source
    assert "you pick invoices to sync from the invoice list" in source
    assert "each invoice goes to the accounting system (Xero or QuickBooks) when issued" in source
    assert 'value="off" checked' in source

    saved = submit(owner, "/admin/settings/billing", "/admin/settings/billing", BILLING_FORM)
    assert saved.status_code == 303, saved.text
    with ctx.readers() as db:
        rules = get_billing_rules(db)
    assert (rules.billing_day, rules.generate_days_before, rules.due_days) == (5, 3, 30)
    assert (rules.grouping.value, rules.issue_mode.value, rules.tax_rounding.value) == (
        "separate",
        "draft",
        "per_document",
    )
    assert rules.lock_date == date(2026, 10, 31)
    assert (rules.charge_retries, rules.charge_retry_days, rules.reminder_days) == (2, 4, 7)
    assert (rules.accounting_sync.value, rules.auto_send, rules.auto_charge) == ("manual", True, True)
    shown = owner.get("/admin/settings/billing")
    assert "The billing rules are saved." in shown.text
    assert 'value="2026-10-31"' in shown.text

    cleared = {**BILLING_FORM, "lock_date": "", "reminder_days": "", "auto_charge": "false"}
    assert submit(owner, "/admin/settings/billing", "/admin/settings/billing", cleared).status_code == 303
    with ctx.readers() as db:
        rules = get_billing_rules(db)
    assert (rules.lock_date, rules.reminder_days, rules.auto_charge) == (None, None, False)


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("billing_day", "31", "Billing day: Input should be less than or equal to 28."),
        ("due_days", "", "Days to pay cannot be empty."),
        ("lock_date", "31/10/2026", "'31/10/2026' is not a date"),
        ("accounting_sync", "sometimes", "Sync to accounting: Input should be 'off', 'manual' or 'auto'."),
    ],
)
def test_a_bad_billing_rule_is_refused_with_words_and_changes_nothing(
    ctx: Context, field: str, value: str, words: str
) -> None:
    owner = signed_in_staff(ctx)
    refused = submit(owner, "/admin/settings/billing", "/admin/settings/billing", {**BILLING_FORM, field: value})
    assert refused.status_code == 422
    assert words in text_of(refused.text)
    assert '<div class="error" role="alert">' in refused.text
    assert f'<p class="field-error" id="{field}-error">' in refused.text
    assert 'name="due_days" type="number" min="0" max="365" required value="30"' in refused.text or field == "due_days"
    with ctx.readers() as db:
        assert get_billing_rules(db).billing_day == 1  # nothing saved, not even the good fields


def test_only_owners_and_admins_change_the_billing_rules(ctx: Context) -> None:
    billing = signed_in_staff(ctx, Role.BILLING)
    page = billing.get("/admin/settings/billing").text
    assert "can see the billing rules but not change them" in page
    assert "Save the billing rules" not in page
    refused = submit(billing, "/admin/settings/billing", "/admin/settings/billing", BILLING_FORM)
    assert refused.status_code == 403
    assert "does not allow this" in text_of(refused.text)

    admin = signed_in_staff(ctx, Role.ADMIN)
    assert forged(admin, "/admin/settings/billing", BILLING_FORM).status_code == 403
    signed_out = browser(ctx).post("/admin/settings/billing", data=BILLING_FORM)
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/admin/sign-in?next=/admin/settings/billing"
    with ctx.readers() as db:
        assert get_billing_rules(db).billing_day == 1
    refused_sign_in(ctx, "/admin/settings/billing")


# --- email --------------------------------------------------------------------------------------------------------


def test_without_a_mail_server_the_email_page_says_mail_is_captured(ctx: Context) -> None:
    page = text_of(signed_in_staff(ctx).get("/admin/settings/email").text)
    assert "emails are captured locally, see /mail" in page


def test_the_email_page_shows_the_mail_server_and_sends_a_test_email(ctx: Context, mail: MailSink) -> None:
    ctx.settings = ctx.settings.model_copy(update={"smtp_user": "flexbill", "smtp_password": "hunter2-secret"})
    mail.login = None  # the sink takes any login when it requires none
    owner = signed_in_staff(ctx)
    page = owner.get("/admin/settings/email")
    assert page.status_code == 200
    words = text_of(page.text)
    assert f"Mail server 127.0.0.1 Port {mail.port}" in words
    assert "Signs in as flexbill" in words
    assert "hunter2-secret" not in page.text

    ctx.settings = ctx.settings.model_copy(update={"smtp_user": None, "smtp_password": None})
    sent = submit(owner, "/admin/settings/email", "/admin/settings/email/test", {"to": "ops@example.com"})
    assert sent.status_code == 200, sent.text
    assert "The test email to ops@example.com was accepted by the mail server: 250" in text_of(sent.text)
    [message] = mail.to("ops@example.com")
    assert message["Subject"] == "flexbill test email"
    with ctx.readers() as db:
        entry = db.scalars(select(AuditRow).where(AuditRow.action == "email.test")).one()
    assert entry.actor_label == "owner@example.com"
    assert entry.after == {"to": "ops@example.com", "sent": True, "answer": entry.after["answer"]}


def test_a_test_email_the_server_refuses_says_why(ctx: Context, mail: MailSink) -> None:
    mail.refuse["nobody@example.com"] = "550 5.1.1 No such mailbox"
    owner = signed_in_staff(ctx)
    refused = submit(owner, "/admin/settings/email", "/admin/settings/email/test", {"to": "nobody@example.com"})
    assert refused.status_code == 502
    assert "The test email to nobody@example.com was not sent." in text_of(refused.text)
    assert "550 5.1.1 No such mailbox" in text_of(refused.text)

    mail.stop()
    unreachable = submit(owner, "/admin/settings/email", "/admin/settings/email/test", {"to": "ops@example.com"})
    assert unreachable.status_code == 502
    assert "Could not connect to the mail server 127.0.0.1" in text_of(unreachable.text)


def test_a_test_email_to_a_bad_address_or_by_a_billing_user_is_not_sent(ctx: Context, mail: MailSink) -> None:
    owner = signed_in_staff(ctx)
    bad = submit(owner, "/admin/settings/email", "/admin/settings/email/test", {"to": "not-an-address"})
    assert bad.status_code == 422
    assert "'not-an-address' is not an email address" in text_of(bad.text)
    billing = signed_in_staff(ctx, Role.BILLING)
    assert "Send a test email" not in billing.get("/admin/settings/email").text
    refused = submit(billing, "/admin/settings/email", "/admin/settings/email/test", {"to": "ops@example.com"})
    assert refused.status_code == 403
    assert forged(owner, "/admin/settings/email/test", {"to": "ops@example.com"}).status_code == 403
    assert mail.messages == []
    refused_sign_in(ctx, "/admin/settings/email")


# --- API keys -----------------------------------------------------------------------------------------------------


def test_an_api_key_is_shown_once_works_on_the_api_and_stops_when_revoked(ctx: Context) -> None:
    admin = signed_in_staff(ctx, Role.ADMIN)
    made = submit(
        admin, "/admin/settings/api-keys", "/admin/settings/api-keys", {"name": "Booking system", "scopes": ["read"]}
    )
    assert made.status_code == 201, made.text
    assert "Copy it now: it is not shown again." in text_of(made.text)
    key = made.text.split('id="new-key" class="secret" readonly value="')[1].split('"')[0]
    assert key.startswith("fbk_")

    api = TestClient(admin.app, headers={"Authorization": f"Bearer {key}"})
    assert api.get("/api/v1/settings/billing").status_code == 200
    assert api.patch("/api/v1/settings/billing", json={"due_days": 3}).status_code == 403  # read only

    listed = admin.get("/admin/settings/api-keys").text
    assert key not in listed
    assert f"<code>{key[:12]}…</code>" in listed
    with ctx.readers() as db:
        row = db.scalars(select(ApiKeyRow)).one()
    assert row.scopes == "read"

    revoked = submit(admin, "/admin/settings/api-keys", f"/admin/settings/api-keys/{row.id}/revoke")
    assert revoked.status_code == 303
    assert "is revoked: it no longer works" in admin.get("/admin/settings/api-keys").text
    assert api.get("/api/v1/settings/billing").status_code == 401
    again = submit(admin, "/admin/settings/api-keys", f"/admin/settings/api-keys/{row.id}/revoke")
    assert again.status_code == 409
    assert "is already revoked" in text_of(again.text)


def test_an_api_key_without_a_name_or_scope_is_refused_and_a_billing_user_makes_none(ctx: Context) -> None:
    owner = signed_in_staff(ctx)
    nameless = submit(owner, "/admin/settings/api-keys", "/admin/settings/api-keys", {"name": " ", "scopes": ["read"]})
    assert nameless.status_code == 422
    assert "An API key needs a name." in text_of(nameless.text)
    scopeless = submit(owner, "/admin/settings/api-keys", "/admin/settings/api-keys", {"name": "Site"})
    assert scopeless.status_code == 422
    assert 'value="Site"' in scopeless.text  # what was typed is kept

    billing = signed_in_staff(ctx, Role.BILLING)
    assert "Make the key" not in billing.get("/admin/settings/api-keys").text
    data = {"name": "Site", "scopes": ["read", "write"]}
    assert submit(billing, "/admin/settings/api-keys", "/admin/settings/api-keys", data).status_code == 403
    assert forged(owner, "/admin/settings/api-keys", data).status_code == 403
    with ctx.readers() as db:
        assert db.scalar(select(func.count()).select_from(ApiKeyRow)) == 0
    refused_sign_in(ctx, "/admin/settings/api-keys")


# --- payment gateways ---------------------------------------------------------------------------------------------

STRIPE_KEYS = {"secret_key": "sk_test_4eC39HqLyjWDarjtT1zdp7dc", "webhook_secret": "whsec_abcdefgh12345678"}


def test_a_gateway_is_added_its_keys_replaced_never_shown_and_an_unused_one_removed(ctx: Context, cat: Catalog) -> None:
    admin = signed_in_staff(ctx, Role.ADMIN)
    page = admin.get("/admin/settings/payments")
    assert "No payment gateway: members of this location pay by bank transfer." in text_of(page.text)
    added = submit(
        admin,
        "/admin/settings/payments",
        "/admin/settings/payments",
        {"location_id": str(cat.location_id), **STRIPE_KEYS},
    )
    assert added.status_code == 303, added.text
    shown = admin.get("/admin/settings/payments").text
    assert "LON space now takes card payments through Stripe." in text_of(shown)
    assert "http://127.0.0.1:8000/webhooks/stripe" in shown
    assert STRIPE_KEYS["secret_key"] not in shown
    assert STRIPE_KEYS["webhook_secret"] not in shown
    with ctx.readers() as db:
        gateway = db.scalars(select(GatewayRow)).one()
        sealed = gateway.secret_key

    replaced = submit(
        admin,
        "/admin/settings/payments",
        f"/admin/settings/payments/{gateway.id}/keys",
        {"secret_key": "sk_test_replacement12345", "webhook_secret": ""},
    )
    assert replaced.status_code == 303
    assert "The secret key is replaced." in admin.get("/admin/settings/payments").text
    with ctx.readers() as db:
        row = db.get(GatewayRow, gateway.id)
        assert row is not None
        assert row.secret_key != sealed
        assert row.webhook_secret == gateway.webhook_secret

    nothing = submit(admin, "/admin/settings/payments", f"/admin/settings/payments/{gateway.id}/keys", {})
    assert nothing.status_code == 422
    assert "Enter a new secret key, a new webhook signing secret, or both." in text_of(nothing.text)

    removed = submit(admin, "/admin/settings/payments", f"/admin/settings/payments/{gateway.id}/remove")
    assert removed.status_code == 303
    with ctx.readers() as db:
        assert db.scalar(select(func.count()).select_from(GatewayRow)) == 0


def test_a_gateway_that_holds_saved_cards_is_not_removed(ctx: Context, cat: Catalog) -> None:
    from flexbill.payments.store import PaymentMethodRow

    admin = signed_in_staff(ctx, Role.ADMIN)
    data = {"location_id": str(cat.location_id), **STRIPE_KEYS}
    assert submit(admin, "/admin/settings/payments", "/admin/settings/payments", data).status_code == 303
    with ctx.sessions() as db, db.begin():
        gateway = db.scalars(select(GatewayRow)).one()
        customer_id = make_customer(db, cat)
        db.add(
            PaymentMethodRow(
                gateway_id=gateway.id, customer_id=customer_id, external_id="pm_1", kind="card", brand="visa",
                last4="4242", is_default=True, created_at=ctx.clock.now(),
            )
        )  # fmt: skip
    refused = submit(admin, "/admin/settings/payments", f"/admin/settings/payments/{gateway.id}/remove")
    assert refused.status_code == 409
    assert "has 1 saved payment methods, which stay linked to it; replace its keys instead" in text_of(refused.text)
    with ctx.readers() as db:
        assert db.scalar(select(func.count()).select_from(GatewayRow)) == 1


def test_a_bad_gateway_key_is_refused_and_a_billing_user_adds_none(ctx: Context, cat: Catalog) -> None:
    owner = signed_in_staff(ctx)
    publishable = {"location_id": str(cat.location_id), **STRIPE_KEYS, "secret_key": "pk_test_abcdefghijkl"}
    refused = submit(owner, "/admin/settings/payments", "/admin/settings/payments", publishable)
    assert refused.status_code == 422
    assert "That is a publishable key (pk_...); the secret key starts with sk_ or rk_." in text_of(refused.text)
    assert "pk_test_abcdefghijkl" not in refused.text  # keys typed are not sent back either
    short = {"location_id": str(cat.location_id), **STRIPE_KEYS, "webhook_secret": "whsec"}
    assert submit(owner, "/admin/settings/payments", "/admin/settings/payments", short).status_code == 422

    billing = signed_in_staff(ctx, Role.BILLING)
    good = {"location_id": str(cat.location_id), **STRIPE_KEYS}
    assert submit(billing, "/admin/settings/payments", "/admin/settings/payments", good).status_code == 403
    assert forged(owner, "/admin/settings/payments", good).status_code == 403
    with ctx.readers() as db:
        assert db.scalar(select(func.count()).select_from(GatewayRow)) == 0
    refused_sign_in(ctx, "/admin/settings/payments")


# --- accounting ---------------------------------------------------------------------------------------------------


def connect_through_the_console(client: TestClient, sandbox: RunningSandbox, cat: Catalog) -> str:
    """The operator's path: the console's Connect form, Xero's consent page (the sandbox agrees at once), and
    back to flexbill's callback."""
    started = submit(
        client,
        "/admin/settings/integrations",
        "/admin/settings/integrations/connect",
        {"provider": "xero", "location_id": str(cat.location_id), "base_url": sandbox.xero_url},
    )
    assert started.status_code == 303, started.text
    authorize_url = started.headers["location"]
    assert authorize_url.startswith(sandbox.xero_url)
    consent = httpx.get(authorize_url, follow_redirects=False)
    assert consent.status_code in (302, 303), consent.text
    callback = httpx.URL(consent.headers["location"])
    done = client.get(f"{callback.path}?{callback.query.decode()}")
    assert done.status_code == 200, done.text
    assert "Connected" in done.text
    link = done.text.split("<a href='")[1].split("'")[0]
    assert link.startswith("/admin/settings/integrations/")
    return link.rsplit("/", 1)[1]


def test_connecting_xero_from_the_console_and_mapping_codes_to_the_organisations_lists(
    ctx: Context, sandbox: RunningSandbox, cat: Catalog
) -> None:
    admin = signed_in_staff(ctx, Role.ADMIN)
    empty = admin.get("/admin/settings/integrations")
    assert "No accounting system is connected." in text_of(empty.text)
    assert "flexbill has no Xero app credentials" in text_of(empty.text)

    connection_id = connect_through_the_console(admin, sandbox, cat)
    listed = text_of(admin.get("/admin/settings/integrations").text)
    assert "Connected" in listed
    assert "LON space" in listed

    page = admin.get(f"/admin/settings/integrations/{connection_id}")
    assert page.status_code == 200
    words = text_of(page.text)
    assert "State Connected Authorized; flexbill renews its access by itself." in words
    assert "Last sync Never" in words
    assert "Failed 0" in words

    mapping_page = admin.get(f"/admin/settings/integrations/{connection_id}/mappings")
    assert mapping_page.status_code == 200, mapping_page.text
    source = mapping_page.text
    assert '<select id="accounts.200-LON" name="accounts.200-LON">' in source
    assert '<option value="200">200 · Sales</option>' in source
    assert "20% (VAT on Income)" in source
    assert "Location: London" in source

    london = json.dumps(["Location", "London"])
    mappings = {
        "accounts.200-LON": "200",
        "accounts.210-LON": "260",
        "tax_rates.VAT20-LON": "OUTPUT2",
        "tax_rates.ZERO-LON": "",
        "payment_account": "090",
        "tracking.LON": london,
    }
    saved = submit(admin, mapping_page.request.url.path, mapping_page.request.url.path, mappings)
    assert saved.status_code == 303, saved.text
    with ctx.readers() as db:
        row = db.get(AccountingConnectionRow, uuid.UUID(connection_id))
        assert row is not None
        stored = dict(row.mappings)
    assert stored["accounts"] == {"200-LON": "200", "210-LON": "260"}
    assert stored["tax_rates"] == {"VAT20-LON": "OUTPUT2"}
    assert stored["payment_account"] == "090"
    assert stored["tracking"] == {"LON": {"category": "Location", "option": "London"}}
    again = admin.get(f"/admin/settings/integrations/{connection_id}/mappings").text
    assert '<option value="260" selected>260 · Other Revenue</option>' in again

    bad = {**mappings, "accounts.200-LON": "999"}
    refused = submit(admin, mapping_page.request.url.path, mapping_page.request.url.path, bad)
    assert refused.status_code == 422
    assert "accounts.200-LON: xero has no active account with code 999" in text_of(refused.text)
    assert '<option value="090" selected>' in refused.text  # the choices are kept
    with ctx.readers() as db:
        row = db.get(AccountingConnectionRow, uuid.UUID(connection_id))
        assert row is not None
        assert row.mappings["accounts"]["200-LON"] == "200"


def test_connecting_quickbooks_from_the_console_maps_products_and_deposit_accounts(
    ctx: Context, sandbox: RunningSandbox, cat: Catalog
) -> None:
    """The form connects the system its link chose, with that system's sandbox suggested; QuickBooks' mapping page
    offers its products and services for our revenue accounts and its bank accounts for payments."""
    admin = signed_in_staff(ctx, Role.ADMIN)
    page = admin.get("/admin/settings/integrations", params={"provider": "quickbooks"})
    words = text_of(page.text)
    assert "Connect QuickBooks Online" in words
    assert "flexbill has no QuickBooks Online app credentials (FLEXBILL_QUICKBOOKS_CLIENT_ID" in words
    assert '<input type="hidden" name="provider" value="quickbooks">' in page.text
    assert "/quickbooks" in page.text.split('id="base_url"')[1].split(">")[0]  # the suggested sandbox address

    started = submit(
        admin,
        "/admin/settings/integrations?provider=quickbooks",
        "/admin/settings/integrations/connect",
        {"provider": "quickbooks", "location_id": str(cat.location_id), "base_url": sandbox.quickbooks_url},
    )
    assert started.status_code == 303, started.text
    consent = httpx.get(started.headers["location"], follow_redirects=False)
    callback = httpx.URL(consent.headers["location"])
    assert "realmId" in callback.params
    done = admin.get(f"{callback.path}?{callback.query.decode()}")
    assert "flexbill is connected to quickbooks organisation Demo Coworking Ltd" in done.text
    connection_id = done.text.split("<a href='")[1].split("'")[0].rsplit("/", 1)[1]

    mapping_page = admin.get(f"/admin/settings/integrations/{connection_id}/mappings")
    accounts = mapping_page.text.split('name="accounts.200-LON"')[1].split("</select>")[0]
    assert "Memberships" in accounts
    assert "Business Bank Account" not in accounts
    payments = mapping_page.text.split('name="payment_account"')[1].split("</select>")[0]
    assert "Business Bank Account" in payments
    assert "Memberships" not in payments
    mappings = {"accounts.200-LON": "2", "accounts.210-LON": "3", "tax_rates.VAT20-LON": "2",
                "tax_rates.ZERO-LON": "4", "payment_account": "35"}  # fmt: skip
    saved = submit(admin, mapping_page.request.url.path, mapping_page.request.url.path, mappings)
    assert saved.status_code == 303, saved.text
    with ctx.readers() as db:
        row = db.get(AccountingConnectionRow, uuid.UUID(connection_id))
        assert row is not None
        assert (row.provider, row.tenant_name) == ("quickbooks", "Demo Coworking Ltd")
        assert row.mappings["account_names"] == {"2": "Memberships", "3": "Meeting rooms and extras"}


def test_a_connection_serves_the_locations_chosen_and_reconnects(
    ctx: Context, sandbox: RunningSandbox, cat: Catalog, client: TestClient
) -> None:
    with ctx.sessions() as db, db.begin():
        berlin = make_catalog(db, code="BER", currency="EUR")
    owner = signed_in_staff(ctx)
    connection_id = connect_through_the_console(owner, sandbox, cat)
    page = f"/admin/settings/integrations/{connection_id}"
    both = {"location_ids": [str(cat.location_id), str(berlin.location_id)], "numbering": "flexbill"}
    assert submit(owner, page, page, both).status_code == 303
    served = client.get(f"/api/v1/accounting/connections/{connection_id}").json()
    assert set(served["location_ids"]) == {str(cat.location_id), str(berlin.location_id)}
    assert served["numbering"] == "flexbill"

    none = submit(owner, page, page, {"numbering": "flexbill"})
    assert none.status_code == 422
    assert "Choose at least one location for this organisation." in text_of(none.text)

    again = submit(owner, page, f"{page}/reconnect")
    assert again.status_code == 303
    assert again.headers["location"].startswith(sandbox.xero_url)

    reader = signed_in_staff(ctx, Role.READ_ONLY)
    assert "Reconnect" not in reader.get(page).text
    assert submit(reader, page, page, {"location_ids": [str(cat.location_id)]}).status_code == 403
    assert forged(owner, page, {"location_ids": [str(cat.location_id)]}).status_code == 403
    served = client.get(f"/api/v1/accounting/connections/{connection_id}").json()
    assert len(served["location_ids"]) == 2
    refused_sign_in(ctx, page)


def test_connecting_a_location_twice_or_by_a_billing_user_is_refused(
    ctx: Context, sandbox: RunningSandbox, cat: Catalog
) -> None:
    owner = signed_in_staff(ctx)
    connect_through_the_console(owner, sandbox, cat)
    data = {"provider": "xero", "location_id": str(cat.location_id), "base_url": sandbox.xero_url}
    twice = submit(owner, "/admin/settings/integrations", "/admin/settings/integrations/connect", data)
    assert twice.status_code == 409
    assert "Location LON already syncs to xero" in text_of(twice.text)
    billing = signed_in_staff(ctx, Role.BILLING)
    assert (
        submit(billing, "/admin/settings/integrations", "/admin/settings/integrations/connect", data).status_code == 403
    )
    with ctx.readers() as db:
        assert db.scalar(select(func.count()).select_from(AccountingConnectionRow)) == 1
    refused_sign_in(ctx, "/admin/settings/integrations")


# --- webhooks -----------------------------------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[bytes]]]:
    """A webhook receiver over real HTTP on loopback: it keeps what it is sent and answers 200."""
    received: list[bytes] = []
    lock = threading.Lock()

    async def take(request: Request) -> PlainTextResponse:
        body = await request.body()
        with lock:
            received.append(body)
        return PlainTextResponse("thanks, got it")

    with serving(Starlette(routes=[Route("/in", take, methods=["POST"])])) as base:
        yield f"{base}/in", received


def test_a_webhook_endpoint_is_added_with_its_secret_shown_once_and_changed(ctx: Context) -> None:
    admin = signed_in_staff(ctx, Role.ADMIN)
    assert "No webhook endpoints yet." in text_of(admin.get("/admin/settings/webhooks").text)
    data = {
        "url": "https://hooks.example.com/flexbill",
        "description": "Booking system",
        "event_types": ["invoice.paid", "payment.failed"],
    }
    made = submit(admin, "/admin/settings/webhooks", "/admin/settings/webhooks", data)
    assert made.status_code == 201, made.text
    assert "Copy the signing secret now: it is not shown again." in text_of(made.text)
    secret = made.text.split('id="secret" class="secret" readonly value="')[1].split('"')[0]
    assert secret.startswith("whsec_")
    with ctx.readers() as db:
        endpoint = db.scalars(select(WebhookEndpointRow)).one()
        assert events.endpoint_secret(db, ctx.settings, endpoint.id) == secret
    assert endpoint.event_types == ["invoice.paid", "payment.failed"]
    page = f"/admin/settings/webhooks/{endpoint.id}"
    assert secret not in admin.get(page).text
    assert "https://hooks.example.com/flexbill" in admin.get("/admin/settings/webhooks").text

    changed = {"url": "https://hooks.example.com/v2", "description": "", "event_types": []}
    assert submit(admin, page, page, changed).status_code == 303
    with ctx.readers() as db:
        endpoint = events.get_endpoint(db, endpoint.id)
    assert (endpoint.url, endpoint.description, endpoint.event_types) == ("https://hooks.example.com/v2", "", ["*"])

    rolled = submit(admin, page, f"{page}/roll-secret")
    assert rolled.status_code == 200
    new_secret = rolled.text.split('id="secret" class="secret" readonly value="')[1].split('"')[0]
    assert new_secret != secret
    with ctx.readers() as db:
        assert events.endpoint_secret(db, ctx.settings, endpoint.id) == new_secret

    assert submit(admin, page, f"{page}/disable").status_code == 303
    assert "it gets nothing more" in admin.get(page).text
    with ctx.readers() as db:
        assert events.get_endpoint(db, endpoint.id).enabled is False
    assert submit(admin, page, f"{page}/enable").status_code == 303
    assert submit(admin, page, f"{page}/delete").status_code == 303
    assert "is deleted" in admin.get("/admin/settings/webhooks").text
    with ctx.readers() as db:
        assert events.list_endpoints(db) == []


def test_a_bad_webhook_endpoint_is_refused_and_a_billing_user_adds_none(ctx: Context) -> None:
    owner = signed_in_staff(ctx)
    plain = {"url": "http://hooks.example.com/flexbill", "event_types": ["invoice.paid"]}
    refused = submit(owner, "/admin/settings/webhooks", "/admin/settings/webhooks", plain)
    assert refused.status_code == 422
    words = text_of(refused.text)
    assert "use https: events are sent in plain http only to this machine" in words
    assert 'value="http://hooks.example.com/flexbill"' in refused.text
    assert 'value="invoice.paid" checked' in refused.text
    unknown = {"url": "https://hooks.example.com/x", "event_types": ["invoice.payed"]}
    assert submit(owner, "/admin/settings/webhooks", "/admin/settings/webhooks", unknown).status_code == 422

    billing = signed_in_staff(ctx, Role.BILLING)
    good = {"url": "https://hooks.example.com/x"}
    assert "Add the endpoint" not in billing.get("/admin/settings/webhooks").text
    assert submit(billing, "/admin/settings/webhooks", "/admin/settings/webhooks", good).status_code == 403
    assert forged(owner, "/admin/settings/webhooks", good).status_code == 403
    with ctx.readers() as db:
        assert db.scalar(select(func.count()).select_from(WebhookEndpointRow)) == 0
    refused_sign_in(ctx, "/admin/settings/webhooks")


def test_the_delivery_log_shows_each_delivery_and_sends_one_again(
    ctx: Context, cat: Catalog, receiver: tuple[str, list[bytes]]
) -> None:
    url, received = receiver
    ctx.settings = ctx.settings.model_copy(update={"webhooks_allow_private": True})  # the receiver is on 127.0.0.1
    admin = signed_in_staff(ctx, Role.ADMIN)
    data = {"url": url, "event_types": ["invoice.created"]}
    assert submit(admin, "/admin/settings/webhooks", "/admin/settings/webhooks", data).status_code == 201
    with ctx.sessions() as db, db.begin():
        update_billing_rules(db, BillingRulesChanges(billing_day=1))
        customer_id = make_customer(db, cat)
        customers.create_membership(
            db,
            customers.NewMembership(
                customer_id=customer_id, plan_id=cat.hot_desk_id, location_id=cat.location_id,
                start_date=date(2026, 11, 1), quantity=Decimal(1),
            ),
        )  # fmt: skip
    assert len(run_bill_run(ctx.sessions, ctx.clock, date(2026, 12, 1)).invoice_ids) == 1
    Worker(ctx, default_handlers(ctx)).run_until_idle()
    assert len(received) == 1

    with ctx.readers() as db:
        endpoint = db.scalars(select(WebhookEndpointRow)).one()
        delivery = db.scalars(select(WebhookDeliveryRow)).one()
    page = f"/admin/settings/webhooks/{endpoint.id}"
    log = text_of(admin.get(page).text)
    assert "invoice.created" in log
    assert "Delivered HTTP 200" in log
    assert "thanks, got it" in log

    resent = submit(admin, page, f"{page}/deliveries/{delivery.id}/resend")
    assert resent.status_code == 303
    assert "will be sent again now" in admin.get(page).text
    Worker(ctx, default_handlers(ctx)).run_until_idle()
    assert len(received) == 2
    assert received[0] == received[1]  # the same event, byte for byte
    with ctx.readers() as db:
        assert db.get(WebhookDeliveryRow, delivery.id).attempts == 2  # type: ignore[union-attr]

    reader = signed_in_staff(ctx, Role.READ_ONLY)
    assert "Send again" not in reader.get(page).text
    assert submit(reader, page, f"{page}/deliveries/{delivery.id}/resend").status_code == 403
    assert forged(admin, f"{page}/deliveries/{delivery.id}/resend").status_code == 403
    with ctx.readers() as db:
        waiting = db.scalar(select(func.count()).select_from(TaskRow).where(TaskRow.status == "pending"))
    assert waiting == 0
    refused_sign_in(ctx, page)


def test_the_csrf_token_of_one_browser_does_not_work_in_another(ctx: Context) -> None:
    owner = signed_in_staff(ctx)
    token = csrf_token(owner, "/admin/settings/billing")
    other = signed_in_staff(ctx, Role.ADMIN)
    stolen = other.post("/admin/settings/billing", data={**BILLING_FORM, "csrf_token": token})
    assert stolen.status_code == 403
    with ctx.readers() as db:
        assert get_billing_rules(db).billing_day == 1
