"""The console's customers, used as an operator uses them: find a customer, add and change one, add, change and end
memberships, add one-off fees, and be refused what the role, the rules or a forged form may not do, with nothing
changed. What the pages write is read back through the JSON API.

The test clock stands at 26 Nov 2026; the plan (Hot desk) costs 300.00 a month.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal
from html import unescape
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from flexbill.access.model import Role
from flexbill.access.store import AuditRow
from flexbill.accounting.model import RecordKind, SyncStatus
from flexbill.accounting.store import AccountingConnectionRow, SyncRecordRow
from flexbill.billing.service import BillingRulesChanges, run_bill_run, update_billing_rules
from flexbill.bootstrap import Context
from flexbill.catalog import service as catalog
from flexbill.customers import service as customers
from flexbill.customers.store import CustomerRow, FeeRow, MembershipRow
from flexbill.web.api.views import customer_out, fee_out, membership_out
from tests.support import Catalog, make_catalog, make_customer
from tests.web import browser, signed_in_staff, submit, text_of

TIMES = "\N{MULTIPLICATION SIGN}"


def _text(html: str) -> str:
    """What a person reads on the page, entities and all."""
    return unescape(text_of(html))


def _customer(ctx: Context, cat: Catalog, name: str = "Acme Ltd", **fields: Any) -> uuid.UUID:
    with ctx.sessions() as db, db.begin():
        return make_customer(db, cat, name, **fields)


def _membership(ctx: Context, cat: Catalog, customer_id: uuid.UUID, start: dt.date, **fields: Any) -> uuid.UUID:
    with ctx.sessions() as db, db.begin():
        command = customers.NewMembership(
            customer_id=customer_id, plan_id=cat.hot_desk_id, location_id=cat.location_id, start_date=start, **fields
        )
        return customers.create_membership(db, command).id


def _fee(ctx: Context, cat: Catalog, customer_id: uuid.UUID, day: dt.date, description: str) -> uuid.UUID:
    with ctx.sessions() as db, db.begin():
        command = customers.NewFee(
            customer_id=customer_id, location_id=cat.location_id, date=day, description=description,
            quantity=Decimal(2), unit_price=Decimal("25.00"), revenue_account_id=cat.fees_account_id,
        )  # fmt: skip
        return customers.create_fee(db, command).id


def _state(ctx: Context) -> dict[str, Any]:
    """Everything the customers' pages can change, as the API shows it, and the length of the audit trail."""
    with ctx.readers() as db:
        return {
            "customers": [
                customer_out(r).model_dump() for r in db.scalars(select(CustomerRow).order_by(CustomerRow.id))
            ],
            "memberships": [
                membership_out(r).model_dump() for r in db.scalars(select(MembershipRow).order_by(MembershipRow.id))
            ],
            "fees": [fee_out(r).model_dump() for r in db.scalars(select(FeeRow).order_by(FeeRow.id))],
            "audit": db.scalar(select(func.count()).select_from(AuditRow)),
        }


def _api(client: TestClient, path: str) -> Any:
    response = client.get(f"/api/v1{path}")
    assert response.status_code == 200, response.text
    return response.json()


# --- The list ----------------------------------------------------------------------------------------------------


