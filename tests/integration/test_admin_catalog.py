"""The console's catalog, used as an operator sets up a space: locations (with what their invoices say and their
logo), tax rates of one or more components, revenue accounts and plans; refused with the field named when a value
is wrong, and refused outright when the role or the form may not change anything, with nothing changed. What the
pages write is read back through the JSON API."""

from __future__ import annotations

import re
import uuid
from html import unescape
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from flexbill.access.model import Role
from flexbill.access.store import AuditRow
from flexbill.bootstrap import Context
from flexbill.catalog.service import set_location_logo
from flexbill.catalog.store import LocationRow, PlanRow, RevenueAccountRow, TaxRateRow
from flexbill.web.api.views import location_out, plan_out, revenue_account_out, tax_rate_out
from tests.support import Catalog, make_customer
from tests.web import browser, csrf_token, signed_in_staff, submit, text_of

CATALOG_TABLES = ("locations", "tax_rates", "tax_rate_components", "revenue_accounts", "plans")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # the signature is what the use case checks


def _text(html: str) -> str:
    """What a person reads on the page, entities and all."""
    return unescape(text_of(html))


def _state(ctx: Context) -> dict[str, Any]:
    """The whole catalog as the API shows it (logos included), and how many changes to it the audit trail holds."""
    with ctx.readers() as db:
        return {
            "locations": [
                (location_out(row).model_dump(), row.logo)
                for row in db.scalars(select(LocationRow).order_by(LocationRow.id))
            ],
            "tax_rates": [tax_rate_out(r).model_dump() for r in db.scalars(select(TaxRateRow).order_by(TaxRateRow.id))],
            "accounts": [
                revenue_account_out(r).model_dump()
                for r in db.scalars(select(RevenueAccountRow).order_by(RevenueAccountRow.id))
            ],
            "plans": [plan_out(r).model_dump() for r in db.scalars(select(PlanRow).order_by(PlanRow.id))],
            "audit": db.scalar(select(func.count()).where(AuditRow.entity_type.in_(CATALOG_TABLES))),
        }


def _api(client: TestClient, path: str) -> Any:
    response = client.get(f"/api/v1{path}")
    assert response.status_code == 200, response.text
    return response.json()


def _new_id(response: Any, kind: str) -> str:
    assert response.status_code == 303, response.text[:2000]
    found = re.fullmatch(rf"/admin/catalog/{kind}/([0-9a-f-]{{36}})(/edit)?", response.headers["location"])
    assert found, response.headers["location"]
    return found.group(1)


# --- Reading -----------------------------------------------------------------------------------------------------


def test_the_overview_and_the_lists_show_the_catalog(ctx: Context, cat: Catalog) -> None:
    with ctx.sessions() as db, db.begin():
        make_customer(db, cat)
    page = signed_in_staff(ctx, Role.READ_ONLY)
    overview = _text(page.get("/admin/catalog").text)
    assert "Locations 1" in overview
    assert "Tax rates 2" in overview
    assert "Revenue accounts 2" in overview
    assert "Plans 1" in overview

    locations = _text(page.get("/admin/catalog/locations").text)
    assert "LON space LON GBP Europe/London Before tax LON-{number:04} 1" in locations
    assert "New location" not in locations  # a read-only user is not offered what they may not do
    tax_rates = _text(page.get("/admin/catalog/tax-rates").text)
    assert "No VAT ZERO-LON 0% VAT" in tax_rates
    assert "VAT 20% VAT20-LON 20% VAT" in tax_rates
    assert _text(page.get("/admin/catalog/tax-rates?q=zero").text).count("ZERO-LON") == 1
    assert "VAT20-LON" not in _text(page.get("/admin/catalog/tax-rates?q=zero").text)
    accounts = _text(page.get("/admin/catalog/revenue-accounts").text)
    assert "200-LON Membership fees VAT 20% (20%)" in accounts
    assert "210-LON One-off fees VAT 20% (20%)" in accounts
    assert "No revenue account matches." in _text(page.get("/admin/catalog/revenue-accounts?q=999").text)
    plans = _text(page.get("/admin/catalog/plans").text)
    assert "Hot desk 300.00 month 200-LON · Membership fees 0" in plans

    paged = page.get("/admin/catalog/tax-rates?limit=1").text
    assert "No VAT" in paged
    assert "VAT20-LON" not in paged
    next_page = re.search(r'href="([^"]+)" rel="next"', paged)
    assert next_page
    assert "VAT20-LON" in page.get(unescape(next_page.group(1))).text