def test_the_list_searches_filters_pages_and_counts_active_memberships(ctx: Context, cat: Catalog) -> None:
    with ctx.sessions() as db, db.begin():
        manchester = make_catalog(db, code="MAN")
    acme = _customer(ctx, cat, "Acme Ltd")
    _membership(ctx, cat, acme, dt.date(2026, 1, 1))
    _membership(ctx, cat, acme, dt.date(2026, 11, 26), quantity=Decimal(2))  # starts today: active
    _membership(ctx, cat, acme, dt.date(2026, 1, 1), end_date=dt.date(2026, 11, 25))  # ended yesterday
    _membership(ctx, cat, acme, dt.date(2026, 12, 1))  # starts next month
    birch = _customer(ctx, manchester, "Birch Studio", kind="individual")
    with ctx.sessions() as db, db.begin():
        customers.create_membership(
            db,
            customers.NewMembership(
                customer_id=birch, plan_id=manchester.hot_desk_id, location_id=manchester.location_id,
                start_date=dt.date(2026, 11, 1),
            ),
        )  # fmt: skip
    _customer(ctx, cat, "cedar works")
    page = signed_in_staff(ctx, Role.READ_ONLY)

    listed = _text(page.get("/admin/customers").text)
    assert "Acme Ltd Company acme@example.com LON space 2" in listed
    assert "Birch Studio Individual birch@example.com MAN space 1" in listed
    assert "cedar works Company cedar@example.com LON space 0" in listed
    assert listed.index("Acme Ltd") < listed.index("Birch Studio") < listed.index("cedar works")  # by name, any case
    assert "New customer" not in listed  # a read-only user is not offered what they may not do

    def names(query: str) -> list[str]:
        html = page.get(f"/admin/customers?{query}").text
        return re.findall(r'<a href="/admin/customers/[0-9a-f-]{36}">([^<]+)</a>', html)

    assert names("q=BIRCH") == ["Birch Studio"]
    assert names("q=acme%40example") == ["Acme Ltd"]  # the email too
    assert names("q=%25") == []  # a % is looked for as itself
    assert names("kind=individual") == ["Birch Studio"]
    assert names(f"location_id={cat.location_id}") == ["Acme Ltd", "cedar works"]
    assert names(f"location_id={cat.location_id}&kind=company&q=works") == ["cedar works"]

    first = page.get(f"/admin/customers?location_id={cat.location_id}&limit=1").text
    assert re.findall(r'<a href="/admin/customers/[0-9a-f-]{36}">([^<]+)</a>', first) == ["Acme Ltd"]
    next_page = re.search(r'href="([^"]+)" rel="next"', first)
    assert next_page
    assert names(next_page.group(1).replace("&amp;", "&").split("?", 1)[1]) == ["cedar works"]
    assert f"location_id={cat.location_id}" in next_page.group(1)  # the filter is kept

    refused = page.get("/admin/customers?location_id=nowhere")
    assert refused.status_code == 422
    assert "'nowhere' is not one of the locations offered" in _text(refused.text)
    assert page.get("/admin/customers?kind=robot").status_code == 422


# --- Adding and changing a customer ------------------------------------------------------------------------------


def test_billing_adds_a_customer_with_every_field(ctx: Context, cat: Catalog, client: TestClient) -> None:
    page = signed_in_staff(ctx, Role.BILLING)
    form = {
        "name": "Delta Design", "kind": "individual", "email": "accounts@delta.test",
        "address_line1": "1 High St", "address_line2": "Floor 2", "city": "London", "region": "Greater London",
        "postal_code": "E1 6AN", "country": "gb", "tax_number": "GB123456789",
        "home_location_id": str(cat.location_id), "tax_rate_id": str(cat.zero_id),
    }  # fmt: skip
    added = submit(page, "/admin/customers/new", "/admin/customers/new", form)
    assert added.status_code == 303
    shown = _text(page.get(added.headers["location"]).text)
    assert "Delta Design added." in shown
    assert "1 High St Floor 2 London E1 6AN Greater London GB" in shown
    assert "No VAT on all their invoices" in shown

    (customer,) = _api(client, "/customers?q=delta")["items"]
    assert added.headers["location"] == f"/admin/customers/{customer['id']}"
    expected = {**form, "country": "GB"}
    assert {name: customer[name] for name in form} == expected
    with ctx.readers() as db:
        actors = set(db.scalars(select(AuditRow.actor_label).where(AuditRow.entity_id == customer["id"])))
    assert actors == {"billing@example.com"}  # the change is on the audit trail under the user's name


def test_a_refused_new_customer_shows_why_keeps_what_was_typed_and_adds_nothing(ctx: Context, cat: Catalog) -> None:
    page = signed_in_staff(ctx, Role.BILLING)
    before = _state(ctx)
    form = {
        "name": "Delta Design",
        "kind": "company",
        "email": "not-an-email",
        "home_location_id": str(cat.location_id),
    }
    refused = submit(page, "/admin/customers/new", "/admin/customers/new", form)
    assert refused.status_code == 422
    assert "Billing email: 'not-an-email' is not an email address such as billing@example.com" in _text(refused.text)
    assert '<div class="error" role="alert">' in refused.text
    assert re.search(r'id="email"[^>]*value="not-an-email"[^>]*aria-invalid="true"', refused.text)
    assert '<p class="field-error" id="email-error">' in refused.text
    assert 'value="Delta Design"' in refused.text

    missing = submit(page, "/admin/customers/new", "/admin/customers/new", {**form, "email": "a@b.test", "name": ""})
    assert missing.status_code == 422
    assert "Name: is required" in _text(missing.text)

    elsewhere = {**form, "email": "a@b.test", "home_location_id": str(uuid.UUID(int=7))}
    unknown = submit(page, "/admin/customers/new", "/admin/customers/new", elsewhere)
    assert unknown.status_code == 404
    assert 'id="home_location_id-error"' in unknown.text
    assert _state(ctx) == before