def test_what_cannot_change_is_shown_and_explained_not_offered(ctx: Context, cat: Catalog) -> None:
    page = signed_in_staff(ctx)  # an owner: may change everything the use cases can
    pages = [
        f"/admin/catalog/tax-rates/{cat.vat20_id}",
        f"/admin/catalog/revenue-accounts/{cat.memberships_account_id}",
        f"/admin/catalog/plans/{cat.hot_desk_id}",
    ]
    tax_rate, account, plan = (page.get(path).text for path in pages)
    for html in (tax_rate, account, plan):
        assert "<form" not in html.split("</header>", 1)[1]  # nothing to submit but signing out
    assert "Rate 20% Component 1 VAT: 20%" in _text(tax_rate)
    assert "2 revenue accounts as their default" in _text(tax_rate)
    assert "flexbill does not change a tax rate once it is made" in _text(tax_rate)
    assert "Default tax rate VAT 20%" in _text(account)
    assert "1 plan, 0 one-off fees" in _text(account)
    assert "flexbill does not change a revenue account once it is made" in _text(account)
    assert "Price 300.00 in each location's currency" in _text(plan)
    assert "flexbill does not change a plan once it is made" in _text(plan)

    location = page.get(f"/admin/catalog/locations/{cat.location_id}/edit").text
    assert 'name="name"' in location
    assert 'name="code"' not in location
    assert 'name="currency"' not in location
    assert "These are fixed once a location is made" in _text(location)


# --- Locations ---------------------------------------------------------------------------------------------------


def test_an_admin_adds_a_location_with_every_field(ctx: Context, client: TestClient) -> None:
    page = signed_in_staff(ctx, Role.ADMIN)
    form = {
        "name": "Dublin Docklands", "code": "DUB", "currency": "eur", "timezone": "Europe/Dublin",
        "prices_include_tax": "on", "invoice_number_template": "DUB-{number:05}",
        "credit_note_number_template": "DUBCN-{number:05}", "legal_name": "Flex Spaces Ireland Ltd",
        "address": "1 Custom House Quay\nDublin 1", "email": "dublin@flex.test", "phone": "+353 1 555 0100",
        "tax_number": "IE1234567T", "payment_details": "IBAN IE29 AIBK 9311 5212 3456 78",
        "email_sender_name": "Flex Dublin", "email_reply_to": "accounts@flex.test",
    }  # fmt: skip
    added = submit(page, "/admin/catalog/locations/new", "/admin/catalog/locations/new", form)
    location_id = _new_id(added, "locations")
    assert "Dublin Docklands added. Add its logo below." in _text(page.get(added.headers["location"]).text)
    location = _api(client, f"/locations/{location_id}")
    assert location == {
        **form, "id": location_id, "currency": "EUR", "prices_include_tax": True, "has_logo": False,
    }  # fmt: skip

    unticked = {**form, "code": "DUB2", "prices_include_tax": ""}
    del unticked["prices_include_tax"]  # an unticked box is not sent at all
    second = _new_id(
        submit(page, "/admin/catalog/locations/new", "/admin/catalog/locations/new", unticked), "locations"
    )
    assert _api(client, f"/locations/{second}")["prices_include_tax"] is False


def test_a_refused_location_shows_why_and_adds_nothing(ctx: Context, cat: Catalog) -> None:
    page = signed_in_staff(ctx, Role.ADMIN)
    before = _state(ctx)
    new = "/admin/catalog/locations/new"
    form = {
        "name": "Second London", "code": "LON", "currency": "GBP", "timezone": "Europe/London",
        "invoice_number_template": "L2-{number:05}", "credit_note_number_template": "L2CN-{number:05}",
    }  # fmt: skip
    taken = submit(page, new, new, form)
    assert taken.status_code == 409
    assert "Code: a location with code 'LON' already exists" in _text(taken.text)
    assert '<p class="field-error" id="code-error">' in taken.text
    assert 'value="Second London"' in taken.text  # what was typed is kept

    wrong = submit(page, new, new, {**form, "code": "L2", "currency": "pounds", "timezone": "London"})
    assert wrong.status_code == 422
    shown = _text(wrong.text)
    assert "Currency: a currency is a 3-letter ISO 4217 code such as GBP, not 'POUNDS'" in shown
    assert "Time zone: 'London' is not an IANA time zone such as Europe/London" in shown
    assert 'id="currency-error"' in wrong.text
    assert 'id="timezone-error"' in wrong.text

    numbering = submit(page, new, new, {**form, "code": "L2", "invoice_number_template": "L2-{count}"})
    assert numbering.status_code == 422
    assert 'id="invoice_number_template-error"' in numbering.text
    assert _state(ctx) == before