def _known_to_accounting(ctx: Context, customer_id: uuid.UUID) -> None:
    """The customer is a contact in a connected accounting system, synced, with sync set to manual."""
    with ctx.sessions() as db, db.begin():
        connection = AccountingConnectionRow(provider="xero", status="connected", redirect_uri="http://127.0.0.1/")
        db.add(connection)
        db.flush()
        db.add(
            SyncRecordRow(
                kind=RecordKind.CUSTOMER.value, record_id=customer_id, connection_id=connection.id,
                status=SyncStatus.SYNCED.value, external_id="contact-1",
            )
        )  # fmt: skip
        update_billing_rules(db, BillingRulesChanges(accounting_sync="manual"))


def _contact_status(ctx: Context, customer_id: uuid.UUID) -> str:
    with ctx.readers() as db:
        return db.scalars(select(SyncRecordRow.status).where(SyncRecordRow.record_id == customer_id)).one()


def test_billing_changes_a_customer_and_only_what_changed_is_written(
    ctx: Context, cat: Catalog, client: TestClient
) -> None:
    acme = _customer(ctx, cat, city="London", tax_number="GB1")
    _known_to_accounting(ctx, acme)
    page = signed_in_staff(ctx, Role.BILLING)
    edit = f"/admin/customers/{acme}/edit"
    shown = page.get(edit).text
    assert 'value="London"' in shown
    assert 'value="GB1"' in shown

    unchanged = _state(ctx)
    form = {
        "name": "Acme Ltd", "kind": "company", "email": "acme@example.com", "city": "London", "tax_number": "GB1",
        "home_location_id": str(cat.location_id), "tax_rate_id": "",
    }  # fmt: skip
    saved = submit(page, edit, edit, form)
    assert saved.status_code == 303
    assert _state(ctx) == unchanged  # the form sent every field; none differed, so nothing was written
    assert _contact_status(ctx, acme) == "synced"  # and the contact in accounting is still up to date

    changed = {**form, "name": "Acme Holdings", "tax_number": "", "tax_rate_id": str(cat.zero_id)}
    saved = submit(page, edit, edit, changed)
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/admin/customers/{acme}"
    assert "Customer details saved." in _text(page.get(saved.headers["location"]).text)
    customer = _api(client, f"/customers/{acme}")
    assert (customer["name"], customer["tax_number"], customer["tax_rate_id"]) == (
        "Acme Holdings",
        None,
        str(cat.zero_id),
    )
    assert customer["city"] == "London"
    assert _contact_status(ctx, acme) == "out_of_date"
    with ctx.readers() as db:
        (change,) = db.scalars(select(AuditRow).where(AuditRow.entity_id == str(acme), AuditRow.action.like("%update")))
    assert set(change.after or {}) == {"name", "tax_number", "tax_rate_id"}


def test_a_refused_change_of_customer_shows_why_and_changes_nothing(ctx: Context, cat: Catalog) -> None:
    acme = _customer(ctx, cat)
    page = signed_in_staff(ctx)
    edit = f"/admin/customers/{acme}/edit"
    before = _state(ctx)
    form = {"name": "", "kind": "company", "email": "acme@example.com", "home_location_id": str(cat.location_id)}
    refused = submit(page, edit, edit, form)
    assert refused.status_code == 422
    assert "Name: name cannot be empty" in _text(refused.text)  # the use case's own rule and words
    assert '<p class="field-error" id="name-error">name cannot be empty</p>' in refused.text

    refused = submit(page, edit, edit, {**form, "name": "Acme Ltd", "country": "Britain"})
    assert refused.status_code == 422
    assert "a country is a 2-letter ISO 3166 code such as GB, not 'BRITAIN'" in _text(refused.text)
    assert 'value="Britain"' in refused.text
    assert _state(ctx) == before


# --- One customer ------------------------------------------------------------------------------------------------