def test_an_admin_changes_what_a_locations_invoices_say(ctx: Context, cat: Catalog, client: TestClient) -> None:
    page = signed_in_staff(ctx, Role.ADMIN)
    edit = f"/admin/catalog/locations/{cat.location_id}/edit"
    form = {
        "name": "London Bridge", "legal_name": "Flex Spaces Ltd", "address": "2 Tooley St\nLondon SE1",
        "email": "london@flex.test", "phone": "020 7946 0000", "tax_number": "GB999",
        "payment_details": "Sort code 00-00-00", "email_sender_name": "Flex London", "email_reply_to": "",
    }  # fmt: skip
    saved = submit(page, edit, edit, form)
    assert saved.status_code == 303
    assert "Location saved." in _text(page.get(saved.headers["location"]).text)
    location = _api(client, f"/locations/{cat.location_id}")
    assert {name: location[name] for name in form} == {**form, "email_reply_to": None}
    assert (location["code"], location["currency"]) == ("LON", "GBP")

    cleared = submit(page, edit, edit, {**form, "phone": "", "address": ""})
    assert cleared.status_code == 303
    location = _api(client, f"/locations/{cat.location_id}")
    assert (location["phone"], location["address"]) == (None, "")  # a field emptied on the form is cleared

    before = _state(ctx)
    refused = submit(page, edit, edit, {**form, "email": "not an email", "name": ""})
    assert refused.status_code == 422
    shown = _text(refused.text)
    assert "Email: 'not an email' is not an email address such as billing@example.com" in shown
    assert 'value="not an email"' in refused.text
    assert 'id="email-error"' in refused.text
    unnamed = submit(page, edit, edit, {**form, "name": ""})
    assert unnamed.status_code == 422
    assert "Name: a location must have a name" in _text(unnamed.text)
    assert _state(ctx) == before


def test_an_admin_uploads_and_removes_a_logo(ctx: Context, cat: Catalog, client: TestClient) -> None:
    page = signed_in_staff(ctx, Role.ADMIN)
    edit = f"/admin/catalog/locations/{cat.location_id}/edit"
    logo = f"/admin/catalog/locations/{cat.location_id}/logo"
    assert "No logo yet" in _text(page.get(edit).text)

    uploaded = page.post(
        logo, data={"csrf_token": csrf_token(page, edit)}, files={"logo": ("logo.png", PNG, "image/png")}
    )
    assert uploaded.status_code == 303
    assert "Logo saved." in _text(page.get(uploaded.headers["location"]).text)
    assert _api(client, f"/locations/{cat.location_id}")["has_logo"] is True
    served = page.get(logo)
    assert (served.status_code, served.content, served.headers["content-type"]) == (200, PNG, "image/png")
    assert "sandbox" in served.headers["content-security-policy"]  # an SVG opened on its own runs nothing
    assert f'src="{logo}"' in page.get(edit).text

    before = _state(ctx)
    not_png = page.post(
        logo, data={"csrf_token": csrf_token(page, edit)}, files={"logo": ("logo.png", b"GIF89a...", "image/png")}
    )
    assert not_png.status_code == 422
    assert "Logo: the uploaded file is not a image/png image" in _text(not_png.text)
    assert '<p class="field-error" id="logo-error">' in not_png.text
    gif = page.post(
        logo, data={"csrf_token": csrf_token(page, edit)}, files={"logo": ("a.gif", b"GIF89a", "image/gif")}
    )
    assert gif.status_code == 422
    assert "a logo must be one of image/png, image/jpeg, image/svg+xml, not image/gif" in _text(gif.text)
    empty = page.post(logo, data={"csrf_token": csrf_token(page, edit)}, files={"logo": ("", b"", "image/png")})
    assert empty.status_code == 422
    assert "choose a PNG, JPEG or SVG file first" in _text(empty.text)
    assert _state(ctx) == before  # the logo shown before is kept

    removed = submit(page, edit, logo, {"remove": "1"})
    assert removed.status_code == 303
    assert "Logo removed." in _text(page.get(removed.headers["location"]).text)
    assert _api(client, f"/locations/{cat.location_id}")["has_logo"] is False
    assert page.get(logo).status_code == 404


# --- Tax rates, revenue accounts, plans --------------------------------------------------------------------------


def test_an_admin_adds_a_tax_rate_of_several_components(ctx: Context, client: TestClient) -> None:
    page = signed_in_staff(ctx, Role.ADMIN)
    new = "/admin/catalog/tax-rates/new"
    form = {
        "name": "GST + PST", "code": "BC-12", "components.0.name": "GST", "components.0.rate": "5",
        "components.2.name": "PST", "components.2.rate": "7",  # the row between left empty
    }  # fmt: skip
    tax_rate_id = _new_id(submit(page, new, new, form), "tax-rates")
    tax_rate = _api(client, f"/tax-rates/{tax_rate_id}")
    assert tax_rate == {
        "id": tax_rate_id, "name": "GST + PST", "code": "BC-12", "rate": "12",
        "components": [{"name": "GST", "rate": "5"}, {"name": "PST", "rate": "7"}],
    }  # fmt: skip
    assert "Rate 12% Component 1 GST: 5% Component 2 PST: 7%" in _text(
        page.get(f"/admin/catalog/tax-rates/{tax_rate_id}").text
    )


def test_a_refused_tax_rate_names_the_row_and_adds_nothing(ctx: Context, cat: Catalog) -> None:
    page = signed_in_staff(ctx, Role.ADMIN)
    before = _state(ctx)
    new = "/admin/catalog/tax-rates/new"
    form = {"name": "Odd", "code": "ODD", "components.0.name": "A", "components.0.rate": "5"}
    too_high = submit(page, new, new, {**form, "components.3.name": "B", "components.3.rate": "150"})
    assert too_high.status_code == 422
    assert "Component 4 rate: Input should be less than or equal to 100" in _text(too_high.text)
    assert '<p class="field-error" id="components.3.rate-error">' in too_high.text
    assert 'value="150"' in too_high.text

    nameless = submit(page, new, new, {**form, "components.1.rate": "2"})
    assert nameless.status_code == 422
    assert 'id="components.1.name-error"' in nameless.text

    none = submit(page, new, new, {"name": "Empty", "code": "EMPTY"})
    assert none.status_code == 422
    assert '<p class="field-error" id="components-error">' in none.text

    taken = submit(page, new, new, {**form, "code": "VAT20-LON"})
    assert taken.status_code == 409
    assert "Code: a tax rate with code 'VAT20-LON' already exists" in _text(taken.text)
    assert _state(ctx) == before


def test_an_admin_adds_a_revenue_account_and_a_plan(ctx: Context, cat: Catalog, client: TestClient) -> None:
    page = signed_in_staff(ctx, Role.ADMIN)
    new = "/admin/catalog/revenue-accounts/new"
    form = {"name": "Office rent", "code": "220", "tax_rate_id": str(cat.zero_id)}
    account_id = _new_id(submit(page, new, new, form), "revenue-accounts")
    assert _api(client, f"/revenue-accounts/{account_id}") == {**form, "id": account_id}

    new = "/admin/catalog/plans/new"
    assert 'value="first_invoice" selected' in page.get(new).text
    plan_form = {
        "name": "Private office for 4", "price": "2400.50", "currency": "gbp", "interval_months": "3",
        "revenue_account_id": account_id, "proration": "none",
    }  # fmt: skip
    plan_id = _new_id(submit(page, new, new, plan_form), "plans")
    assert _api(client, f"/plans/{plan_id}") == {**plan_form, "id": plan_id, "currency": "GBP", "interval_months": 3}
    shown = _text(page.get(f"/admin/catalog/plans/{plan_id}").text)
    assert "Price £2,400.50 Billed every 3 months, in advance" in shown
    assert "Not prorated" in shown
    assert "Private office for 4 £2,400.50 3 months 220 · Office rent 0" in _text(page.get("/admin/catalog/plans").text)


def test_a_refused_revenue_account_or_plan_shows_why_and_adds_nothing(ctx: Context, cat: Catalog) -> None:
    page = signed_in_staff(ctx, Role.ADMIN)
    before = _state(ctx)
    new = "/admin/catalog/revenue-accounts/new"
    taken = submit(page, new, new, {"name": "Again", "code": "200-LON", "tax_rate_id": str(cat.vat20_id)})
    assert taken.status_code == 409
    assert "Code: a revenue account with code '200-LON' already exists" in _text(taken.text)
    no_rate = submit(page, new, new, {"name": "Rent", "code": "220"})
    assert no_rate.status_code == 422
    assert "Default tax rate: is required" in _text(no_rate.text)
    assert 'id="tax_rate_id-error"' in no_rate.text

    new = "/admin/catalog/plans/new"
    plan = {
        "name": "Cheap", "price": "-1", "interval_months": "0", "revenue_account_id": str(cat.memberships_account_id),
        "proration": "first_invoice",
    }  # fmt: skip
    refused = submit(page, new, new, plan)
    assert refused.status_code == 422
    shown = _text(refused.text)
    assert "Price per period: must not be negative" in shown
    assert "Billing period: Input should be greater than or equal to 1" in shown
    assert 'id="price-error"' in refused.text
    assert 'id="interval_months-error"' in refused.text
    unknown = submit(
        page, new, new, {**plan, "price": "10", "interval_months": "1", "revenue_account_id": str(uuid.UUID(int=9))}
    )
    assert unknown.status_code == 404
    assert 'id="revenue_account_id-error"' in unknown.text
    assert _state(ctx) == before