def test_the_customer_page_shows_memberships_fees_and_what_is_invoiced(ctx: Context, cat: Catalog) -> None:
    acme = _customer(ctx, cat)
    _membership(ctx, cat, acme, dt.date(2026, 11, 10))
    _membership(
        ctx, cat, acme, dt.date(2027, 1, 1), end_date=dt.date(2027, 6, 30), quantity=Decimal(3),
        price=Decimal("250"), discount_type="percent", discount_value=Decimal("10"),
    )  # fmt: skip
    _fee(ctx, cat, acme, dt.date(2026, 11, 20), "Meeting room, 2 hours")
    run_bill_run(ctx.sessions, ctx.clock, dt.date(2026, 12, 1))  # November from the 10th, December, the fee
    _fee(ctx, cat, acme, dt.date(2026, 12, 5), "Printing")
    page = signed_in_staff(ctx, Role.READ_ONLY)

    html = page.get(f"/admin/customers/{acme}").text
    shown = _text(html)
    assert "Hot desk LON space 10 Nov 2026 Ongoing 1 £300.00 31 Dec 2026 Active" in shown
    assert (
        "Hot desk LON space 01 Jan 2027 30 Jun 2027 3 £250.00 (own price) less 10% Not yet invoiced Starts later"
        in (shown)
    )
    assert f"05 Dec 2026 Printing (2 {TIMES} £25.00) LON space £50.00 Next bill run" in shown
    assert f"20 Nov 2026 Meeting room, 2 hours (2 {TIMES} £25.00) LON space £50.00 On LON-0001" in shown
    assert shown.index("Printing") < shown.index("Meeting room")  # newest first
    assert f'href="/admin/invoices?customer_id={acme}"' in html
    assert "Change details" not in shown  # a read-only user is not offered changes
    assert "Add membership" not in shown


def test_the_fees_of_a_customer_come_a_page_at_a_time(ctx: Context, cat: Catalog) -> None:
    acme = _customer(ctx, cat)
    for day in range(1, 28):
        _fee(ctx, cat, acme, dt.date(2026, 10, day), f"Day pass {day}")
    page = signed_in_staff(ctx, Role.READ_ONLY)
    first = _text(page.get(f"/admin/customers/{acme}").text)
    assert "Day pass 27" in first
    assert "Day pass 3 " in first
    assert "Day pass 2 " not in first
    second = _text(page.get(f"/admin/customers/{acme}?offset=25").text)
    assert "Day pass 2 " in second
    assert "Day pass 1 " in second
    assert "Day pass 27" not in second


# --- Memberships and fees ----------------------------------------------------------------------------------------


def test_billing_adds_a_membership_and_a_fee(ctx: Context, cat: Catalog, client: TestClient) -> None:
    acme = _customer(ctx, cat)
    page = signed_in_staff(ctx, Role.BILLING)
    new = f"/admin/customers/{acme}/memberships/new"
    assert f'<option value="{cat.location_id}" selected>' in page.get(new).text  # the home location to start with
    added = submit(page, new, new, {
        "plan_id": str(cat.hot_desk_id), "location_id": str(cat.location_id), "start_date": "2026-12-01",
        "end_date": "2027-11-30", "quantity": "2", "price": "280.50", "discount_type": "amount", "discount_value": "20",
    })  # fmt: skip
    assert added.status_code == 303
    assert "Membership of Hot desk added, from 01 Dec 2026." in _text(page.get(added.headers["location"]).text)
    (membership,) = _api(client, f"/memberships?customer_id={acme}")["items"]
    assert membership | {"id": None} == {
        "id": None, "customer_id": str(acme), "plan_id": str(cat.hot_desk_id), "location_id": str(cat.location_id),
        "start_date": "2026-12-01", "end_date": "2027-11-30", "quantity": "2", "price": "280.50",
        "discount_type": "amount", "discount_value": "20", "billed_until": None,
    }  # fmt: skip

    new_fee = f"/admin/customers/{acme}/fees/new"
    assert 'value="2026-11-26"' in page.get(new_fee).text  # today, to start with
    added = submit(page, new_fee, new_fee, {
        "description": "Meeting room, 3 hours", "date": "2026-11-24", "quantity": "3", "unit_price": "30",
        "location_id": str(cat.location_id), "revenue_account_id": str(cat.fees_account_id),
        "tax_rate_id": str(cat.zero_id),
    })  # fmt: skip
    assert added.status_code == 303
    shown = _text(page.get(added.headers["location"]).text)
    assert "Fee added: the next bill run invoices it." in shown
    assert f"Meeting room, 3 hours (3 {TIMES} £30.00) LON space £90.00 Next bill run" in shown
    (fee,) = _api(client, f"/fees?customer_id={acme}")["items"]
    assert (fee["date"], fee["quantity"], fee["unit_price"], fee["tax_rate_id"]) == (
        "2026-11-24",
        "3",
        "30.00",
        str(cat.zero_id),
    )


def test_a_refused_membership_or_fee_shows_why_and_adds_nothing(ctx: Context, cat: Catalog) -> None:
    acme = _customer(ctx, cat)
    page = signed_in_staff(ctx, Role.BILLING)
    before = _state(ctx)
    new = f"/admin/customers/{acme}/memberships/new"
    form = {"plan_id": str(cat.hot_desk_id), "location_id": str(cat.location_id), "start_date": "2026-12-01"}
    refused = submit(page, new, new, {**form, "end_date": "2026-11-30", "quantity": "1"})
    assert refused.status_code == 422
    assert "Last day: end_date 2026-11-30 is before start_date 2026-12-01" in _text(refused.text)
    assert 'id="end_date-error"' in refused.text
    assert 'value="2026-11-30"' in refused.text

    refused = submit(page, new, new, {**form, "quantity": "1", "discount_value": "10"})
    assert refused.status_code == 422
    assert "discount_type and discount_value go together" in _text(refused.text)

    with ctx.sessions() as db, db.begin():
        update_billing_rules(db, BillingRulesChanges(lock_date=dt.date(2026, 10, 31)))
    locked = submit(page, new, new, {**form, "start_date": "2026-10-01", "quantity": "1"})
    assert locked.status_code == 422
    assert 'id="start_date-error"' in locked.text

    new_fee = f"/admin/customers/{acme}/fees/new"
    refused = submit(page, new_fee, new_fee, {
        "description": "Refund", "date": "2026-11-24", "quantity": "1", "unit_price": "-30",
        "location_id": str(cat.location_id), "revenue_account_id": str(cat.fees_account_id),
    })  # fmt: skip
    assert refused.status_code == 422
    assert "Unit price: must not be negative" in _text(refused.text)
    assert 'id="unit_price-error"' in refused.text
    assert 'value="Refund"' in refused.text
    assert _state(ctx)["memberships"] == before["memberships"]
    assert _state(ctx)["fees"] == before["fees"]


def test_billing_changes_and_ends_a_membership(ctx: Context, cat: Catalog, client: TestClient) -> None:
    acme = _customer(ctx, cat)
    membership = _membership(ctx, cat, acme, dt.date(2026, 12, 1))
    with ctx.sessions() as db, db.begin():
        office = catalog.create_plan(
            db, catalog.NewPlan(name="Office", price=Decimal("900"), revenue_account_id=cat.memberships_account_id)
        )
    page = signed_in_staff(ctx, Role.BILLING)
    edit = f"/admin/customers/{acme}/memberships/{membership}/edit"
    shown = page.get(edit).text
    assert "Not invoiced yet: every detail can still change." in _text(shown)
    assert 'name="start_date"' in shown

    changed = submit(page, edit, edit, {
        "plan_id": str(office.id), "location_id": str(cat.location_id), "start_date": "2026-12-15", "end_date": "",
        "quantity": "3", "price": "", "discount_type": "percent", "discount_value": "5",
    })  # fmt: skip
    assert changed.status_code == 303
    assert "Membership saved." in _text(page.get(changed.headers["location"]).text)
    after = _api(client, f"/memberships/{membership}")
    assert (after["plan_id"], after["start_date"], after["quantity"], after["discount_value"]) == (
        str(office.id),
        "2026-12-15",
        "3",
        "5",
    )

    end = f"/admin/customers/{acme}/memberships/{membership}/end"
    ended = submit(page, edit, end, {"end_date": "2027-03-31"})
    assert ended.status_code == 303
    assert "Membership ends on 31 Mar 2027." in _text(page.get(ended.headers["location"]).text)
    assert _api(client, f"/memberships/{membership}")["end_date"] == "2027-03-31"
    assert _api(client, f"/memberships/{membership}")["quantity"] == "3"  # the end form changes the end alone

    refused = submit(page, edit, end, {"end_date": "2026-12-01"})
    assert refused.status_code == 422
    assert "end_date 2026-12-01 is before start_date 2026-12-15" in _text(refused.text)
    assert '<p class="field-error" id="end-on-error">' in refused.text
    assert _api(client, f"/memberships/{membership}")["end_date"] == "2027-03-31"