# --- Who may do what ---------------------------------------------------------------------------------------------


def _every_change(cat: Catalog) -> list[tuple[str, str, dict[str, str]]]:
    """(a page holding a form, where it posts, what it sends) for every form of the catalog's pages."""
    edit = f"/admin/catalog/locations/{cat.location_id}/edit"
    return [
        (
            "/admin/catalog/locations",
            "/admin/catalog/locations/new",
            {"name": "New", "code": "NEW", "currency": "GBP", "timezone": "UTC"},
        ),
        (edit, edit, {"name": "Renamed"}),
        (edit, f"/admin/catalog/locations/{cat.location_id}/logo", {"remove": "1"}),
        (
            "/admin/catalog/tax-rates",
            "/admin/catalog/tax-rates/new",
            {"name": "T", "code": "T", "components.0.name": "T", "components.0.rate": "1"},
        ),
        (
            "/admin/catalog/revenue-accounts",
            "/admin/catalog/revenue-accounts/new",
            {"name": "R", "code": "R", "tax_rate_id": str(cat.vat20_id)},
        ),
        (
            "/admin/catalog/plans",
            "/admin/catalog/plans/new",
            {"name": "P", "price": "1", "revenue_account_id": str(cat.memberships_account_id)},
        ),
    ]


def test_read_only_and_billing_users_are_refused_every_change(ctx: Context, cat: Catalog) -> None:
    with ctx.sessions() as db, db.begin():
        set_location_logo(db, cat.location_id, PNG, "image/png")
    before = _state(ctx)
    for role in (Role.READ_ONLY, Role.BILLING):
        page = signed_in_staff(ctx, role)
        listed = _text(page.get("/admin/catalog/plans").text)
        assert "New plan" not in listed  # not offered
        assert "Upload logo" not in _text(page.get(f"/admin/catalog/locations/{cat.location_id}/edit").text)
        for holder, action, data in _every_change(cat):
            refused = submit(page, holder, action, data)
            assert refused.status_code == 403, (role, action)
            assert f"your role ({role.label}) does not allow this" in _text(refused.text)
        logo = f"/admin/catalog/locations/{cat.location_id}/logo"
        edit = f"/admin/catalog/locations/{cat.location_id}/edit"
        upload = page.post(
            logo, data={"csrf_token": csrf_token(page, edit)}, files={"logo": ("l.png", PNG, "image/png")}
        )
        assert upload.status_code == 403
    assert _state(ctx) == before


def test_without_signing_in_every_page_and_form_leads_to_sign_in(ctx: Context, cat: Catalog) -> None:
    stranger = browser(ctx)
    for path in (
        "/admin/catalog",
        "/admin/catalog/plans",
        f"/admin/catalog/locations/{cat.location_id}/edit",
        f"/admin/catalog/locations/{cat.location_id}/logo",
        f"/admin/catalog/tax-rates/{cat.vat20_id}",
    ):
        response = stranger.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/admin/sign-in?next=/admin/catalog")
    before = _state(ctx)
    for _holder, action, data in _every_change(cat):
        response = stranger.post(action, data=data)
        assert response.status_code == 303, action
        assert response.headers["location"] == f"/admin/sign-in?next={action}"
    assert _state(ctx) == before


def test_a_forged_form_is_refused_and_changes_nothing(ctx: Context, cat: Catalog) -> None:
    page = signed_in_staff(ctx)
    page.get("/admin/catalog")  # the browser holds its CSRF cookie
    before = _state(ctx)
    for _holder, action, data in _every_change(cat):
        forged = page.post(action, data={**data, "csrf_token": "0" * 64})
        assert forged.status_code == 403, action
        assert "Form expired" in _text(forged.text)
    logo = f"/admin/catalog/locations/{cat.location_id}/logo"
    forged = page.post(logo, data={"csrf_token": "0" * 64}, files={"logo": ("l.png", PNG, "image/png")})
    assert forged.status_code == 403
    assert _state(ctx) == before