def test_an_invoiced_membership_offers_only_what_can_still_change(
    ctx: Context, cat: Catalog, client: TestClient
) -> None:
    acme = _customer(ctx, cat)
    membership = _membership(ctx, cat, acme, dt.date(2026, 11, 10), end_date=dt.date(2027, 2, 28))
    run_bill_run(ctx.sessions, ctx.clock, dt.date(2026, 12, 1))
    with ctx.sessions() as db, db.begin():
        update_billing_rules(db, BillingRulesChanges(lock_date=dt.date(2026, 11, 30)))
    page = signed_in_staff(ctx, Role.BILLING)
    edit = f"/admin/customers/{acme}/memberships/{membership}/edit"
    shown = page.get(edit).text
    assert "Invoiced up to 31 Dec 2026." in _text(shown)
    assert "its location and first day cannot change" in _text(shown)
    assert 'name="start_date"' not in shown
    assert 'name="location_id"' not in shown

    form = {"plan_id": str(cat.hot_desk_id), "end_date": "2027-02-28", "quantity": "2", "price": ""}
    saved = submit(page, edit, edit, form)
    assert saved.status_code == 303
    assert _api(client, f"/memberships/{membership}")["quantity"] == "2"

    before = _state(ctx)
    forced = submit(page, edit, edit, {**form, "start_date": "2026-11-01"})  # not offered, sent all the same
    assert forced.status_code == 409
    assert "this membership has been invoiced, so its start date cannot change" in _text(forced.text)
    assert _state(ctx) == before


# --- Who may do what ---------------------------------------------------------------------------------------------


def _every_change(ctx: Context, cat: Catalog) -> list[tuple[str, str, dict[str, str]]]:
    """(a page holding a form, where it posts, what it sends) for every form of the customers' pages."""
    acme = _customer(ctx, cat)
    membership = _membership(ctx, cat, acme, dt.date(2026, 12, 1))
    customer = {"name": "Delta", "kind": "company", "email": "d@delta.test", "home_location_id": str(cat.location_id)}
    membership_form = {
        "plan_id": str(cat.hot_desk_id), "location_id": str(cat.location_id), "start_date": "2026-12-01",
        "quantity": "2",
    }  # fmt: skip
    fee = {
        "description": "Printing", "date": "2026-11-24", "quantity": "1", "unit_price": "3",
        "location_id": str(cat.location_id), "revenue_account_id": str(cat.fees_account_id),
    }  # fmt: skip
    detail = f"/admin/customers/{acme}"
    return [
        ("/admin/customers", "/admin/customers/new", customer),
        (detail, f"{detail}/edit", customer),
        (detail, f"{detail}/memberships/new", membership_form),
        (detail, f"{detail}/memberships/{membership}/edit", membership_form),
        (detail, f"{detail}/memberships/{membership}/end", {"end_date": "2027-01-31"}),
        (detail, f"{detail}/fees/new", fee),
    ]


def test_a_read_only_user_is_refused_every_change(ctx: Context, cat: Catalog) -> None:
    changes = _every_change(ctx, cat)
    page = signed_in_staff(ctx, Role.READ_ONLY)
    before = _state(ctx)
    for holder, action, data in changes:
        refused = submit(page, holder, action, data)
        assert refused.status_code == 403, action
        assert "your role (Read-only) does not allow this" in _text(refused.text)
    assert _state(ctx) == before


def test_without_signing_in_every_page_and_form_leads_to_sign_in(ctx: Context, cat: Catalog) -> None:
    changes = _every_change(ctx, cat)
    acme = changes[1][0]
    stranger = browser(ctx)
    for path in ("/admin/customers?q=acme", acme, f"{acme}/edit", f"{acme}/fees/new"):
        response = stranger.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/admin/sign-in?next=/admin/customers")
    before = _state(ctx)
    for _holder, action, data in changes:
        response = stranger.post(action, data=data)
        assert response.status_code == 303, action
        assert response.headers["location"] == f"/admin/sign-in?next={action}"
    assert _state(ctx) == before


def test_a_forged_form_is_refused_and_changes_nothing(ctx: Context, cat: Catalog) -> None:
    changes = _every_change(ctx, cat)
    page = signed_in_staff(ctx)
    page.get("/admin/customers")  # the browser holds its CSRF cookie
    before = _state(ctx)
    for _holder, action, data in changes:
        forged = page.post(action, data={**data, "csrf_token": "0" * 64})
        assert forged.status_code == 403, action
        assert "Form expired" in _text(forged.text)
    holder, action, data = changes[0]
    other_site = submit(page, holder, action, data, headers={"origin": "https://evil.example"})
    assert other_site.status_code == 403
    assert _state(ctx) == before
